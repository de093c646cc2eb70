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
from collections.abc import Sequence
from typing import Literal

import torch

from ..labels.space import LabelSpace
from .first_word import FirstWordReader
from .search import Node
from .token_text import TokenText

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
        strategies: the strategies that will be read (:meth:`read`); None: all of
            :data:`GREEDY_PATH_STRATEGIES`. The recorder keeps only what they read: with none of them (``any_place``
            alone) it keeps the greedy tokens (the texts, ``greedy``) and reads no next-token distribution
            (:attr:`reads_rows` is False: the search then makes none for the greedy path).
    """

    def __init__(
        self,
        space: LabelSpace,
        batch_size: int,
        eos_token_ids: set[int],
        normalization: Normalization = "label_tokens",
        strategies: Sequence[str] | None = None,
    ) -> None:
        self.space = space
        self.eos_token_ids = eos_token_ids
        self.normalization = normalization
        self.strategies = tuple(
            GREEDY_PATH_STRATEGIES if strategies is None else (s for s in strategies if s in GREEDY_PATH_STRATEGIES)
        )
        wanted = set(self.strategies)
        self._reads_logprobs = bool(wanted & {"token_probability", "fixed_place"})
        # the category positions, and the lookaheads of label_normalization="vocab" (rows of the search's frontier)
        self._reads_positions = normalization == "vocab" or bool(wanted & {"max_over_generations", "first_generation"})
        reads_first = bool(wanted & {"first_token", "max_over_generations", "first_generation"})
        #: Whether :meth:`observe` reads its ``logprobs`` (else it may be given None).
        self.reads_rows = self._reads_logprobs or self._reads_positions or reads_first
        self.tokens: list[list[int]] = [[] for _ in range(batch_size)]
        self.logprobs: list[list[float]] = [[] for _ in range(batch_size)]
        self.answer: list[tuple[float, float] | None] = [None] * batch_size
        self.positions: list[list[dict[str, float]]] = [[] for _ in range(batch_size)]
        self.position_slots: list[list[int]] = [[] for _ in range(batch_size)]  # the slot of each position
        self._slots = space.slot_tokens
        self._masks: dict[int, torch.Tensor] = {}
        self._open_items: dict[str, tuple[int, int] | None] = {}
        self._verbalized = space.index[space.verbalizer.label] if space.verbalizer is not None else None
        self._text = TokenText(space.tokenizer)
        self._own_decode = type(space).decode is LabelSpace.decode  # else the space's own decode reads the slots
        self._first_word = (
            FirstWordReader(
                space.tokenizer,
                batch_size,
                eos_token_ids,
                space.verbalizer_ids,
                text=self._text,
                decode=None if self._own_decode else lambda tokens: space.decode(list(tokens)),
            )
            if space.verbalizer_ids is not None and reads_first
            else None
        )

    # ---- called by the search loop ----------------------------------------------------------
    def observe(self, node: Node, depth: int, logprobs: torch.Tensor | None, token: int) -> list[Node]:
        """Record one greedy step of ``node``'s prompt: ``token`` and the step's float64 log-probabilities
        ``[vocab]`` (None where :attr:`reads_rows` is False); returns the lookahead nodes to run."""
        row = node.row
        self.tokens[row].append(token)
        if not self.reads_rows:
            return []
        assert logprobs is not None, "GreedyRecorder.observe reads the step's log-probabilities (reads_rows)"
        if self._reads_logprobs:
            self.logprobs[row].append(float(logprobs[token]))
        if self._first_word is not None and self.answer[row] is None:
            self.answer[row] = self._first_word.feed(row, token, logprobs)
        if not self._slots or not self._reads_positions:
            return []
        text = self._text.decode(tuple(node.tokens)) if self._own_decode else self.space.decode(list(node.tokens))
        item = self._open_items.get(text, False)
        if item is False:  # the grammar's reading of a text: the same for every row and step that writes it
            item = self._open_items[text] = self.space.grammar.open_item(text)
        if item is None:
            return []
        slot_index, start = item
        slot = self._slots[slot_index]
        if text[start:] != slot.common_text:
            return []
        position = len(self.positions[row])
        self.position_slots[row].append(slot_index)
        if self.normalization == "label_tokens":
            branch_ids = slot.branch_ids
            restricted = dict(zip(branch_ids, torch.softmax(logprobs[branch_ids], dim=-1).tolist()))
            self.positions[row].append(
                {
                    label: sum(restricted[t] for t in slot.first[option])
                    for option, label in slot.labels.items()
                    if label is not None
                }
            )
            return []
        self.positions[row].append({})
        lookaheads = []
        common = len(slot.common)
        for option, label in slot.labels.items():
            if label is None:
                continue
            ids = slot.ids[option]
            first = ids[common]
            lookaheads.append(
                Node(
                    row,
                    node.tokens + (first,),
                    node.state,
                    forced=tuple(ids[common + 1 :]),
                    logp=float(logprobs[first]),
                    tag=(row, position, label, slot_index),
                )
            )
        return lookaheads

    def delimiter_mask(self, vocab_size: int, tag: tuple | None = None) -> torch.Tensor:
        """Tokens that end an option of the lookahead's slot (``tag``; the first slot without one), and EOS."""
        slot = tag[3] if tag is not None and len(tag) > 3 else 0
        mask = self._masks.get(slot)
        if mask is None or mask.shape[0] != vocab_size:
            base = self.space.slot_delimiter_mask(slot)
            mask = torch.zeros(vocab_size, dtype=torch.bool)
            n = min(vocab_size, base.shape[0])
            mask[:n] = base[:n]
            for eos in self.eos_token_ids:
                if eos < vocab_size:
                    mask[eos] = True
            self._masks[slot] = mask
        return mask

    def lookahead_done(self, tag: tuple, logprob: float) -> None:
        row, position, label = tag[:3]
        self.positions[row][position][label] = math.exp(logprob)

    # ---- strategies ---------------------------------------------------------------------------
    def read(self, strategy: str) -> torch.Tensor:
        """``[batch, labels]`` float64 scores of one of :data:`GREEDY_PATH_STRATEGIES`.

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> tok = word_level_tokenizer(["safe", "unsafe", "S1", ","])
        >>> space = LabelSpace(tok, categories=["S1"])
        >>> recorder = GreedyRecorder(space, 1, {tok.eos_token_id})
        >>> recorder.read("greedy").tolist()  # nothing observed yet: an empty completion
        [[0.0, 0.0]]
        >>> recorder.read("any_place")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `strategy` must be one of ['greedy', 'first_token', 'token_probability', 'fixed_place'...
        >>> tokens_only = GreedyRecorder(space, 1, {tok.eos_token_id}, strategies=["any_place"])
        >>> tokens_only.reads_rows, tokens_only.read("greedy").tolist()
        (False, [[0.0, 0.0]])
        >>> tokens_only.read("fixed_place")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `strategy` 'fixed_place' was not recorded: this GreedyRecorder keeps what [] read; name it in ...
        """
        if strategy not in GREEDY_PATH_STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {list(GREEDY_PATH_STRATEGIES)} (the "
                "strategies read from one decoded path), "
                f"got {strategy!r}."
            )
        if strategy != "greedy" and strategy not in self.strategies:  # greedy reads the tokens, always kept
            raise ValueError(
                f"`strategy` {strategy!r} was not recorded: this GreedyRecorder keeps what "
                f"{list(self.strategies)} read; name it in GreedyRecorder(strategies=...)."
            )
        if strategy == "first_generation":
            return self.max_over_generations(first_only=True)
        return getattr(self, strategy)()

    def texts(self) -> list[str]:
        return [self.space.decode(tokens) for tokens in self.tokens]

    def greedy(self) -> torch.Tensor:
        """1.0 for each label the parser reads in the greedy completion."""
        return torch.tensor([self.space.one_hot(self.space.parse(t)) for t in self.texts()], dtype=torch.float64)

    def first_token(self) -> torch.Tensor:
        """p(positive) over the two verbalizer tokens where the answer's first word starts, in the verbalizer's column;
        NaN elsewhere."""
        self.space.check_strategy("first_token")
        out = torch.full((len(self.tokens), len(self.space.labels)), math.nan, dtype=torch.float64)
        for row, answer in enumerate(self.answer):
            if answer is not None:
                out[row, self._verbalized] = answer[0]
        return out

    def token_probability(self) -> torch.Tensor:
        """Product of the probabilities of the greedy tokens that overlap each label's span."""
        return self._from_spans(cumulative=False)

    def fixed_place(self) -> torch.Tensor:
        """Product of the greedy path's token probabilities up to the label's last token."""
        return self._from_spans(cumulative=True)

    def max_over_generations(self, first_only: bool = False) -> torch.Tensor:
        """Max over label-generation steps of each label's probability there (``first_only``: the first step of each
        slot only, ``first_generation``).

        A label-generation step is a greedy step where an option of a grammar slot starts (a category
        id, a label name, a field's value). The verbalizer's label (``unsafe``, a yes/no policy) is read
        where the answer's first word starts: the restricted softmax (``label_tokens``) or the
        full-vocabulary probability of its first token (``vocab``).

        ``first_generation`` reads each slot at its own first step: Llama Guard's category line and a label list
        have one slot (the first id or name written), while WildGuard's answer has a slot per field, so each
        field's labels are read where that field's value starts (the first step of the whole answer would read
        ``Harmful request`` only, and give every later field 0).
        """
        out = torch.zeros((len(self.tokens), len(self.space.labels)), dtype=torch.float64)
        for row, positions in enumerate(self.positions):
            answer = self.answer[row]
            if answer is not None:
                out[row, self._verbalized] = answer[0] if self.normalization == "label_tokens" else answer[1]
            slots = self.position_slots[row]
            firsts = {slot: k for k, slot in reversed(list(enumerate(slots)))}  # each slot's first position
            chosen = [positions[k] for k in sorted(firsts.values())] if first_only else positions
            for position in chosen:
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
