"""Rows of a batched KV cache kept in place: a depth moves only the cache rows whose content changes.

:class:`~marginal_generate.decoding.stepper.CachedStepper` gives every decoding row its own copy of its prompt's
cache. ``DynamicCache.reorder_cache(parents)`` gathers a whole new cache at every depth of the tree (the prompt's
part of every row, whether the row moved or not), and the forward's append concatenates it once more. Here a row
lives in a *slot* (a row of the cache tensor) and the search's rows are mapped to slots:

- a row's first child takes over its parent's slot (nothing to copy);
- another child takes a slot no row needs any more, of the same prompt when there is one (only the generated
  tokens are copied: the prompt's part is already there), else any free slot or a new one (the whole row);
- the slots stay dense (``0 .. rows - 1``), so the forward runs over exactly the rows, in slot order.

The moves are applied inside the append (:class:`SlotLayer`), so a depth writes the cache once. The logits come
back in slot order; :attr:`SlotPlan.row_slot` maps them to the search's rows. The keys and values each slot holds
are the ones the gathered cache held, so the forward's logits are the same bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

try:  # transformers >= 4.56: caches made of layers
    from transformers.cache_utils import DynamicLayer
except ImportError:  # pragma: no cover - older transformers: no slots, the stepper reorders its cache
    DynamicLayer = None  # type: ignore[assignment,misc]

__all__ = ["SlotPlan", "RowSlots", "SlotLayer", "adopt_slots"]


@dataclass(frozen=True)
class SlotPlan:
    """One depth's moves: ``row_slot[i]`` is the slot of row ``i``; before the new token is appended, slot
    ``gen_dst[k]`` gets the generated tokens (cache positions ``prompt_width:``) of slot ``gen_src[k]`` and slot
    ``full_dst[k]`` the whole row of slot ``full_src[k]`` (sources read from the cache before the depth).
    ``identity``: row ``i`` is in slot ``i`` (the logits need no reordering; slots may still get copies)."""

    row_slot: torch.Tensor
    gen_dst: torch.Tensor
    gen_src: torch.Tensor
    full_dst: torch.Tensor
    full_src: torch.Tensor
    prompt_width: int
    identity: bool

    @property
    def copies(self) -> tuple[int, int]:
        """How many slots get their generated tokens, and how many their whole row, copied."""
        return self.gen_dst.numel(), self.full_dst.numel()


class RowSlots:
    """Which slot holds which row, and whose prompt each slot's prompt part is.

    Args:
        batch_size: the prompts; after the prefill, prompt ``b`` is row ``b`` in slot ``b``.
        prompt_width: the cache positions of the (left-padded) prompts.
        device: where the plans' index tensors go.

    >>> slots = RowSlots(2, prompt_width=3)
    >>> plan = slots.plan([0, 0, 1], [0, 0, 1])  # prompt 0's row branches in two, prompt 1's row goes on
    >>> plan.row_slot.tolist(), plan.full_dst.tolist(), plan.full_src.tolist()
    ([0, 2, 1], [2], [0])
    >>> plan = slots.plan([1, 2], [0, 1])  # the first row ends; its sibling's slot 2 moves into the hole at 0
    >>> plan.row_slot.tolist(), plan.gen_dst.tolist(), plan.gen_src.tolist(), plan.full_dst.tolist()
    ([0, 1], [0], [2], [])
    """

    def __init__(self, batch_size: int, prompt_width: int, device: torch.device | str | None = None) -> None:
        self.prompt_width = prompt_width
        self.device = device
        self.slot_prompt: list[int] = list(range(batch_size))
        self.row_slot: list[int] = list(range(batch_size))

    def plan(self, parents: list[int], prompts: list[int]) -> SlotPlan:
        """The slots of the rows ``parents[i]`` continues (``prompts[i]``: the prompt of row ``i``), and the moves."""
        n, previous, slot_prompt = len(parents), self.row_slot, self.slot_prompt
        row_slot = [-1] * n
        taken = [False] * max(n, len(slot_prompt))
        for i, parent in enumerate(parents):  # the first child of a row stays in its parent's slot
            slot = previous[parent]
            if slot < n and not taken[slot]:
                row_slot[i] = slot
                taken[slot] = True
        holes: dict[int, list[int]] = {}
        fresh: list[int] = []
        for slot in range(n - 1, -1, -1):  # popped from the end: lowest slot first
            if not taken[slot]:
                if slot < len(slot_prompt):
                    holes.setdefault(slot_prompt[slot], []).append(slot)
                else:
                    fresh.append(slot)
        gen_dst, gen_src, rest = [], [], []
        for i in range(n):
            if row_slot[i] >= 0:
                continue
            same = holes.get(prompts[i])
            if same:  # a free slot of the same prompt: only the generated tokens move
                row_slot[i] = same.pop()
                gen_dst.append(row_slot[i])
                gen_src.append(previous[parents[i]])
            else:
                rest.append(i)
        free = fresh[::-1] + sorted(slot for slots in holes.values() for slot in slots)
        full_dst, full_src = [], []
        slot_prompt = slot_prompt[:n] + [-1] * (n - len(slot_prompt))
        for i, slot in zip(rest, free):
            row_slot[i] = slot
            full_dst.append(slot)
            full_src.append(previous[parents[i]])
            slot_prompt[slot] = prompts[i]
        self.row_slot, self.slot_prompt = row_slot, slot_prompt

        def index(values: list[int]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.long, device=self.device)

        identity = row_slot == list(range(n))
        return SlotPlan(
            index(row_slot),
            index(gen_dst),
            index(gen_src),
            index(full_dst),
            index(full_src),
            self.prompt_width,
            identity,
        )

    def prompts(self) -> torch.Tensor:
        """The prompt whose part each slot holds, in slot order."""
        return torch.tensor(self.slot_prompt, dtype=torch.long, device=self.device)


def _moved(old: torch.Tensor, new_states: torch.Tensor, plan: SlotPlan) -> torch.Tensor:
    """``old`` with ``plan``'s moves applied and ``new_states`` appended, written once into a new tensor."""
    n, length = new_states.shape[0], old.shape[-2]
    out = old.new_empty((n, old.shape[1], length + new_states.shape[-2], old.shape[-1]))
    kept = min(n, old.shape[0])
    cached = out.narrow(2, 0, length)
    cached[:kept] = old[:kept]
    generated = length - plan.prompt_width
    if plan.gen_dst.numel() and generated > 0:
        part = old.narrow(2, plan.prompt_width, generated).index_select(0, plan.gen_src)
        cached.narrow(2, plan.prompt_width, generated).index_copy_(0, plan.gen_dst, part)
    if plan.full_dst.numel():
        cached.index_copy_(0, plan.full_dst, old.index_select(0, plan.full_src))
    out[:, :, length:] = new_states
    return out


if DynamicLayer is not None:

    class SlotLayer(DynamicLayer):
        """A full-attention cache layer whose next ``update`` applies the stepper's :class:`SlotPlan` (``plan``,
        set before the forward) while it appends: one write of the cache per depth, where a reorder and an append
        wrote it twice."""

        def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
            super().__init__()
            self.lazy_initialization(keys, values)
            self.keys, self.values = keys, values
            self.plan: SlotPlan | None = None

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            plan, self.plan = self.plan, None
            if plan is None or plan.copies == (0, 0) and key_states.shape[0] == self.keys.shape[0]:
                return super().update(key_states, value_states, *args, **kwargs)
            self.keys = _moved(self.keys, key_states, plan)
            self.values = _moved(self.values, value_states, plan)
            return self.keys, self.values
else:  # pragma: no cover
    SlotLayer = None  # type: ignore[assignment,misc]


def adopt_slots(cache: Any) -> bool:
    """Make ``cache``'s layers :class:`SlotLayer` s (same tensors), when every layer is a plain full-attention
    ``DynamicLayer`` holding ``[rows, heads, length, dim]``; False (the cache untouched) for any other cache:
    sliding-window, chunked, quantized or offloaded layers keep ``reorder_cache``."""
    layers = getattr(cache, "layers", None)
    if SlotLayer is None or not layers:
        return False
    if any(type(layer) is not DynamicLayer or not layer.is_initialized or layer.keys.ndim != 4 for layer in layers):
        return False
    if getattr(cache, "offloading", False):
        return False
    cache.layers = [SlotLayer(layer.keys, layer.values) for layer in layers]
    return True
