"""The greedy-path recorder and the strategies read from it.

One greedy decode gives every strategy below; :class:`GreedyRecorder` keeps, per prompt and
step, the chosen token and its log-probability, the verbalizer distribution at the step where
the answer's first word starts, and the category distribution at each step where a category
id starts (see the strategy definitions in :mod:`marginal_generate.generate`).

Token spans: the characters each greedy token adds to the decoded completion. A label read
from the completion covers a character span; the tokens whose spans overlap it are the
label's tokens (so ``S`` + ``10`` and ``,S`` + ``1`` both work).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..labels.space import LabelSpace
from .search import Node

__all__ = ["GREEDY_PATH_STRATEGIES", "GreedyRecorder", "token_spans"]

Normalization = Literal["label_tokens", "vocab"]

#: The strategies :meth:`GreedyRecorder.read` computes from one decoded path.
GREEDY_PATH_STRATEGIES: tuple[str, ...] = (
    "greedy",
    "first_token",
    "token_probability",
    "fixed_place",
    "max_over_generations",
    "first_generation",
)


def token_spans(space: LabelSpace, tokens: list[int]) -> list[tuple[int, int]]:
    """Character span ``[start, end)`` that each token adds to the decoded text.

    >>> from marginal_generate.testing import byte_level_tokenizer
    >>> from marginal_generate.labels.space import LabelSpace
    >>> tok = byte_level_tokenizer()
    >>> space = LabelSpace.llama_guard(tok)
    >>> ids = tok("unsafe\\nS10,S1", add_special_tokens=False)["input_ids"]
    >>> token_spans(space, ids)
    [(0, 6), (6, 7), (7, 8), (8, 10), (10, 12), (12, 13)]
    """
    spans = []
    previous = 0
    for k in range(len(tokens)):
        length = len(space.decode(tokens[: k + 1]))
        spans.append((previous, max(previous, length)))
        previous = max(previous, length)
    return spans


class GreedyRecorder:
    """Observes the greedy path of each prompt during :func:`~marginal_generate.decoding.search.run_search`.

    Args:
        space: the label space.
        batch_size: number of prompts.
        eos_token_ids: the model's end-of-sequence ids (they end a category id too).
        normalization: how ``max_over_generations`` reads a category position:
            ``"label_tokens"`` (softmax restricted to the ids' distinguishing tokens) or
            ``"vocab"`` (full-vocabulary probability of the exact id, by lookahead).
    """

    def __init__(
        self,
        space: LabelSpace,
        batch_size: int,
        eos_token_ids: set[int],
        normalization: Normalization = "label_tokens",
    ) -> None:
        self.space = space
        self.eos_token_ids = eos_token_ids
        self.normalization = normalization
        self.tokens: list[list[int]] = [[] for _ in range(batch_size)]
        self.logprobs: list[list[float]] = [[] for _ in range(batch_size)]
        self.answer: list[tuple[float, float] | None] = [None] * batch_size
        self.positions: list[list[dict[str, float]]] = [[] for _ in range(batch_size)]
        common, branch = space.branch
        self._common_text = space.decode(list(common))
        self._common = len(common)
        self._branch = branch
        self._branch_ids = sorted(set(branch.values()))
        self._mask: torch.Tensor | None = None

    # ---- called by the search loop ----------------------------------------------------------
    def observe(self, node: Node, depth: int, logprobs: torch.Tensor, token: int) -> list[Node]:
        row = node.row
        self.tokens[row].append(token)
        self.logprobs[row].append(float(logprobs[token]))
        if self.answer[row] is None and (token in self.eos_token_ids or self.space.decode([token]).strip()):
            negative, positive = self.space.verbalizer_ids
            neg = float(torch.logsumexp(logprobs[list(negative)], dim=-1))
            pos = float(torch.logsumexp(logprobs[list(positive)], dim=-1))
            self.answer[row] = (_sigmoid(pos - neg), math.exp(pos))
        text = self.space.decode(list(node.tokens))
        start = self.space.parser.open_item_start(text)
        if start is None or text[start:] != self._common_text:
            return []
        position = len(self.positions[row])
        if self.normalization == "label_tokens":
            restricted = torch.softmax(logprobs[self._branch_ids], dim=-1)
            by_token = dict(zip(self._branch_ids, restricted.tolist()))
            self.positions[row].append({c: by_token[t] for c, t in self._branch.items()})
            return []
        self.positions[row].append({})
        lookaheads = []
        for c, ids in self.space.category_token_ids.items():
            first = ids[self._common]
            lookaheads.append(
                Node(
                    row,
                    node.tokens + (first,),
                    node.state,
                    forced=tuple(ids[self._common + 1 :]),
                    logp=float(logprobs[first]),
                    tag=(row, position, c),
                )
            )
        return lookaheads

    def delimiter_mask(self, vocab_size: int) -> torch.Tensor:
        if self._mask is None or self._mask.shape[0] != vocab_size:
            base = self.space.delimiter_mask
            mask = torch.zeros(vocab_size, dtype=torch.bool)
            n = min(vocab_size, base.shape[0])
            mask[:n] = base[:n]
            for eos in self.eos_token_ids:
                if eos < vocab_size:
                    mask[eos] = True
            self._mask = mask
        return self._mask

    def lookahead_done(self, tag: tuple[int, int, str], logprob: float) -> None:
        row, position, category = tag
        self.positions[row][position][category] = math.exp(logprob)

    # ---- strategies ---------------------------------------------------------------------------
    def read(self, strategy: str) -> torch.Tensor:
        """``[batch, labels]`` float64 scores of one of :data:`GREEDY_PATH_STRATEGIES`.

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> tok = word_level_tokenizer(["safe", "unsafe", "S1", ","])
        >>> space = LabelSpace(tok, categories=["S1"])
        >>> recorder = GreedyRecorder(space, 1, {tok.eos_token_id})
        >>> recorder.read("greedy").tolist()  # nothing observed yet: an empty completion
        [[0.0, 0.0]]
        >>> recorder.read("any_place")
        Traceback (most recent call last):
        ...
        ValueError: `strategy` must be one of ['greedy', 'first_token', 'token_probability', 'fixed_place', 'max_over_generations', 'first_generation'] (the strategies read from one decoded path), got 'any_place'.
        """
        if strategy == "first_generation":
            return self.max_over_generations(first_only=True)
        if strategy not in GREEDY_PATH_STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {list(GREEDY_PATH_STRATEGIES)} (the strategies read from one decoded path), "
                f"got {strategy!r}."
            )
        return getattr(self, strategy)()

    def texts(self) -> list[str]:
        return [self.space.decode(tokens) for tokens in self.tokens]

    def greedy(self) -> torch.Tensor:
        """1.0 for each label the parser reads in the greedy completion."""
        return torch.tensor([self.space.one_hot(self.space.parse(t)) for t in self.texts()], dtype=torch.float64)

    def first_token(self) -> torch.Tensor:
        """p(unsafe) over the two verbalizer tokens where the answer's first word starts; NaN for categories."""
        out = torch.full((len(self.tokens), len(self.space.labels)), math.nan, dtype=torch.float64)
        for row, answer in enumerate(self.answer):
            if answer is not None:
                out[row, 0] = answer[0]
        return out

    def token_probability(self) -> torch.Tensor:
        """Product of the probabilities of the greedy tokens that overlap each label's span."""
        return self._from_spans(cumulative=False)

    def fixed_place(self) -> torch.Tensor:
        """Product of the greedy path's token probabilities up to the label's last token."""
        return self._from_spans(cumulative=True)

    def max_over_generations(self, first_only: bool = False) -> torch.Tensor:
        """Max over category positions of each category's probability there (the first position only if ``first_only``).

        The ``unsafe`` column is read where the answer's first word starts: the restricted
        softmax (``label_tokens``) or the full-vocabulary probability of its first token (``vocab``).
        """
        out = torch.zeros((len(self.tokens), len(self.space.labels)), dtype=torch.float64)
        for row, positions in enumerate(self.positions):
            answer = self.answer[row]
            if answer is not None:
                out[row, 0] = answer[0] if self.normalization == "label_tokens" else answer[1]
            for position in positions[:1] if first_only else positions:
                for c, p in position.items():
                    k = self.space.index[c]
                    out[row, k] = max(float(out[row, k]), p)
        return out

    def _from_spans(self, cumulative: bool) -> torch.Tensor:
        out = torch.zeros((len(self.tokens), len(self.space.labels)), dtype=torch.float64)
        for row, tokens in enumerate(self.tokens):
            spans = token_spans(self.space, tokens)
            logps = self.logprobs[row]
            for label in self.space.parser.spans(self.space.decode(tokens)):
                steps = [k for k, (a, b) in enumerate(spans) if a < label.end and b > label.start]
                chosen = range(steps[-1] + 1) if cumulative else steps
                out[row, self.space.index[label.label]] = math.exp(sum(logps[k] for k in chosen))
        return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
