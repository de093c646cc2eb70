"""The training loss on packed rows (:func:`training.encoding.pack`): cross-entropy against target sets, an
unlikelihood term on repeated ids, and per-token loss weights."""

from __future__ import annotations

import torch

from marginal_generate.decoding.stepper import cache_argument, returned_cache


def packed_loss(
    model,
    rows: list,
    pad_id: int,
    reduction: str = "mean",
    avoid_weight: float = 0.0,
    weigh: bool = False,
):
    """Cross-entropy (against target sets) on the answer tokens of packed rows, plus ``avoid_weight`` times the
    unlikelihood ``-log(1 - p)`` of every token a position must avoid (Welleck et al. 2019, arXiv 1908.04319).
    With ``weigh`` (training, not validation), each answer token's cross-entropy is multiplied by its loss weight
    (see ``Encoder``).

    The batch's common prefix (the template's first tokens) is computed once and broadcast; each
    branch sees its conversation's prefix and itself (a float 4D mask), so a conversation is encoded
    once for all its prompts."""
    width = max(len(r[0]) for r in rows)
    n = len(rows)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    seg = torch.full((n, width), -1, dtype=torch.long)
    pos = torch.zeros((n, width), dtype=torch.long)
    for b, (i, s, p, _) in enumerate(rows):
        ids[b, : len(i)], seg[b, : len(s)], pos[b, : len(p)] = torch.tensor(i), torch.tensor(s), torch.tensor(p)
    same = (ids == ids[:1]).all(0) & (seg == 0).all(0)
    common = int(same.long().cumprod(0).sum())
    common = max(0, min(common, min(len(r[0]) for r in rows) - 1))
    past = None
    if common > 0:
        past = returned_cache(model.model(input_ids=ids[:1, :common], use_cache=True), None)
        for layer in past.layers:
            layer.keys = layer.keys.expand(n, -1, -1, -1)
            layer.values = layer.values.expand(n, -1, -1, -1)
    q = seg[:, common:]
    causal = torch.arange(width)[None, :] <= torch.arange(common, width)[:, None]
    visible = causal[None] & ((seg[:, None, :] == 0) | (seg[:, None, :] == q[:, :, None])) & (seg[:, None, :] >= 0)
    own = torch.arange(width - common)
    visible[:, own, common + own] |= q == -1  # padding queries see themselves only
    mask = torch.zeros(visible.shape, dtype=torch.float32).masked_fill_(~visible, torch.finfo(torch.float32).min)
    hidden = model.model(
        input_ids=ids[:, common:],
        attention_mask=mask[:, None],
        position_ids=pos[:, common:],
        **cache_argument(model.model, past),
        use_cache=common > 0,
    ).last_hidden_state
    rows_idx, cols, sets, shun, weights = [], [], [], [], []
    for b, r in enumerate(rows):
        for position, target, avoid, weight in r[3]:
            rows_idx.append(b), cols.append(position - common), sets.append(target), shun.append(avoid)
            weights.append(weight)
    width_t = max(len(t) for t in sets)
    tgt = torch.tensor([t + [t[0]] * (width_t - len(t)) for t in sets])
    keep = torch.tensor([[1.0] * len(t) + [0.0] * (width_t - len(t)) for t in sets])
    logp = torch.log_softmax(model.lm_head(hidden[torch.tensor(rows_idx), torch.tensor(cols)]).float(), dim=-1)
    losses = -(logp.gather(1, tgt) * keep).sum(1) / keep.sum(1)
    if weigh:
        losses = losses * torch.tensor(weights)
    pairs = [(k, t) for k, avoid in enumerate(shun) for t in avoid]
    if avoid_weight and pairs:
        at, token = torch.tensor(pairs).T
        p = logp[at, token].exp().clamp(max=1 - 1e-6)
        losses = losses.index_add(0, at, -avoid_weight * torch.log1p(-p))
    return losses.sum() if reduction == "sum" else losses.mean()
