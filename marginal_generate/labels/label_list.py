"""The label-list grammar: an instruct model names the labels of a text (Ma et al.).

The answer lists label names separated by ``separator`` (spaces around items ignored) on its first
line (leading blank lines skipped, later lines ignored), or writes ``none``. An item that is not a
label counts as no label; a repeated label counts once. An item is complete once a separator, a
newline or the end of the answer follows it, so ``sad`` is never read from ``sadness``.

>>> p = LabelListParser(["sad", "sadness", "anger", "anticipation"])
>>> sorted(p.parse("sadness, anger, happy"))
['anger', 'sadness']
>>> p.prefix_state("sad", finished=False).confirmed       # may still become "sadness"
frozenset()
>>> sorted(p.prefix_state("sad,", finished=False).confirmed)
['sad']
>>> p.parse("none"), p.prefix_state("none\\n", finished=False).final
(frozenset(), True)
"""

from __future__ import annotations

from collections.abc import Sequence

from .grammar import Slot, check_names, written_in_slot
from .prefix_state import LabelSpan, PrefixState

__all__ = ["LabelListParser", "read_items"]


def read_items(line: str, offset: int, separator: str, line_done: bool) -> list[tuple[int, str, bool]]:
    """``(start, stripped item, complete)`` for each item of a ``separator``-separated line at ``offset``.

    >>> read_items("a, bb ,c", 10, ",", line_done=False)
    [(10, 'a', True), (13, 'bb', True), (17, 'c', False)]
    """
    out = []
    position = offset
    parts = line.split(separator)
    for k, item in enumerate(parts):
        begin = position + len(item) - len(item.lstrip())
        out.append((begin, item.strip(), line_done or k < len(parts) - 1))
        position += len(item) + len(separator)
    return out


class LabelListParser:
    """Label names separated by ``separator``, or ``none``; see the module docstring.

    ``case_sensitive=False`` reads ``Joy`` as ``joy`` (labels keep their given spelling).

    >>> LabelListParser(["joy", "none"])
    Traceback (most recent call last):
    ...
    ValueError: `none` word 'none' is also a label; give it a word that is no label, or none=None.
    """

    def __init__(
        self,
        labels: Sequence[str],
        separator: str = ",",
        none: str | None = "none",
        case_sensitive: bool = True,
    ) -> None:
        labels = tuple(labels)
        if not isinstance(separator, str) or not separator.strip() or "\n" in separator:
            raise ValueError(
                f"`separator` must be a non-blank text without newlines, got {separator!r}; use ',' or ';'."
            )
        check_names("labels", labels, (separator, "\n"))
        fold = (lambda s: s) if case_sensitive else str.casefold
        if len({fold(label) for label in labels}) != len(labels):
            raise ValueError(
                f"`labels` {list(labels)} repeat a name up to case, which case_sensitive=False cannot tell apart; "
                "remove the repeats or pass case_sensitive=True."
            )
        if none is not None and fold(none) in {fold(label) for label in labels}:
            raise ValueError(f"`none` word {none!r} is also a label; give it a word that is no label, or none=None.")
        self.labels: tuple[str, ...] = labels
        self.separator = separator
        self.none = none
        self.case_sensitive = case_sensitive
        self._fold = fold
        self._lookup = {fold(label): label for label in labels}
        self.verbalizer = None
        options: dict[str, str | None] = {label: label for label in labels}
        if none is not None:
            options[none] = None
        first = f"{labels[0]}{separator}"
        self.slots = (
            Slot(options, (("", ""), ("", " "), (first, ""), (first, " "), (first + " ", "")), (separator, "\n")),
        )
        self.words = labels + ((none,) if none is not None else ())

    def __repr__(self) -> str:
        return f"LabelListParser(labels={list(self.labels)}, separator={self.separator!r}, none={self.none!r})"

    def label_of(self, item: str) -> str | None:
        """The label an item names, or None."""
        return self._lookup.get(self._fold(item))

    def _read(self, text: str, finished: bool) -> tuple[list[LabelSpan], bool, int | None]:
        offset = len(text) - len(text.lstrip())
        line, newline, _ = text[offset:].partition("\n")
        line_done = finished or bool(newline)
        spans: list[LabelSpan] = []
        seen: set[str] = set()
        open_start = None
        for begin, item, complete in read_items(line, offset, self.separator, line_done):
            if not complete:
                open_start = begin
                continue
            label = self.label_of(item)
            if label is not None and label not in seen:
                seen.add(label)
                spans.append(LabelSpan(label, begin, begin + len(item)))
        return spans, line_done, open_start

    def spans(self, text: str) -> list[LabelSpan]:
        """Every label of a complete answer with the span it was read from (first occurrence).

        >>> [(s.label, s.start, s.end) for s in LabelListParser(["joy", "anger"]).spans(" joy ,anger")]
        [('joy', 1, 4), ('anger', 6, 11)]
        """
        return self._read(text, finished=True)[0]

    def parse(self, text: str) -> frozenset[str]:
        """The label set of a complete answer."""
        return frozenset(s.label for s in self.spans(text))

    def prefix_state(self, text: str, finished: bool) -> PrefixState:
        """What a prefix decides: items closed so far are confirmed; while the line is open every other label is
        possible."""
        spans, line_done, _ = self._read(text, finished)
        confirmed = frozenset(s.label for s in spans)
        possible = frozenset() if line_done else frozenset(self.labels) - confirmed
        return PrefixState(confirmed=confirmed, possible=possible)

    def written(self, text: str) -> tuple[frozenset[str], bool]:
        """The label the open item spells exactly (``sad`` may still become ``sadness``), and whether it may still
        become a label or ``none`` (:func:`~.grammar.written_in_slot`).

        >>> LabelListParser(["sad", "sadness"]).written("joy, sad")
        (frozenset({'sad'}), True)
        """
        return written_in_slot(self, text)

    def open_item(self, text: str) -> tuple[int, int] | None:
        """``(0, start)`` of the item ``text`` ends inside, or None once the line is closed.

        >>> LabelListParser(["joy", "anger"]).open_item("joy, an")
        (0, 5)
        """
        _, line_done, start = self._read(text, finished=False)
        return None if line_done or start is None else (0, start)
