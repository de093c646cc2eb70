"""The reference engine backend: a real model behind the search's narrow interface, answering as an engine does.

An engine that serves at scale (vLLM, SGLang) answers a prefix with its greedy token and the top ``k`` next-token
log-probabilities (vLLM's ``logprobs=k``, at most ``max_logprobs``), never a whole row. :class:`TopKEngineBackend`
gives the tree search exactly that and nothing more (:class:`~marginal_generate.decoding.next_tokens.TopTokens`:
the top ``max_k`` log-probabilities, their ids and the log of the mass left out), over a tiny model run by a
:class:`~marginal_generate.decoding.stepper.CachedStepper`, whose prompt cache plays the engine's prefix cache (the
shared prompt of every node computed once). The logits are dropped as soon as the top ``max_k`` is read, so a
strategy that needs more is refused (:func:`~marginal_generate.decoding.next_tokens.check_backend`) rather than
read from them. With ``max_k`` at least what the cuts keep, the search's results are the HF backend's; with a
smaller one the bounds still hold, wider.

>>> from marginal_generate.testing import byte_level_tokenizer, tiny_llama
>>> engine = TopKEngineBackend(tiny_llama(byte_level_tokenizer()), torch.tensor([[5, 6, 7]]), max_k=4)
>>> top = engine.prefill(read=[0]).top([0], 50)  # asked for 50, given the engine's 4
>>> top.ids.shape, engine.name, engine.whole_rows
(torch.Size([1, 4]), 'TopKEngineBackend(max_k=4)', False)
>>> bool(torch.isclose(top.probs.sum() + top.left_out.exp(), torch.tensor(1.0, dtype=torch.float64)))
True
>>> TopKEngineBackend(tiny_llama(byte_level_tokenizer()), torch.tensor([[5, 6, 7]]), max_k=0)
Traceback (most recent call last):
...
ValueError: `max_k` must be an integer >= 1 (the most log-probabilities the engine gives a row), got 0.

``mg.score(..., backend=...)`` takes a factory, ``(input_ids, attention_mask) -> backend``, since a backend is built
per batch over its prompts: :meth:`TopKEngineBackend.factory` is the engine's.

>>> import marginal_generate as mg
>>> tok = byte_level_tokenizer(); model = tiny_llama(tok, seed=0)
>>> inputs = tok(["User: hello there"], return_tensors="pt")
>>> out = mg.score(model, inputs.input_ids, inputs.attention_mask, mg.LabelSpace.llama_guard(tok),
...                ["any_place", "greedy"], max_new_tokens=6, backend=TopKEngineBackend.factory(model, max_k=20))
>>> out["any_place"].stats["backend"]
'TopKEngineBackend(max_k=20)'
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..decoding.next_tokens import TopTokens
from ..decoding.step_scores import heavy_count, normalizers, top_logprobs
from ..decoding.stepper import CachedStepper

__all__ = ["TopKEngineBackend"]


def _check_max_k(max_k: Any) -> None:
    if not isinstance(max_k, int) or isinstance(max_k, bool) or max_k < 1:
        raise ValueError(
            f"`max_k` must be an integer >= 1 (the most log-probabilities the engine gives a row), got {max_k!r}."
        )


class _EngineScores:
    """One call's answer of the engine: every row's top ``max_k`` (float64) and the mass left out, no logits."""

    dtype = torch.float64

    def __init__(self, top: TopTokens, vocab: int) -> None:
        self._top = top
        self.vocab = vocab

    def argmax(self) -> list[int]:
        return self._top.ids[:, 0].tolist()  # the engine's greedy token: its most probable one

    def top(self, rows: list[int], k: int, node_probs: list[float] | None = None, least: float = 0.0) -> TopTokens:
        index = torch.tensor(rows, dtype=torch.long, device=self._top.ids.device)
        logprobs, ids = self._top.logprobs[index], self._top.ids[index]
        k = min(k, logprobs.shape[-1])
        if node_probs is not None and least > 0.0:
            k = min(k, heavy_count(logprobs, node_probs, least))
        if k == logprobs.shape[-1]:
            return TopTokens(logprobs, ids, self._top.left_out[index])
        rest = torch.logaddexp(self._top.left_out[index], torch.logsumexp(logprobs[:, k:], dim=-1))
        return TopTokens(logprobs[:, :k], ids[:, :k], rest)

    def full(self, rows: list[int]) -> torch.Tensor:
        raise ValueError("TopKEngineBackend gives no whole rows, only the top max_k log-probabilities of each row.")


class TopKEngineBackend:
    """A :class:`~marginal_generate.decoding.next_tokens.NextTokenBackend` that answers with top-k only.

    Args:
        model, input_ids, attention_mask: as for :class:`~marginal_generate.decoding.stepper.CachedStepper`.
        max_k: the most log-probabilities a row gets (vLLM's ``max_logprobs``: 20 by default).
    """

    whole_rows = False

    def __init__(
        self, model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, max_k: int = 20
    ) -> None:
        _check_max_k(max_k)
        self.max_k = max_k
        self.name = f"TopKEngineBackend(max_k={max_k})"
        self._stepper = CachedStepper(model, input_ids, attention_mask)
        self.batch_size = self._stepper.batch_size

    @classmethod
    def factory(cls, model: Any, max_k: int = 20) -> Callable[[torch.Tensor, torch.Tensor | None], TopKEngineBackend]:
        """What ``mg.score(..., backend=...)`` takes: ``(input_ids, attention_mask) -> TopKEngineBackend`` over
        ``model`` with ``max_k`` (checked here, before any batch)."""
        _check_max_k(max_k)
        return functools.partial(cls, model, max_k=max_k)

    @property
    def forward_passes(self) -> int:
        return self._stepper.forward_passes

    def prefill(self, read: Sequence[int]) -> _EngineScores:
        with torch.inference_mode():
            logits = self._stepper.prefill()
        return self._answer(logits)

    def expand(self, parents: Sequence[int], tokens: Sequence[int], read: Sequence[int]) -> _EngineScores:
        with torch.inference_mode():
            logits = self._stepper.step(torch.tensor(parents, dtype=torch.long), torch.tensor(tokens, dtype=torch.long))
        return self._answer(logits)

    def _answer(self, logits: torch.Tensor) -> _EngineScores:
        """What the engine sends back: the top ``max_k`` float64 log-probabilities of each row and the log of the
        rest, read as the HF backend reads a row's top (:func:`~marginal_generate.decoding.step_scores.top_logprobs`:
        the two agree bit for bit)."""
        vocab = logits.shape[-1]
        normalizer = normalizers(logits)
        values, ids = top_logprobs(logits, min(self.max_k, vocab), normalizer)
        rest = logits.to(torch.float64, copy=True).scatter_(-1, ids, -math.inf)
        return _EngineScores(TopTokens(values, ids, torch.logsumexp(rest, dim=-1) - normalizer), vocab)
