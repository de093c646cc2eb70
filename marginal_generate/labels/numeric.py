"""The numeric grammar: the answer is a whole number in ``[low, high]`` (a 0–100 risk score, a 1–5 judge rubric).

Each value is a label (``"0"``, ``"1"``, ..., ``"100"``), so ``any_place`` walks the answers as for any grammar and
its label sets hold at most one value: the per-label probabilities are the distribution over the values, and
``LabelScores.expected_value`` / ``prob_at_least`` read its mean and tail (:mod:`marginal_generate.scores`). The
number is the answer's first run of digits (leading whitespace skipped), written as Python writes the value (no
leading zeros, no sign); it ends at any other character or the end of the answer. A run followed by ``.`` and a
digit is a decimal, which gives no value; so does an answer that starts with anything else, a number out of the
range, or ``07``. Text after the number is ignored. Numbers may take several tokens (``1`` + ``00``): labels are read
from decoded text.

>>> p = NumericParser(1, 5)
>>> p.labels
('1', '2', '3', '4', '5')
>>> p.parse(" 4/5, because ..."), p.parse("4.5"), p.parse("7"), p.parse("Score: 4")
(frozenset({'4'}), frozenset(), frozenset(), frozenset())
>>> s = NumericParser(0, 100).prefix_state("1", finished=False)
>>> sorted(s.possible, key=int)[:4], len(s.possible)
(['1', '10', '11', '12'], 12)
"""

from __future__ import annotations

from .grammar import Slot
from .prefix_state import LabelSpan, PrefixState

__all__ = ["NumericParser", "MAX_VALUES"]

#: The most values a numeric grammar holds (each is a label, a column of the scores).
MAX_VALUES = 1001


class NumericParser:
    """A whole number in ``[low, high]``; see the module docstring.

    >>> NumericParser(5, 1)
    Traceback (most recent call last):
    ...
    ValueError: `low` must be <= `high`, got low=5, high=1; e.g. low=1, high=5 for a 1-5 rubric.
    """

    def __init__(self, low: int, high: int) -> None:
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"`{name}` must be a whole number >= 0, got {value!r}; e.g. low=0, high=100 for a risk score."
                )
        if low > high:
            raise ValueError(
                f"`low` must be <= `high`, got low={low}, high={high}; e.g. low=1, high=5 for a 1-5 rubric."
            )
        if high - low + 1 > MAX_VALUES:
            raise ValueError(
                f"`low`..`high` holds {high - low + 1} values, more than {MAX_VALUES} (each value is a label, a "
                "column of the scores); narrow the range, e.g. 0..100."
            )
        self.low, self.high = low, high
        self.labels: tuple[str, ...] = tuple(str(v) for v in range(low, high + 1))
        self._labels = frozenset(self.labels)
        self.verbalizer = None
        self.slots = (Slot({label: label for label in self.labels}, (("", ""), ("", " ")), ("\n", " ", ".", ",", "/")),)
        self.words = self.labels

    def __repr__(self) -> str:
        return f"NumericParser(low={self.low}, high={self.high})"

    def _read(self, text: str, finished: bool) -> tuple[int, str, bool | None]:
        """``(start, digits, ended)`` of the number: ``ended`` None while it may go on, else whether it is a value
        (False: it reads as no value)."""
        start = len(text) - len(text.lstrip())
        end = start
        while end < len(text) and text[end] in "0123456789":
            end += 1
        digits, rest = text[start:end], text[end:]
        if not digits:
            return start, "", None if not rest and not finished else False
        if not rest or rest == ".":
            return start, digits, True if finished else None
        return start, digits, not (rest[0] == "." and rest[1] in "0123456789")

    def spans(self, text: str) -> list[LabelSpan]:
        """The value of a complete answer with the span it was read from.

        >>> [(s.label, s.start, s.end) for s in NumericParser(0, 100).spans("\\n 42\\n")]
        [('42', 2, 4)]
        """
        start, digits, ended = self._read(text, finished=True)
        return [LabelSpan(digits, start, start + len(digits))] if ended and digits in self._labels else []

    def parse(self, text: str) -> frozenset[str]:
        """The label set of a complete answer: its value, or nothing."""
        return frozenset(s.label for s in self.spans(text))

    def prefix_state(self, text: str, finished: bool) -> PrefixState:
        """Confirmed once the number has ended; while it is open, every value it may still become is possible.

        >>> p = NumericParser(0, 100)
        >>> p.prefix_state("100", finished=False).possible, p.prefix_state("42 ", finished=False).confirmed
        (frozenset({'100'}), frozenset({'42'}))
        >>> p.prefix_state("0", finished=False).possible, p.prefix_state("7.", finished=False).possible
        (frozenset({'0'}), frozenset({'7'}))
        """
        _, digits, ended = self._read(text, finished)
        if ended is None:
            if text.endswith("."):  # "7.": a value unless a digit follows
                return PrefixState(frozenset(), frozenset({digits}) & self._labels)
            return PrefixState(frozenset(), frozenset(v for v in self.labels if v.startswith(digits)))
        value = frozenset({digits}) if ended and digits in self._labels else frozenset()
        return PrefixState(value)

    def open_item(self, text: str) -> tuple[int, int] | None:
        """``(0, start)`` while the number may still change, else None.

        >>> NumericParser(0, 100).open_item(" 4"), NumericParser(0, 100).open_item("4 ")
        ((0, 1), None)
        """
        start, _, ended = self._read(text, finished=False)
        return (0, start) if ended is None and not text.endswith(".") else None
