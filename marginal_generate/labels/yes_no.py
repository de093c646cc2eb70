"""The yes/no grammar: one policy per prompt, the answer starts with ``Yes`` or ``No``.

ShieldGemma and Granite Guardian answer this way. The answer's first word (leading spaces and
blank lines skipped; a word is a run of letters and digits) equal to ``yes`` gives ``label``;
anything else gives no label. Text after the first word (ShieldGemma's reasoning) is ignored.

>>> p = YesNoParser("violence")
>>> p.parse("Yes, because..."), p.parse("No"), p.parse("Yesterday")
(frozenset({'violence'}), frozenset(), frozenset())
>>> p.prefix_state("Ye", finished=False).possible, p.prefix_state("Yes ", finished=False).confirmed
(frozenset({'violence'}), frozenset({'violence'}))
"""

from __future__ import annotations

from .grammar import Verbalizer, check_names
from .prefix_state import LabelSpan, PrefixState

__all__ = ["YesNoParser"]


class YesNoParser:
    """``yes`` / ``no`` as the answer's first word decides one label; see the module docstring.

    >>> YesNoParser("harm", yes="Yes", no="Yes")
    Traceback (most recent call last):
    ...
    ValueError: `yes` and `no` are both 'Yes'; pass two different words, such as yes='Yes', no='No'.
    """

    def __init__(self, label: str, yes: str = "Yes", no: str = "No") -> None:
        check_names("label", (label,), ("\n",))
        for name, word in (("yes", yes), ("no", no)):
            if not isinstance(word, str) or not word.isalnum():
                raise ValueError(
                    f"`{name}` must be one word of letters or digits, got {word!r}; use e.g. 'Yes' / 'No'."
                )
        if yes == no:
            raise ValueError(f"`yes` and `no` are both {yes!r}; pass two different words, such as yes='Yes', no='No'.")
        self.label = label
        self.yes = yes
        self.no = no
        self.labels: tuple[str, ...] = (label,)
        self.verbalizer = Verbalizer(label=label, positive=yes, negative=no)
        self.slots = ()
        self.words = (yes, no)

    def __repr__(self) -> str:
        return f"YesNoParser(label={self.label!r}, yes={self.yes!r}, no={self.no!r})"

    def _first_word(self, text: str) -> tuple[int, str, bool]:
        """Start of the first word, the word, and whether something after it ends it."""
        start = len(text) - len(text.lstrip())
        end = start
        while end < len(text) and text[end].isalnum():
            end += 1
        return start, text[start:end], end < len(text)

    def spans(self, text: str) -> list[LabelSpan]:
        """The label with the span of ``yes``, if the complete answer starts with it.

        >>> [(s.label, s.start, s.end) for s in YesNoParser("harm").spans("\\nYes")]
        [('harm', 1, 4)]
        """
        start, word, _ = self._first_word(text)
        return [LabelSpan(self.label, start, start + len(word))] if word == self.yes else []

    def parse(self, text: str) -> frozenset[str]:
        """The label set of a complete answer."""
        return frozenset(s.label for s in self.spans(text))

    def prefix_state(self, text: str, finished: bool) -> PrefixState:
        """Confirmed once the first word is ``yes`` and ended; final once it cannot become ``yes``."""
        start, word, ended = self._first_word(text)
        if finished or ended:
            return PrefixState(confirmed=frozenset(self.labels) if word == self.yes else frozenset())
        return PrefixState(
            confirmed=frozenset(), possible=frozenset(self.labels) if self.yes.startswith(word) else frozenset()
        )

    def written(self, text: str) -> tuple[frozenset[str], bool]:
        """What a prefix has written but not confirmed: the label while the first word reads ``yes`` and is not
        ended yet; second, whether the first word may still become ``yes``.

        >>> p = YesNoParser("harm")
        >>> p.written("Yes"), p.written("Ye"), p.written("Yet"), p.written("No")
        ((frozenset({'harm'}), True), (frozenset(), True), (frozenset(), False), (frozenset(), False))
        """
        _, word, ended = self._first_word(text)
        if ended:
            return frozenset(), False
        return (frozenset(self.labels) if word == self.yes else frozenset()), self.yes.startswith(word)

    def open_item(self, text: str) -> tuple[int, int] | None:
        """No slots: the verbalizer is the label-generation step (``max_over_generations`` reads it)."""
        return None
