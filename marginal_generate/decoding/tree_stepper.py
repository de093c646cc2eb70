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

Needs an attention that takes a float 4D mask (``sdpa`` or ``eager``) and a cache of full
attention layers; :func:`supports_tree_attention` tells.
"""

from __future__ import annotations

from typing import Any

import torch

from .stepper import CachedStepper, cache_argument

__all__ = ["TreeAttentionStepper", "supports_tree_attention", "tree_attention_obstacle"]


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
    """A :class:`CachedStepper` whose rows share their prompt's cache row through a tree mask."""

    def prefill(self) -> torch.Tensor:
        logits = super().prefill()
        device = self.input_ids.device
        self.prompt_width = self.input_ids.shape[1]
        self.slot_valid = torch.zeros((self.batch_size, 0), dtype=torch.bool, device=device)
        self.ancestors = torch.zeros((self.batch_size, 0), dtype=torch.bool, device=device)
        self.compactions = 0
        return logits

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
        visible = torch.zeros((batch, width, self.prompt_width + taken + width), dtype=torch.bool, device=device)
        own = torch.arange(width, device=device)
        visible[:, own, self.prompt_width + taken + own] = True  # padding queries see themselves only
        visible[rows, slots, : self.prompt_width] = self.prompt_mask[rows].bool()
        visible[rows, slots, self.prompt_width :] = ancestors
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        mask = torch.zeros(visible.shape, dtype=dtype, device=device).masked_fill_(~visible, torch.finfo(dtype).min)

        out = self.model(
            input_ids=input_ids,
            attention_mask=mask[:, None],
            position_ids=position_ids,
            use_cache=True,
            **cache_argument(self.model, self.cache),
            **self.model_kwargs,
        )
        self.forward_passes += 1
        return out.logits[rows, slots]

    def _maybe_compact(self, rows: torch.Tensor, ancestors: torch.Tensor) -> None:
        """Drop generated slots that no continuing row descends from, once they are half of them."""
        batch, taken = self.slot_valid.shape
        if taken == 0:
            return
        needed = torch.zeros((batch, taken), dtype=torch.float32, device=rows.device)
        needed.index_add_(0, rows, ancestors.float())
        needed = needed > 0
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
