"""Reading labels out of a guard model's text, for whole completions and for prefixes.

A Llama Guard answer is ``safe``, or ``unsafe`` with a second line of comma-separated
category ids (``S1,S10``). :class:`LlamaGuardParser` reads the label set of a complete
answer and, for a *prefix* of an answer, which labels every continuation is certain to
contain (``confirmed``) and which it still may contain (``possible``). The tree search
credits a label at the first prefix that confirms it, which is exact because every
continuation of that prefix inherits it.

>>> parser = LlamaGuardParser(categories=("S1", "S10"))
>>> sorted(parser.parse("\\n\\nunsafe\\nS10,S1"))
['S1', 'S10', 'unsafe']
>>> state = parser.prefix_state("\\n\\nunsafe\\nS1", finished=False)
>>> sorted(state.confirmed), state.final     # "S1" may still become "S10"
(['unsafe'], False)
>>> sorted(parser.prefix_state("\\n\\nunsafe\\nS1,", finished=False).confirmed)
['S1', 'unsafe']
"""

from __future__ import annotations

from .grammar import Slot, Verbalizer
from .prefix_state import LabelSpan, PrefixState

__all__ = ["LlamaGuardParser"]

_MOST_FOUND = 4096  # states kept per kind of category line (each a set of ids some prefix wrote)


class LlamaGuardParser:
    """The Llama Guard output format: first line ``safe``/``unsafe``, second line the ids.

    Rules (both for complete answers and for prefixes):

    - leading whitespace of the answer is skipped (Llama Guard 3 writes a blank line first);
    - the first line, stripped, equal to ``positive`` gives the positive label;
    - only then, each comma-separated item of the second line, stripped, that exactly
      equals a category id gives that category; ``S1`` is never read from ``S10`` and a
      repeated id counts once; lines after the second are ignored.

    In a prefix, an item is complete once a comma, a newline or the end of the answer
    follows it; the first line once a newline or the end follows it.

    >>> p = LlamaGuardParser(categories=("S1", "S2"))
    >>> sorted(p.parse("unsafe\\n S2 , S1,S1\\nS3"))
    ['S1', 'S2', 'unsafe']
    >>> sorted(p.parse("unsafe now\\nS1"))
    []
    >>> p.prefix_state("uns", finished=False).final
    False
    >>> p.prefix_state("saf", finished=False).final      # can no longer become unsafe
    True
    """

    def __init__(self, categories: tuple[str, ...] | list[str], positive: str = "unsafe", negative: str = "safe"):
        categories = tuple(categories)
        if len(set(categories)) != len(categories):
            raise ValueError(f"`categories` must be distinct, got {list(categories)}; remove the repeated ids.")
        for c in categories:
            if not c or c != c.strip() or "," in c or "\n" in c:
                raise ValueError(
                    f"`categories` contains {c!r}, which cannot be read from a comma-separated line; "
                    "use ids without commas, newlines or surrounding spaces, such as 'S1'."
                )
        if positive in categories:
            raise ValueError(f"`positive` label {positive!r} is also a category id; give them distinct names.")
        self.categories = categories
        self.positive = positive
        self.negative = negative
        self.labels: tuple[str, ...] = (positive, *categories)
        self._category_set = frozenset(categories)
        self.verbalizer = Verbalizer(label=positive, positive=positive, negative=negative)
        self.slots = (Slot({c: c for c in categories}, ((f"{positive}\n", ""),), (",", "\n")),)
        self.words = (negative, *self.labels)
        # the states prefix_state returns most often, shared
        self._everything = frozenset(self.labels)
        self._nothing = PrefixState(confirmed=frozenset())
        self._open = PrefixState(confirmed=frozenset(), possible=self._everything)
        self._positive_only = PrefixState(confirmed=frozenset({positive}))
        self._positive_open = PrefixState(confirmed=frozenset({positive}), possible=self._everything - {positive})
        self._one = {c: frozenset({c}) for c in categories}  # written() answers with these
        # the states of prefixes whose category line holds these ids: line open, line closed
        self._found: tuple[dict[frozenset[str], PrefixState], dict[frozenset[str], PrefixState]] = ({}, {})
        self._id_starts = frozenset(c[:k] for c in categories for k in range(len(c) + 1))

    def spans(self, text: str) -> list[LabelSpan]:
        """Every label of a complete answer with the span it was read from (first occurrence).

        >>> [(s.label, s.start, s.end) for s in LlamaGuardParser(("S1",)).spans("\\n\\nunsafe\\nS1")]
        [('unsafe', 2, 8), ('S1', 9, 11)]
        """
        return self._read(text, finished=True)[0]

    def parse(self, text: str) -> frozenset[str]:
        """The label set of a complete answer."""
        return frozenset(s.label for s in self.spans(text))

    def well_formed(self, text: str, lead: str = "") -> bool:
        """Whether a complete answer is exactly in the output format: after leading whitespace, ``negative``, or
        ``positive``, a newline and distinct category ids joined by commas, and nothing else. With ``lead`` the
        answer must also start with it (Llama Guard 3 writes a blank line first: ``lead="\\n\\n"``).

        :meth:`parse` is lenient (spaces around ids, a repeated id, extra lines); this is the strict reading that
        an output-format check counts.

        >>> p = LlamaGuardParser(categories=("S1", "S2"))
        >>> [p.well_formed(t) for t in ["\\n\\nsafe", "\\n\\nunsafe\\nS2,S1", "unsafe\\nS2,S2", "unsafe\\nS1, S2"]]
        [True, True, False, False]
        >>> bad = ["unsafe", "unsafe\\n", "unsafe\\nS1,", "unsafe\\nS3", "safe\\n", "unsafe\\nS1\\n"]
        >>> [p.well_formed(t) for t in bad]
        [False, False, False, False, False, False]
        >>> p.well_formed("\\n\\nsafe", lead="\\n\\n"), p.well_formed("safe", lead="\\n\\n")
        (True, False)
        """
        if not text.startswith(lead):
            return False
        body = text.lstrip()
        if body == self.negative:
            return True
        head, newline, ids = body.partition("\n")
        items = ids.split(",")
        return (
            head == self.positive
            and bool(newline)
            and all(item in self._category_set for item in items)
            and len(set(items)) == len(items)
        )

    def item_starts(self, text: str) -> list[int]:
        """Character offsets where each item of the category line starts, spaces skipped.

        Only defined when the first line reads ``positive``; empty otherwise.

        >>> LlamaGuardParser(("S1", "S2")).item_starts("unsafe\\nS1, S2")
        [7, 11]
        """
        return self._read(text, finished=False)[2]

    def open_item_start(self, text: str) -> int | None:
        """Where the category-line item that ``text`` ends inside starts, or None.

        None when the first line is not (yet) ``positive`` or the category line is closed.

        >>> p = LlamaGuardParser(("S1", "S2"))
        >>> p.open_item_start("unsafe\\nS1,S"), p.open_item_start("unsafe\\nS1\\n"), p.open_item_start("safe\\n")
        (10, None, None)
        """
        offset = len(text) - len(text.lstrip())
        if text[offset:].count("\n") != 1:
            return None
        starts = self._read(text, finished=False)[2]
        return starts[-1] if starts else None

    def open_item(self, text: str) -> tuple[int, int] | None:
        """``(0, start)`` for the open category-line item (see :meth:`open_item_start`), or None."""
        start = self.open_item_start(text)
        return None if start is None else (0, start)

    def written(self, text: str) -> tuple[frozenset[str], bool]:
        """What a prefix has written but not confirmed: ``positive`` while the first line reads exactly it and is not
        closed; on the category line the id its open item spells (``S1`` may still become ``S10``). Second: whether
        the open item may still be a label (``S``, ``S1``, nothing yet after a comma; not ``S1x``).

        >>> p = LlamaGuardParser(("S1", "S10"))
        >>> [p.written(t) for t in ["\\n\\nunsafe", "unsafe\\nS1,S10", "unsafe\\nS1x", "unsafe\\nS"]]
        [(frozenset({'unsafe'}), True), (frozenset({'S10'}), True), (frozenset(), False), (frozenset(), True)]
        """
        body = text.lstrip()
        newline = body.find("\n")
        if newline < 0:
            return (self._positive_only.confirmed if body.rstrip() == self.positive else frozenset()), True
        item = body[newline + 1 :].rsplit(",", 1)[-1]
        stripped = item.strip()
        if stripped in self._category_set:
            return self._one[stripped], True
        return frozenset(), item.lstrip() in self._id_starts  # some id may still follow what the item spells

    def prefix_state(self, text: str, finished: bool) -> PrefixState:
        """What a prefix decides; ``finished`` marks a complete answer (EOS or length limit).

        The labels :meth:`spans` would read, without their spans: the search asks this of thousands of prefixes per
        call, so it reads the two lines with ``find`` and one ``split`` and returns shared states where it can
        (``tests/test_llama_guard_prefix_state.py`` checks it against the reading through spans).

        >>> p = LlamaGuardParser(categories=("S1", "S10"))
        >>> [sorted(p.prefix_state(t, False).confirmed) for t in ["\\n\\nuns", "unsafe\\nS1", "unsafe\\nS1,S10,"]]
        [[], ['unsafe'], ['S1', 'S10', 'unsafe']]
        """
        body = text.lstrip()
        newline = body.find("\n")
        if newline < 0:  # still on the first line (or the answer ended on it)
            if finished:
                return self._positive_only if body.rstrip() == self.positive else self._nothing
            may_be_positive = self.positive.startswith(body) or body.rstrip() == self.positive
            return self._open if may_be_positive else self._nothing
        if body[:newline].strip() != self.positive:
            return self._nothing
        rest = body[newline + 1 :]
        end = rest.find("\n")
        second_done = finished or end >= 0
        items = (rest if end < 0 else rest[:end]).split(",")
        if not second_done:
            items.pop()  # the open item: a comma, a newline or the end still has to close it
        found = self._category_set.intersection(map(str.strip, items))
        if not found:
            return self._positive_only if second_done else self._positive_open
        states = self._found[second_done]
        state = states.get(found)
        if state is None:  # one state per set of ids found (a search reads thousands of prefixes, a few sets)
            if len(states) >= _MOST_FOUND:
                states.clear()
            confirmed = frozenset((self.positive, *found))
            possible = frozenset() if second_done else self._everything - confirmed
            state = states[found] = PrefixState(confirmed=confirmed, possible=possible)
        return state

    def _read(self, text: str, finished: bool) -> tuple[list[LabelSpan], set[str], list[int]]:
        offset = len(text) - len(text.lstrip())
        body = text[offset:]
        lines = body.split("\n")
        first = lines[0]
        first_done = finished or len(lines) > 1
        everything = set(self.labels)
        if not first_done:
            head = first.strip()
            may_be_positive = self.positive.startswith(first.lstrip()) or (head == self.positive)
            return [], (everything if may_be_positive else set()), []
        if first.strip() != self.positive:
            return [], set(), []
        start = offset + len(first) - len(first.lstrip())
        spans = [LabelSpan(self.positive, start, start + len(self.positive))]
        if len(lines) == 1:  # finished after the first line
            return spans, set(), []
        second = lines[1]
        second_done = finished or len(lines) > 2
        position = offset + len(first) + 1
        items = second.split(",")
        seen: set[str] = set()
        starts: list[int] = []
        for k, item in enumerate(items):
            begin = position + len(item) - len(item.lstrip())
            starts.append(begin)
            item_done = second_done or k < len(items) - 1
            stripped = item.strip()
            if item_done and stripped in self._category_set and stripped not in seen:
                seen.add(stripped)
                spans.append(LabelSpan(stripped, begin, begin + len(stripped)))
            position += len(item) + 1
        possible = set() if second_done else everything
        return spans, possible, starts
