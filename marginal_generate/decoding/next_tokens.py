"""The one narrow interface between the tree search and a model: expand a batch of prefixes, get their next tokens.

:func:`~marginal_generate.decoding.search.run_search` reaches the model only through a :class:`NextTokenBackend`.
A backend runs the prompts (:meth:`~NextTokenBackend.prefill`), then at every depth continues the rows the search
names as ``(parent row, next token)`` pairs of the previous call (:meth:`~NextTokenBackend.expand`) and answers
with a :class:`NextTokenScores` per call: per row the argmax, the top-k token ids with float64 log-probabilities
and the log of the mass left out of them (:class:`TopTokens`), and, where the backend can, the whole row.

Rows are ``(parent, token)`` pairs, not ``(prompt, token tuple)``: the search already keeps its frontier as rows of
the previous call, a KV-cache backend reorders its cache by exactly these indices, and the pairs are O(1) per row
where token tuples grow with depth. A stateless engine (vLLM, SGLang: one request per prefix, the shared prompt
computed once by their prefix caching) turns them into ``prompt + tokens`` in one line,
``prefixes = [prefixes[p] + (t,) for p, t in zip(parents, tokens)]``.

Two backends ship: :class:`StepperBackend`, the HF backend (the batched-cache and tree-attention steppers of
:mod:`~marginal_generate.decoding.stepper`, whole rows, no limit on k: the search's results bit for bit as before),
and :class:`~marginal_generate.testing.engine_backend.TopKEngineBackend`, the reference engine backend (a real
model that answers with top-k and the mass left out only, as an engine does). A backend says the largest k it gives
(``max_k``, vLLM's ``max_logprobs``; None: the whole vocabulary) and whether it gives whole rows (``whole_rows``).
The search's cut reads a node's heaviest children; the ones a backend's k leaves out are cut mass (they go into
the upper bounds as the ``eps`` and ``top_p`` cuts do), so the bounds stay certified with any k. What reads a
whole distribution (:data:`WHOLE_ROW_STRATEGIES`, the lookaheads of ``label_normalization="vocab"``, logits
processors) is refused with a top-k backend by :func:`check_backend`, in one line naming it and the backend.

>>> top = TopTokens(torch.tensor([[0.5, 0.25]], dtype=torch.float64).log(), torch.tensor([[3, 1]]))
>>> top.probs.tolist(), round(math.exp(top.left_out[0]), 6)
([[0.5, 0.25]], 0.25)
>>> sparse_rows(top, 5).tolist()  # what a top-k backend knows of the row: NaN is "not given"
[[nan, -1.3862943611198906, nan, -0.6931471805599453, nan]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from transformers import LogitsProcessorList

from .step_scores import StepScores
from .stepper import CachedStepper, Stepper

__all__ = [
    "TopTokens",
    "NextTokenScores",
    "NextTokenBackend",
    "StepperBackend",
    "WHOLE_ROW_STRATEGIES",
    "as_backend",
    "check_backend",
    "sparse_rows",
]

#: The strategies that read a whole next-token distribution of the greedy path (the verbalizer's tokens, a slot's
#: options): a backend without whole rows cannot give them. ``greedy``, ``token_probability`` and ``fixed_place``
#: read the greedy token's log-probability (the top 1); ``any_place`` reads the top k.
WHOLE_ROW_STRATEGIES: tuple[str, ...] = ("first_token", "max_over_generations", "first_generation")


class TopTokens:
    """The ``k`` most probable next tokens of some rows: ``logprobs`` float64 ``[rows, k]`` (descending), ``ids``
    ``[rows, k]``, and ``left_out`` ``[rows]``, the log of the probability of every other token (``-inf``: none).

    ``left_out`` given None is ``log(1 - sum(exp(logprobs)))``, made when first read (the search itself needs only
    the top: what it does not keep is cut mass by difference); an engine passes the one it returns.
    """

    def __init__(self, logprobs: torch.Tensor, ids: torch.Tensor, left_out: torch.Tensor | None = None) -> None:
        self.logprobs, self.ids, self._left_out = logprobs, ids, left_out

    @property
    def left_out(self) -> torch.Tensor:
        if self._left_out is None:
            self._left_out = torch.log1p(-self.logprobs.exp().sum(-1).clamp(max=1.0))
        return self._left_out

    @property
    def probs(self) -> torch.Tensor:
        """``exp(logprobs)``."""
        return self.logprobs.exp()


class NextTokenScores(Protocol):
    """One call's answer: the next-token scores of every row of that call."""

    vocab: int  # the vocabulary's size
    dtype: torch.dtype  # the element type the backend holds a depth's scores in (the search's memory budget)

    def argmax(self) -> list[int]:
        """The most probable token of every row."""
        ...

    # Optional: ``argmax_rows(rows: list[int]) -> list[int]``, :meth:`argmax` of ``rows`` only; the search asks it for
    # the rows it continues greedily (the greedy path, the roll-outs) where a backend has it.

    def top(self, rows: list[int], k: int, node_probs: list[float] | None = None, least: float = 0.0) -> TopTokens:
        """The most probable tokens of ``rows``: ``k`` of them, fewer where the backend's ``max_k`` is smaller, or
        where ``node_probs`` and ``least`` say no lighter child (node probability x token probability < ``least``)
        is read."""
        ...

    def full(self, rows: list[int]) -> torch.Tensor:
        """The float64 log-softmax of ``rows``, ``[len(rows), vocab]``: only a backend with ``whole_rows``."""
        ...


class NextTokenBackend(Protocol):
    """What the tree search calls: the prompts' next tokens, then those of each batch of continued prefixes.

    ``read``: the rows of the call whose whole row (:meth:`NextTokenScores.full`) or top tokens
    (:meth:`NextTokenScores.top`) the search will ask for; a backend may prepare them at once (or ignore it).
    Optional, for the search's memory budget: ``cache_bytes(rows_per_prompt) -> int`` and ``budget_hint: str``.
    """

    name: str  # how messages name the backend
    batch_size: int  # the number of prompts
    forward_passes: int
    max_k: int | None  # the most top tokens a row can have (vLLM's max_logprobs); None: the whole vocabulary
    whole_rows: bool  # True when NextTokenScores.full is available

    def prefill(self, read: Sequence[int]) -> NextTokenScores:
        """Run the prompts; row ``i`` of the answer is prompt ``i``'s first generated token."""
        ...

    def expand(self, parents: Sequence[int], tokens: Sequence[int], read: Sequence[int]) -> NextTokenScores:
        """Row ``i`` of the answer continues row ``parents[i]`` of the previous call with ``tokens[i]``."""
        ...


class _StepperScores:
    """:class:`NextTokenScores` over a :class:`~marginal_generate.decoding.step_scores.StepScores`."""

    def __init__(self, scores: StepScores, dtype: torch.dtype) -> None:
        self.scores = scores
        self.vocab = scores.vocab
        self.dtype = dtype

    def argmax(self) -> list[int]:
        return self.scores.argmax()

    def argmax_rows(self, rows: list[int]) -> list[int]:
        return self.scores.argmax_rows(rows)

    def top(self, rows: list[int], k: int, node_probs: list[float] | None = None, least: float = 0.0) -> TopTokens:
        logprobs, ids = self.scores.top_logprobs(rows, k, node_probs, least)
        return TopTokens(logprobs, ids)

    def full(self, rows: list[int]) -> torch.Tensor:
        return self.scores.full(rows)


class StepperBackend:
    """The HF backend: a :class:`~marginal_generate.decoding.stepper.Stepper` (the batched cache, tree attention, a
    shared prefix) read through :class:`~marginal_generate.decoding.step_scores.StepScores`. Whole rows, no limit
    on k; with ``logits_processor`` the processor's float64 scores of every row are read (it may change any row).

    >>> from marginal_generate.testing import byte_level_tokenizer, tiny_llama
    >>> from marginal_generate.decoding.stepper import CachedStepper
    >>> model = tiny_llama(byte_level_tokenizer())
    >>> backend = StepperBackend(CachedStepper(model, torch.tensor([[5, 6, 7]])))
    >>> scores = backend.prefill(read=[0])
    >>> top = scores.top([0], 3)
    >>> top.ids[0, 0].item() == scores.argmax()[0], top.logprobs.shape, backend.max_k, backend.whole_rows
    (True, torch.Size([1, 3]), None, True)
    >>> bool(torch.isclose(top.left_out.exp() + top.probs.sum(), torch.tensor(1.0, dtype=torch.float64)))
    True
    >>> backend.expand([0, 0], [3, 4], read=[0, 1]).top([0, 1], 1).ids.shape, backend.forward_passes
    (torch.Size([2, 1]), 2)
    """

    max_k = None
    whole_rows = True

    def __init__(self, stepper: Stepper, logits_processor: LogitsProcessorList | None = None) -> None:
        self.stepper = stepper
        self.logits_processor = logits_processor
        self.name = f"StepperBackend({type(stepper).__name__})"
        self.batch_size = stepper.batch_size
        self.cache_bytes = getattr(stepper, "cache_bytes", None)  # the budget's hooks, the stepper's own
        self.budget_hint = getattr(stepper, "budget_hint", "")
        # the batched cache's logits in the order it ran its rows (a stepper that steps otherwise: in row order)
        self._run_order = not logits_processor and type(stepper).step is CachedStepper.step

    @property
    def forward_passes(self) -> int:
        return self.stepper.forward_passes

    def prefill(self, read: Sequence[int]) -> NextTokenScores:
        with torch.inference_mode():  # the forwards and their caches; what the search keeps is made outside
            logits = self.stepper.prefill()
        return self._scores(logits, read)

    def expand(self, parents: Sequence[int], tokens: Sequence[int], read: Sequence[int]) -> NextTokenScores:
        with torch.inference_mode():
            parents_, tokens_ = torch.tensor(parents, dtype=torch.long), torch.tensor(tokens, dtype=torch.long)
            if self._run_order:
                logits, order = self.stepper.step_in_run_order(parents_, tokens_)
            else:
                logits, order = self.stepper.step(parents_, tokens_), None
        return self._scores(logits, read, order)

    def _scores(self, logits: torch.Tensor, read: Sequence[int], order: torch.Tensor | None = None) -> NextTokenScores:
        if self.logits_processor:
            processed = self.logits_processor(self.stepper.sequences().to(logits.device), logits.to(torch.float64))
            return _StepperScores(StepScores(processed, processed=True), logits.dtype)
        return _StepperScores(
            StepScores(logits, read=list(read), order=None if order is None else order.tolist()), logits.dtype
        )


def as_backend(model: Stepper | NextTokenBackend, logits_processor: LogitsProcessorList | None = None) -> Any:
    """``model`` as a :class:`NextTokenBackend`: a stepper goes behind a :class:`StepperBackend` (with
    ``logits_processor``); a backend is itself, and takes no ``logits_processor`` here.

    >>> as_backend(object())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: run_search needs a Stepper or a NextTokenBackend, got object; wrap a model's stepper as ...
    """
    if hasattr(model, "expand"):
        if logits_processor:
            name = getattr(model, "name", type(model).__name__)
            if not getattr(model, "whole_rows", False):
                raise ValueError(
                    f"`logits_processor` needs whole rows of logits, and backend {name} gives only the top "
                    f"{model.max_k} next-token log-probabilities of a row: leave it out, or use a backend with whole "
                    "rows (StepperBackend)."
                )
            raise ValueError(
                f"`logits_processor` goes to the backend, not to run_search, when the search is given a backend "
                f"(got {name}); wrap a stepper as StepperBackend(stepper, logits_processor)."
            )
        return model
    if not hasattr(model, "step"):
        raise ValueError(
            f"run_search needs a Stepper or a NextTokenBackend, got {type(model).__name__}; "
            "wrap a model's stepper as StepperBackend(stepper)."
        )
    return StepperBackend(model, logits_processor)


def check_backend(backend: Any, strategies: Sequence[str] | None, normalization: str | None = None) -> None:
    """Refuse, in one line naming it and the backend, what a backend without whole rows cannot give.

    ``strategies``: the strategies that will be read from the search (None: unknown, which such a backend refuses:
    the greedy path's recorder reads whole rows for some); ``normalization``: the recorder's
    ``label_normalization`` (``"vocab"`` looks ahead through whole rows).

    >>> class Engine:
    ...     name, max_k, whole_rows = "vllm", 20, False
    >>> check_backend(Engine(), ["any_place", "greedy"])
    >>> check_backend(Engine(), ["any_place", "first_token"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: strategy 'first_token' reads the greedy path's whole next-token distribution, and backend vllm gives ...
    """
    if getattr(backend, "whole_rows", True):
        return
    what = f"backend {backend.name} gives only the top {backend.max_k} next-token log-probabilities of a row"
    if strategies is None:
        raise ValueError(
            f"`strategies` must name the strategies that will be read, since {what} and some greedy-path strategies "
            f"({', '.join(WHOLE_ROW_STRATEGIES)}) read whole rows; pass e.g. strategies=['any_place', 'greedy']."
        )
    for strategy in strategies:
        if strategy in WHOLE_ROW_STRATEGIES:
            raise ValueError(
                f"strategy {strategy!r} reads the greedy path's whole next-token distribution, and {what}: leave "
                f"{strategy!r} out, or use a backend with whole rows (StepperBackend)."
            )
    if normalization == "vocab":
        raise ValueError(
            f"label_normalization='vocab' looks ahead through whole next-token distributions, and {what}: use "
            "label_normalization='label_tokens', or a backend with whole rows (StepperBackend)."
        )


def sparse_rows(top: TopTokens, vocab: int) -> torch.Tensor:
    """Rows ``[n, vocab]`` that hold ``top``'s log-probabilities and NaN elsewhere: what a top-k backend knows of a
    whole row, for readers of whole rows that only look at the tokens given (the greedy path's token); a reader that
    needs more gets NaN, never a wrong number."""
    out = torch.full((top.ids.shape[0], vocab), math.nan, dtype=torch.float64, device=top.ids.device)
    return out.scatter_(-1, top.ids, top.logprobs)
