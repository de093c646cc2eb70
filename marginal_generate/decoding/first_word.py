"""Where the answer's first word starts, read one greedy step at a time (``first_token``'s reading).

``first_token`` (the greedy recorder) and the prompted readings (:func:`~marginal_generate.prompted.read_first_word`:
per-category prompts, unary questions, yes/no policy prompts) read the verbalizer, p(positive) against p(negative)
over the two words' first tokens, at the step where the answer's first non-whitespace *character* starts: the step
whose token writes its first byte. A character split over byte-level tokens is known only once it is whole: a lone
lead byte C2 may become a no-break space (C2 A0, whitespace) or ``©`` (C2 A9), so the step where it began is kept
until then. EOS before any such character: the EOS step (an answer that ends on unfinished bytes: where they began).

>>> from marginal_generate.testing import byte_level_tokenizer
>>> tok = byte_level_tokenizer(["Yes", "No", "\\n", "\\xa0"], vocab_size=20)
>>> newline, c2, a0, yes, no = tok.convert_tokens_to_ids(["Ċ", "Â", "ł", "Yes", "No"])  # "Â" "ł": bytes C2, A0
>>> tok.decode([c2]), tok.decode([c2, a0])
('\\ufffd', '\\xa0')
>>> reader = FirstWordReader(tok, 2, {tok.eos_token_id}, ((no,), (yes,)))
>>> def feed(row, token, p_yes, p_no):  # one step where Yes and No have these, the rest share what is left
...     logprobs = torch.full((len(tok),), (1 - p_yes - p_no) / (len(tok) - 2), dtype=torch.float64)
...     logprobs[yes], logprobs[no] = p_yes, p_no
...     reading = reader.feed(row, token, logprobs.log())
...     return reading and tuple(round(p, 6) for p in reading)
>>> feed(0, newline, 0.1, 0.1) is None  # a newline: whitespace, no word yet
True
>>> feed(0, yes, 0.6, 0.2)  # the first word: p(Yes) against p(No) 0.75, p(Yes) 0.6
(0.75, 0.6)
>>> feed(1, c2, 0.1, 0.3) is None  # byte C2: the start of a character not yet whole
True
>>> feed(1, a0, 0.1, 0.1) is None  # C2 A0: a no-break space, whitespace
True
>>> feed(1, yes, 0.2, 0.6)  # read here (had C2 become "©", C2 A9: at C2's step, 0.25 and 0.1)
(0.25, 0.2)
>>> reader.readings[1] == reader.feed(1, no, torch.zeros(len(tok)))  # known: later steps change nothing
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..labels.prefix_state import REPLACEMENT
from .token_text import TokenText

__all__ = ["FirstWordReader", "Reading", "verbalize"]

#: p(positive) against p(negative) over the verbalizer words' first tokens, and p(positive) over the vocabulary.
Reading = tuple[float, float]


def verbalize(logprobs: torch.Tensor, verbalizer_ids: tuple[Sequence[int], Sequence[int]]) -> Reading:
    """The :data:`Reading` of one step's log-probabilities ``[vocab]``; ``verbalizer_ids``: (negative, positive).

    >>> logprobs = torch.tensor([0.1, 0.3, 0.2, 0.4], dtype=torch.float64).log()
    >>> [round(p, 6) for p in verbalize(logprobs, ((0, 2), (1,)))]  # 0.3 against 0.1 + 0.2; 0.3 of the vocabulary
    [0.5, 0.3]
    """
    negative, positive = verbalizer_ids
    neg = float(torch.logsumexp(logprobs[list(negative)], dim=-1))
    pos = float(torch.logsumexp(logprobs[list(positive)], dim=-1))
    return _sigmoid(pos - neg), math.exp(pos)


class FirstWordReader:
    """Per row, the verbalizer's :data:`Reading` where the answer's first non-whitespace character starts.

    Feed each row's greedy tokens in order with that step's log-probabilities (:meth:`feed`); a row's reading is
    known at the step that shows where that character began (the step itself, a later one for a character split
    over tokens, or EOS), and kept in :attr:`readings` (None while not known).

    Args:
        tokenizer: the tokenizer whose ``decode(ids, skip_special_tokens=True)`` is the answer's text.
        batch_size: number of rows.
        eos_token_ids: the ids that end an answer.
        verbalizer_ids: (negative, positive) first-token ids of the verbalizer's two words.
        text: a :class:`~.token_text.TokenText` of ``tokenizer`` to share (its prefixes' texts are memoized).
        decode: the answer's text of a token prefix where it is not ``tokenizer.decode`` (a label space's own);
            a byte-level tokenizer's bytes are read from ``text`` either way.
    """

    def __init__(
        self,
        tokenizer: Any,
        batch_size: int,
        eos_token_ids: set[int],
        verbalizer_ids: tuple[Sequence[int], Sequence[int]],
        *,
        text: TokenText | None = None,
        decode: Callable[[tuple[int, ...]], str] | None = None,
    ) -> None:
        self.eos_token_ids = eos_token_ids
        self.verbalizer_ids = verbalizer_ids
        self.readings: list[Reading | None] = [None] * batch_size
        self._text = text if text is not None else TokenText(tokenizer)
        self._decode = decode if decode is not None else self._text.decode
        self._tokens: list[list[int]] = [[] for _ in range(batch_size)]
        # per row, while the first word is not found: the reading at the step where a character still unfinished
        # (its first bytes written, held back) began, and the length of the text read so far
        self._pending: list[Reading | None] = [None] * batch_size
        self._settled: list[int] = [0] * batch_size

    def feed(self, row: int, token: int, logprobs: torch.Tensor) -> Reading | None:
        """Read one greedy step of ``row``: its ``token`` and the step's log-probabilities ``[vocab]``; returns the
        row's reading once known (the same reading at every later call), None while not yet."""
        if self.readings[row] is not None:
            return self.readings[row]
        pending = self._pending[row]
        if token in self.eos_token_ids:
            self.readings[row] = pending if pending is not None else verbalize(logprobs, self.verbalizer_ids)
            return self.readings[row]
        self._tokens[row].append(token)
        tokens = tuple(self._tokens[row])
        plan = self._text.plan
        if plan is not None and plan.byte_level:
            readable, tail = self._text.written(tokens)
            held = bool(tail)
        else:
            text = self._decode(tokens)
            held = text.endswith(REPLACEMENT) and self._text.incomplete(tokens)
            readable = text.rstrip(REPLACEMENT) if held else text
        word = readable.lstrip()
        if word:
            began_before = pending is not None and len(readable) - len(word) == self._settled[row]
            self.readings[row] = pending if began_before else verbalize(logprobs, self.verbalizer_ids)
            return self.readings[row]
        if not held:
            self._pending[row] = None
        elif pending is None or len(readable) != self._settled[row]:  # a character begins at this step
            self._pending[row] = verbalize(logprobs, self.verbalizer_ids)
        self._settled[row] = len(readable)
        return None


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
