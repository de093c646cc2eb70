"""The tree search's memory budget: each depth is estimated before it is expanded, and refused past the budget.

At ``eps=0, top_p=1`` every token of the vocabulary is a child, so the tree multiplies by the
vocabulary at each depth until its answers are decided: six new tokens of the embedded model grew
past 20 GB. Before each depth the search estimates what it is about to hold:

- per frontier row, its next-token logits and what the expansion makes of them: the logits
  (model dtype), their float64 copy, the log-softmax and the tree rows' gather (``LOGIT_BYTES``
  a vocabulary entry), and a sort of the ``k`` most probable tokens (``SORT_BYTES`` an entry;
  ``k`` is the whole vocabulary at ``eps=0``);
- the KV cache of the next forward, as the stepper lays it out (a copy of the prompt per row
  for the batched cache, one per prompt plus the tree slots for tree attention);
- per prefix read so far, its text, parser state and completion entry (``NODE_BYTES``): every
  child the cuts keep is decoded and parsed, and the reader and the completions keep them.

Past the budget the search raises :class:`SearchBudgetError` before allocating: one line with the
size it would reach, the budget, the sample of the batch that holds most of it, and what to change.
:class:`SearchBudget` is the budget and its check; :class:`BudgetGuard` is one search's running count.
The budget is ``search_budget_gb`` of :func:`~marginal_generate.score` and ``marginalize``; by
default the memory free on the model's device when the search starts (a CUDA device's free memory,
else the machine's available memory).

>>> budget = SearchBudget.of(0.001)
>>> budget.max_bytes, budget.name
(1000000.0, 'search_budget_gb=0.001')
>>> budget.check(depth=3, rows=[2, 7496], nodes=[10, 23_000_000], row_bytes=332_000, shared_bytes=0,
...              eps=0.0, top_p=1.0, max_new_tokens=6)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
marginal_generate.decoding.budget.SearchBudgetError: the any_place tree search would hold about 26.0 GB at depth 3 ...
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "SearchBudgetError",
    "SearchBudget",
    "BudgetGuard",
    "LOGIT_BYTES",
    "SORT_BYTES",
    "NODE_BYTES",
    "free_memory",
    "row_bytes",
]

#: Bytes per vocabulary entry of a frontier row besides the logits themselves: the float64 copy, the log-softmax and
#: the gather of the tree rows (8 each).
LOGIT_BYTES = 24
#: Bytes per entry of the sorted top ``k`` (values, ids, probabilities, children, masks and their cumulative sums).
SORT_BYTES = 80
#: Bytes per prefix read: its token tuple, decoded text, parser state, completion entry and memo slots (measured on
#: the embedded model at eps=0: about 800).
NODE_BYTES = 1024
#: The budget when the device's free memory cannot be read.
FALLBACK_BYTES = 8 * 10**9


class SearchBudgetError(ValueError):
    """The tree search would outgrow its memory budget; raised before the memory is allocated."""


def row_bytes(vocab: int, k: int, logit_bytes: int) -> int:
    """Estimated bytes of one frontier row's next-token distribution and its expansion (without the KV cache).

    ``k``: how many of the most probable tokens the expansion sorts (the vocabulary at ``eps=0``);
    ``logit_bytes``: the size of one logit as the model returns it.

    >>> row_bytes(3072, 3072, 4)  # eps=0 on the embedded model
    331776
    >>> row_bytes(3072, 109, 4)  # eps=0.01: the 1 / eps + 9 most probable tokens
    94736
    """
    return vocab * (logit_bytes + LOGIT_BYTES) + min(k, vocab) * SORT_BYTES


def free_memory(device: Any) -> int | None:
    """Bytes free on ``device`` now: a CUDA device's free memory plus what torch holds cached there, else the
    machine's available memory (``MemAvailable``, or the free pages); None when neither can be read."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e9:.2g} GB"


@dataclass(frozen=True)
class SearchBudget:
    """The bytes the tree search may hold, and how its refusal names them.

    Attributes:
        max_bytes: the budget.
        name: where the budget came from, as the message says it (``search_budget_gb=2.0``, or the free memory).
    """

    max_bytes: float
    name: str

    @classmethod
    def of(cls, search_budget_gb: float | None, device: Any = None) -> SearchBudget:
        """The budget of ``search_budget_gb`` (``math.inf`` turns the guard off), or with None the memory free on
        ``device`` now.

        >>> SearchBudget.of(2).name, SearchBudget.of(None).max_bytes > 0
        ('search_budget_gb=2', True)
        >>> SearchBudget.of(0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `search_budget_gb` must be a number of GB > 0 (math.inf for no limit) or None ..., got 0.
        """
        if search_budget_gb is not None:
            number = isinstance(search_budget_gb, (int, float)) and not isinstance(search_budget_gb, bool)
            if not number or not search_budget_gb > 0:
                raise ValueError(
                    "`search_budget_gb` must be a number of GB > 0 (math.inf for no limit) or None (the memory free "
                    f"on the model's device), got {search_budget_gb!r}."
                )
            return cls(search_budget_gb * 1e9, f"search_budget_gb={search_budget_gb:g}")
        free = free_memory(device)
        where = torch.device(device).type if device is not None else "cpu"
        if free is None:
            return cls(FALLBACK_BYTES, f"the default {_gb(FALLBACK_BYTES)}, the memory free on {where} being unknown")
        return cls(free, f"the memory free on {where} when the search started")

    def check(
        self,
        depth: int,
        rows: Sequence[int],
        nodes: Sequence[int],
        row_bytes: int,
        shared_bytes: int,
        eps: float,
        top_p: float,
        max_new_tokens: int,
        hint: str = "",
    ) -> float:
        """The estimated bytes of a depth; a :class:`SearchBudgetError` when they exceed the budget.

        ``rows``: the frontier rows of each sample of the batch at this depth; ``nodes``: the prefixes each has read
        (those about to be read included); ``row_bytes``: a row's distribution and its expansion (:func:`row_bytes`);
        ``shared_bytes``: the KV cache and attention inputs of the step, as the stepper lays them out; ``hint``:
        what else to change when they are most of the estimate (the stepper's word).
        """
        total = sum(rows) * row_bytes + sum(nodes) * NODE_BYTES + shared_bytes
        if total <= self.max_bytes:
            return total
        heavy = max(range(len(rows)), key=lambda s: rows[s] * row_bytes + nodes[s] * NODE_BYTES)
        where = f"; most in sample {heavy} of {len(rows)}: {rows[heavy]:,} rows, {nodes[heavy]:,} prefixes"
        raise SearchBudgetError(
            f"the any_place tree search would hold about {_gb(total)} at depth {depth} ({sum(rows):,} frontier rows "
            f"and {sum(nodes):,} prefixes read{where if len(rows) > 1 else ''}), over its budget of "
            f"{_gb(self.max_bytes)} ({self.name}): raise eps (now {eps:g}; 0.01 is the usual cut), lower top_p "
            f"(now {top_p:g}; 0.99 drops the tail) or max_new_tokens (now {max_new_tokens}), "
            f"{hint + ', ' if hint and shared_bytes * 2 > total else ''}or raise search_budget_gb "
            "(in GB; the CLI's --search-budget-gb)."
        )


class BudgetGuard:
    """One search's side of the budget: the prefixes each sample has read, the stepper's estimate for the current
    rows, and the largest estimate so far (``peak``).

    Args:
        budget: the budget.
        stepper: the search's stepper; its optional ``cache_bytes(rows_per_prompt)`` gives the KV cache and attention
            inputs of a step, its optional ``budget_hint`` what else the message may suggest.
        batch: the number of samples.
        eps, top_p, max_new_tokens: the search's cuts (the message names them).
        spare: the dropped children sorted besides the kept ones per node (the estimate's ``per_node``).
    """

    def __init__(
        self, budget: SearchBudget, stepper: Any, batch: int, eps: float, top_p: float, max_new_tokens: int, spare: int
    ) -> None:
        self.budget, self.stepper = budget, stepper
        self.eps, self.top_p, self.max_new_tokens, self.spare = eps, top_p, max_new_tokens, spare
        self.prefixes = [0] * batch
        self.step_bytes = 0
        self.peak = 0.0

    def read(self, samples: Sequence[int], counts: Sequence[int]) -> None:
        """Count ``counts[i]`` prefixes about to be read for sample ``samples[i]``."""
        for sample, n in zip(samples, counts):
            self.prefixes[sample] += n

    def check(self, samples: Sequence[int], depth: int, logits: torch.Tensor, step: bool) -> None:
        """Estimate a depth whose rows belong to ``samples`` (one entry per row); refuse past the budget.

        ``logits``: a depth's next-token logits (their vocabulary and element size). ``step``: before the rows'
        forward, whose KV cache and attention the stepper estimates now; else after it, with that estimate.
        """
        rows = [0] * len(self.prefixes)
        for sample in samples:
            rows[sample] += 1
        if step or depth == 0:
            cache_bytes = getattr(self.stepper, "cache_bytes", None)
            self.step_bytes = cache_bytes(rows) if cache_bytes is not None else 0
        vocab = logits.shape[-1]
        k = vocab if self.eps <= 0 else int(1 / self.eps) + 1 + self.spare
        estimate = self.budget.check(
            depth,
            rows,
            self.prefixes,
            row_bytes(vocab, k, logits.element_size()),
            self.step_bytes,
            self.eps,
            self.top_p,
            self.max_new_tokens,
            getattr(self.stepper, "budget_hint", ""),
        )
        self.peak = max(self.peak, estimate)
