"""One batched forward per depth over a set of decoding rows that share their prompts' KV cache.

A *row* is one partial completion of one prompt. :class:`CachedStepper` runs the prompts once
(prefill), then at every depth takes the rows to continue as ``(parent row, next token)``
pairs: it gathers the parents' cache rows (a row may be continued by several children, or by
none) and runs a single forward of one new token per row. This is the batched-cache form of
the tree search; the rows of one prompt hold copies of its prompt cache. Where the cache is made of plain
full-attention layers, a depth moves only the cache rows whose content changes
(:mod:`~marginal_generate.decoding.row_slots`) instead of gathering the whole cache by ``reorder_cache``.

The interface is what the search loop needs and nothing more, so tests can drive the loop
with a stepper that has no model at all (see ``tests/test_search_driver.py``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Protocol

import torch
from transformers import DynamicCache

from .row_slots import RowSlots, adopt_slots

__all__ = ["Stepper", "CachedStepper", "cache_argument", "returned_cache", "cache_token_bytes"]


@functools.lru_cache(maxsize=None)
def _cache_name(forward_class: type) -> str:
    try:
        parameters = inspect.signature(forward_class.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"


def cache_argument(model: Any, cache: Any) -> dict[str, Any]:
    """The forward's keyword for a KV cache: ``cache`` where the model's ``forward`` names it (transformers
    5.2x, where ``past_key_values`` is deprecated and warns), else ``past_key_values`` (earlier releases,
    custom models).

    >>> from marginal_generate.testing import byte_level_tokenizer, tiny_llama
    >>> list(cache_argument(tiny_llama(byte_level_tokenizer()), None))
    ['cache']
    """
    return {_cache_name(type(model)): cache}


def returned_cache(out: Any, fallback: Any) -> Any:
    """The cache a forward returned (``out.cache``, or ``out.past_key_values`` before the rename), else ``fallback``
    (the cache passed in, which a :class:`~transformers.DynamicCache` updates in place); reads neither deprecated name
    when the new one is there."""
    for name in ("cache", "past_key_values"):
        keys = out.keys() if hasattr(out, "keys") else ()
        if name in keys and out[name] is not None:
            return out[name]
    return fallback


def cache_token_bytes(cache: Any) -> int:
    """Bytes per cached token of ``cache``: its keys and values in every layer over the rows x length of its
    first layer; 0 for a cache whose layers it cannot read.

    >>> from transformers import DynamicCache
    >>> cache = DynamicCache()
    >>> _ = cache.update(torch.zeros(2, 4, 3, 16), torch.zeros(2, 4, 3, 16), 0)  # 2 rows, 4 heads, 3 tokens, dim 16
    >>> cache_token_bytes(cache)  # keys and values: 2 x 4 heads x 16 dims x 4 bytes
    512
    """
    total, tokens = 0, 0
    for layer in getattr(cache, "layers", ()):
        for states in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(states, torch.Tensor) and states.ndim == 4:
                total += states.numel() * states.element_size()
                tokens = tokens or states.shape[0] * states.shape[2]
    return total // tokens if tokens else 0


class Stepper(Protocol):
    """What the search loop calls: next-token logits for the prompts, then for each new row."""

    batch_size: int
    forward_passes: int

    def prefill(self) -> torch.Tensor:
        """Logits ``[batch, vocab]`` for the first generated token of each prompt."""
        ...

    def step(self, parents: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Continue row ``parents[i]`` with ``tokens[i]``; logits ``[len(tokens), vocab]`` of the next token."""
        ...

    def sequences(self) -> torch.Tensor:
        """Prompt plus generated ids of every current row (for logits processors)."""
        ...

    # Optional: ``cache_bytes(rows_per_prompt: list[int]) -> int``, the bytes of the KV cache (and attention inputs)
    # for a step with that many rows of each prompt; the search's budget counts 0 for a stepper without it.


class CachedStepper:
    """Drives a causal LM over left-padded prompts with a :class:`~transformers.DynamicCache`.

    Args:
        model: a causal LM (``LlamaForCausalLM`` or any model taking a KV cache (:func:`cache_argument`),
            ``attention_mask`` and ``position_ids``).
        input_ids: ``[batch, prompt_len]``, left-padded.
        attention_mask: ``[batch, prompt_len]`` with 0 on padding, or None for no padding.
        model_kwargs: extra inputs for the forward (passed through unchanged).
    """

    def __init__(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **model_kwargs: Any,
    ) -> None:
        self.model = model
        self.input_ids = input_ids
        self.batch_size = input_ids.shape[0]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        self.prompt_mask = attention_mask.to(dtype=torch.long, device=input_ids.device)
        self.prompt_lengths = self.prompt_mask.sum(-1)
        self.model_kwargs = model_kwargs
        self.forward_passes = 0
        self.rows = torch.arange(self.batch_size, device=input_ids.device)
        self.generated = input_ids.new_empty((self.batch_size, 0))
        self.cache: DynamicCache | None = None
        self.slots: RowSlots | None = None  # set after the prefill where the cache's layers take slot moves
        self._padded: list[bool] | None = None  # per prompt, where the 4D mask may be given (sdpa)

    def prefill(self) -> torch.Tensor:
        position_ids = (self.prompt_mask.cumsum(-1) - 1).clamp(min=0)
        self.cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=self.input_ids,
            attention_mask=self.prompt_mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **cache_argument(self.model, self.cache),
            **self.model_kwargs,
        )
        self.forward_passes += 1
        self.cache = returned_cache(out, self.cache)
        self._adopt_slots()
        return out.logits[:, -1]

    #: Whether the rows' cache may be kept in slots (:mod:`~marginal_generate.decoding.row_slots`).
    slot_rows = True

    def _adopt_slots(self) -> None:
        """After the prefill: keep the rows in slots where the cache allows it (else ``step`` reorders it)."""
        if self.slot_rows and adopt_slots(self.cache):
            self.slots = RowSlots(self.batch_size, self.input_ids.shape[1], self.input_ids.device)
            from .tree_stepper import tree_attention_obstacle  # it builds on this module

            # sdpa takes the padding as a boolean 4D mask (True: attend), the mask transformers builds from the 2D
            # one; given as is, the forward skips building it. Where no row has padding transformers builds none (and
            # sdpa takes another path), so the 2D mask stays.
            if getattr(self.model.config, "_attn_implementation", None) == "sdpa" and not tree_attention_obstacle(
                self.model
            ):
                self._padded = (self.prompt_mask == 0).any(-1).tolist()
                self._visible = self.prompt_mask.bool()

    def cache_bytes(self, rows_per_prompt: list[int]) -> int:
        """The KV cache of a step with these rows: each row a copy of its prompt and its generated tokens."""
        length = self.input_ids.shape[1] + self.generated.shape[1] + 1
        return sum(rows_per_prompt) * length * cache_token_bytes(self.cache)

    def step(self, parents: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        logits, order = self.step_in_run_order(parents, tokens)
        return logits if order is None else logits[order]

    def step_in_run_order(
        self, parents: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`step`'s logits in the order the forward ran the rows, and ``order``: row ``i``'s logits are
        ``logits[order[i]]`` (None: in row order). A reader that reads a few values of each row
        (:class:`~marginal_generate.decoding.step_scores.StepScores`) saves the copy of every row into row order."""
        assert self.cache is not None, "prefill() must run before step()"
        parents = parents.to(self.rows.device)
        tokens = tokens.to(self.rows.device)
        if self.slots is not None:
            return self._step_in_slots(parents, tokens)
        keep_all = parents.numel() == self.rows.numel() and torch.equal(
            parents, torch.arange(parents.numel(), device=parents.device)
        )
        if not keep_all:
            self.cache.reorder_cache(parents)
        self.rows = self.rows[parents]
        self.generated = torch.cat([self.generated[parents], tokens[:, None]], dim=1)
        depth = self.generated.shape[1]
        n = tokens.shape[0]
        attention_mask = torch.cat([self.prompt_mask[self.rows], self.prompt_mask.new_ones((n, depth))], dim=1)
        position_ids = (self.prompt_lengths[self.rows] + depth - 1)[:, None]
        out = self.model(
            input_ids=tokens[:, None],
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **cache_argument(self.model, self.cache),
            **self.model_kwargs,
        )
        self.forward_passes += 1
        return out.logits[:, -1], None

    def _step_in_slots(self, parents: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`step_in_run_order` over rows kept in slots: the forward runs in slot order, row ``i`` is in slot
        ``plan.row_slot[i]``."""
        assert self.slots is not None and self.cache is not None
        self.rows = self.rows[parents]
        self.generated = torch.cat([self.generated[parents], tokens[:, None]], dim=1)
        plan = self.slots.plan(parents.tolist(), self.rows.tolist())
        for layer in self.cache.layers:
            layer.plan = plan
        depth, n = self.generated.shape[1], tokens.shape[0]
        prompts = self.slots.prompts()
        input_ids = tokens.new_empty((n, 1))
        input_ids[plan.row_slot, 0] = tokens
        if self._padded is not None and any(self._padded[b] for b in self.slots.slot_prompt):
            visible = self._visible[prompts]
            attention_mask = torch.cat([visible, visible.new_ones((n, depth))], dim=1)[:, None, None, :]
        else:
            attention_mask = torch.cat([self.prompt_mask[prompts], self.prompt_mask.new_ones((n, depth))], dim=1)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=(self.prompt_lengths[prompts] + depth - 1)[:, None],
            use_cache=True,
            **cache_argument(self.model, self.cache),
            **self.model_kwargs,
        )
        self.forward_passes += 1
        if any(getattr(layer, "plan", None) is not None for layer in self.cache.layers):
            raise RuntimeError(
                f"{type(self.model).__name__} did not apply the moved cache rows to every layer of its KV cache (a "
                "layer it reads without appending to?); use attention='tree' where it allows, and report the model."
            )
        return out.logits[:, -1], None if plan.identity else plan.row_slot

    def sequences(self) -> torch.Tensor:
        return torch.cat([self.input_ids[self.rows], self.generated], dim=1)
