"""Tree attention: every frontier row of a prompt as tokens of ONE sequence over ONE prompt cache.

:class:`~marginal_generate.decoding.stepper.CachedStepper` gives each row its own copy of the
prompt's KV cache. Here the cache keeps one row per *prompt*: the prompt, then a slot for every
tree token generated so far. At each depth the new tokens of all rows of a prompt go in as one
sequence of ``W`` tokens (``W`` = the widest frontier in the batch), with

- an additive float 4D mask ``[batch, 1, W, cache + W]``: a token sees its prompt (not the
  padding), its ancestors' slots and itself; padding queries see only themselves;
- explicit ``position_ids``: prompt length + depth - 1 for every token of a depth.

Slots no live row descends from are dropped (the generated part of the cache is compacted)
when they make up half of it. The prompt cache is stored and read once per depth whatever
the frontier width, which is what makes ``any_place`` cost about one greedy decode on a GPU.

The mask and the attention scores grow with frontier x (prompt + tree): at ``eps=0`` a frontier
of 7,496 rows over 18,000 cached tokens needs gigabytes for them where the batched cache needs
far less. Past ``attention_bytes`` (default :data:`ATTENTION_BYTES`) a depth's tokens go in as
several forwards of consecutive slots, each over the cache the previous ones extended: every
query sees exactly the keys it saw in one forward (same-depth slots are never visible), so the
logits are the same, and ``chunked_steps`` / ``most_chunks`` record that it happened.

Needs an attention that takes a float 4D mask (``sdpa`` or ``eager``) and a cache of full
attention layers; :func:`supports_tree_attention` tells.
"""

from __future__ import annotations

from typing import Any

import torch

from .stepper import CachedStepper, cache_argument, cache_token_bytes

__all__ = [
    "TreeAttentionStepper",
    "supports_tree_attention",
    "tree_attention_obstacle",
    "ATTENTION_BYTES",
    "COMPACTION_BYTES",
]

#: The most bytes one forward's tree mask and attention scores may take before a depth is fed in chunks.
ATTENTION_BYTES = 10**9
#: Bytes per (row, tree slot) of a compaction of the bookkeeping of which slots each row descends from (the boolean
#: matrix, its int64 gather index and masks); the next depth's matrix and its gather take 2.
COMPACTION_BYTES = 11


def supports_tree_attention(model: Any) -> bool:
    """True for models whose attention takes a float 4D mask and whose cache layers all attend fully."""
    return tree_attention_obstacle(model) is None


def tree_attention_obstacle(model: Any) -> str | None:
    """Why tree attention cannot serve ``model`` (None when it can): its attention implementation, or
    layers that do not attend to the whole cache (sliding-window, Llama 4's chunked attention).

    >>> from marginal_generate.testing import word_level_tokenizer, tiny_llama
    >>> tree_attention_obstacle(tiny_llama(word_level_tokenizer(["a"]))) is None
    True
    """
    config = getattr(model, "config", None)
    if config is None:
        return "it has no config"
    implementation = getattr(config, "_attn_implementation", None)
    if implementation not in ("sdpa", "eager"):
        return f"its attention implementation is {implementation!r}, which takes no float 4D mask"
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layer_types = getattr(text, "layer_types", None)
    if layer_types is not None and any(t != "full_attention" for t in layer_types):
        kinds = sorted({t for t in layer_types if t != "full_attention"})
        return f"its layers include {', '.join(kinds)} ones, which do not attend to the whole cache"
    if getattr(text, "sliding_window", None) is not None:
        return "it has sliding-window attention"
    if getattr(text, "is_encoder_decoder", False):
        return "it is an encoder-decoder"
    return None


class TreeAttentionStepper(CachedStepper):
    """A :class:`CachedStepper` whose rows share their prompt's cache row through a tree mask.

    ``budget_hint`` is what the search's budget error suggests when this stepper's part dominates the estimate.

    Args:
        model, input_ids, attention_mask, model_kwargs: as for :class:`CachedStepper`.
        attention_bytes: the most bytes the tree mask and the attention scores of one forward may take (an
            estimate, :meth:`query_bytes` per query); a wider depth goes in as several forwards. None:
            :data:`ATTENTION_BYTES`.
    """

    def __init__(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        attention_bytes: int | None = None,
        **model_kwargs: Any,
    ) -> None:
        super().__init__(model, input_ids, attention_mask, **model_kwargs)
        self.budget_hint = "use attention='batched' (tree attention keeps a frontier x tree slots matrix)"
        attention_bytes = ATTENTION_BYTES if attention_bytes is None else attention_bytes
        if not isinstance(attention_bytes, int) or attention_bytes < 1:
            raise ValueError(f"`attention_bytes` must be an integer >= 1, got {attention_bytes!r}.")
        self.attention_bytes = attention_bytes
        config = getattr(model, "config", None)
        self._heads = int(getattr(config, "num_attention_heads", None) or 1)
        self.chunked_steps = 0
        self.most_chunks = 1

    slot_rows = False  # one cache row per prompt, compacted here

    def prefill(self) -> torch.Tensor:
        logits = super().prefill()
        device = self.input_ids.device
        self.prompt_width = self.input_ids.shape[1]
        self.slot_valid = torch.zeros((self.batch_size, 0), dtype=torch.bool, device=device)
        self.ancestors = torch.zeros((self.batch_size, 0), dtype=torch.bool, device=device)
        self.compactions = 0
        return logits

    def query_bytes(self, keys: int) -> int:
        """Estimated bytes one query slot of a forward costs over ``keys`` cached tokens, for the whole batch: its
        row of the float mask and of the boolean mask it is built from, and of the attention scores and
        probabilities of every head (float32).

        >>> from marginal_generate.testing import word_level_tokenizer, tiny_llama
        >>> model = tiny_llama(word_level_tokenizer(["a"]))
        >>> stepper = TreeAttentionStepper(model, torch.ones((2, 3), dtype=torch.long))
        >>> stepper.query_bytes(100) == 2 * 100 * (4 + 1 + 8 * model.config.num_attention_heads)
        True
        """
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        mask_bytes = torch.finfo(dtype).bits // 8 + 1
        return self.batch_size * keys * (mask_bytes + 8 * self._heads)

    def cache_bytes(self, rows_per_prompt: list[int]) -> int:
        """The cache of a step with these rows (one row per prompt: prompt, tree slots and the new ones), the
        attention inputs of its forwards (at most ``attention_bytes`` at a time) and which slots each row descends
        from: a boolean per row and slot, so quadratic in a prompt's frontier (810,000 rows take 680 GB of it, where
        the batched cache needs a few)."""
        taken = self.slot_valid.shape[1] if hasattr(self, "slot_valid") else 0
        width = max(rows_per_prompt, default=0)
        keys = self.input_ids.shape[1] + taken + width
        attention = min(width * self.query_bytes(keys), self.attention_bytes)
        ancestry = 2 * sum(rows_per_prompt) * (taken + width) + COMPACTION_BYTES * self.rows.numel() * taken
        return self.batch_size * keys * cache_token_bytes(self.cache) + attention + ancestry

    def step(self, parents: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        assert self.cache is not None, "prefill() must run before step()"
        device = self.rows.device
        parents, tokens = parents.to(device), tokens.to(device)
        rows = self.rows[parents]
        ancestors = self.ancestors[parents]
        self._maybe_compact(rows, ancestors)
        ancestors = self.ancestors[parents]
        self.rows = rows
        self.generated = torch.cat([self.generated[parents], tokens[:, None]], dim=1)
        depth = self.generated.shape[1]

        n, batch, taken = tokens.shape[0], self.batch_size, self.slot_valid.shape[1]
        slots = _rank_within_group(rows, batch)
        width = int(torch.bincount(rows, minlength=batch).max())
        ancestors = torch.cat([ancestors, ancestors.new_zeros((n, width))], dim=1)
        ancestors[torch.arange(n, device=device), taken + slots] = True
        self.slot_valid = torch.cat([self.slot_valid, self.slot_valid.new_zeros((batch, width))], dim=1)
        self.slot_valid[rows, taken + slots] = True
        self.ancestors = ancestors

        input_ids = tokens.new_zeros((batch, width))
        input_ids[rows, slots] = tokens
        position_ids = tokens.new_zeros((batch, width))
        position_ids[rows, slots] = self.prompt_lengths[rows] + depth - 1

        # consecutive slots per forward, so that one forward's mask and scores stay under attention_bytes
        chunk = max(1, self.attention_bytes // self.query_bytes(self.prompt_width + taken + width))
        logits: torch.Tensor | None = None
        for start in range(0, width, chunk):
            stop = min(width, start + chunk)
            out = self.model(
                input_ids=input_ids[:, start:stop],
                attention_mask=self._mask(rows, slots, ancestors, taken, start, stop)[:, None],
                position_ids=position_ids[:, start:stop],
                use_cache=True,
                **cache_argument(self.model, self.cache),
                **self.model_kwargs,
            )
            self.forward_passes += 1
            inside = (slots >= start) & (slots < stop)
            part = out.logits[rows[inside], slots[inside] - start]
            if logits is None:
                logits = part.new_empty((n, part.shape[-1]))
            logits[inside] = part
        chunks = -(-width // chunk)
        if chunks > 1:
            self.chunked_steps += 1
            self.most_chunks = max(self.most_chunks, chunks)
        assert logits is not None
        return logits

    def _mask(
        self, rows: torch.Tensor, slots: torch.Tensor, ancestors: torch.Tensor, taken: int, start: int, stop: int
    ) -> torch.Tensor:
        """The additive float mask ``[batch, stop - start, prompt + taken + stop]`` of the query slots
        ``start:stop``: a token sees its prompt (not the padding), its ancestors' slots and itself; a padding query
        sees itself only."""
        device = rows.device
        width = stop - start
        visible = torch.zeros(
            (self.batch_size, width, self.prompt_width + taken + stop), dtype=torch.bool, device=device
        )
        own = torch.arange(width, device=device)
        visible[:, own, self.prompt_width + taken + start + own] = True
        inside = (slots >= start) & (slots < stop)
        at, query = rows[inside], slots[inside] - start
        visible[at, query, : self.prompt_width] = self.prompt_mask[at].bool()
        visible[at, query, self.prompt_width :] = ancestors[inside, : taken + stop]
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        return torch.zeros(visible.shape, dtype=dtype, device=device).masked_fill_(~visible, torch.finfo(dtype).min)

    def _maybe_compact(self, rows: torch.Tensor, ancestors: torch.Tensor) -> None:
        """Drop generated slots that no continuing row descends from, once they are half of them."""
        batch, taken = self.slot_valid.shape
        if taken == 0:
            return
        needed = torch.zeros((batch, taken), dtype=torch.bool, device=rows.device)
        for b in range(batch):  # one prompt's rows at a time: no [rows, taken] copy wider than a bool
            needed[b] = ancestors[rows == b].any(0)
        counts = needed.sum(1)
        keep = int(counts.max())
        if keep * 2 > taken:
            return
        positions = torch.arange(taken, device=rows.device)
        order = torch.argsort(torch.where(needed, positions, positions + taken), dim=1)[:, :keep]
        valid = positions[:keep][None, :] < counts[:, None]
        for layer in self.cache.layers:
            layer.keys = _gather_generated(layer.keys, order, self.prompt_width)
            layer.values = _gather_generated(layer.values, order, self.prompt_width)
        self.ancestors = self.ancestors.gather(1, order[self.rows]) & valid[self.rows]
        self.slot_valid = valid
        self.compactions += 1


def _gather_generated(states: torch.Tensor, order: torch.Tensor, prompt_width: int) -> torch.Tensor:
    prompt, generated = states[:, :, :prompt_width], states[:, :, prompt_width:]
    index = order[:, None, :, None].expand(-1, generated.shape[1], -1, generated.shape[3])
    return torch.cat([prompt, generated.gather(2, index)], dim=2)


def _rank_within_group(groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Position of each element among the elements of its group, in order.

    >>> _rank_within_group(torch.tensor([1, 0, 1, 1, 0]), 2).tolist()
    [0, 0, 1, 2, 1]
    """
    order = torch.argsort(groups, stable=True)
    starts = torch.cumsum(torch.bincount(groups, minlength=n_groups), 0) - torch.bincount(groups, minlength=n_groups)
    ranks = torch.empty_like(groups)
    ranks[order] = torch.arange(groups.numel(), device=groups.device) - starts[groups[order]]
    return ranks
