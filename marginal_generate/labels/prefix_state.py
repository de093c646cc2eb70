"""What an output grammar says about a text: the labels it reads, and what a prefix already decides.

Every grammar's parser returns these: :class:`LabelSpan` for a label read from a complete
answer, :class:`PrefixState` for a prefix (the tree search credits a label at the first prefix
whose state confirms it).

>>> state = PrefixState(confirmed=frozenset({"unsafe"}), possible=frozenset({"S1"}))
>>> state.final
False
>>> PrefixState(confirmed=frozenset()).final
True

A prefix can end inside a character: byte-level tokenizers split a multi-byte UTF-8 character (a no-break
space is bytes C2 A0, ``é`` is C3 A9) over two tokens, and the first decodes to U+FFFD. The next token may
complete it, so :func:`readable_prefix` holds such trailing characters back before a grammar reads the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LabelSpan", "PrefixState", "readable_prefix", "REPLACEMENT"]

#: What a decoder writes for bytes that are not (yet) a whole UTF-8 character.
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class LabelSpan:
    """A label read from a text, with the character span ``[start, end)`` it was read from."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class PrefixState:
    """What a prefix of an answer already decides.

    ``confirmed``: labels in the label set of every continuation.
    ``possible``: labels some continuation may still add (``confirmed`` excluded).
    ``final``: no continuation can change the label set (``possible`` is empty).
    """

    confirmed: frozenset[str]
    possible: frozenset[str] = field(default_factory=frozenset)

    @property
    def final(self) -> bool:
        return not self.possible


def readable_prefix(text: str, finished: bool) -> str:
    """The part of a decoded answer prefix that no continuation can change.

    An unfinished prefix holds back its trailing U+FFFD characters: they may be the first bytes of a character
    the next tokens complete (``Yes`` + byte C3 decodes to ``Yes\ufffd`` and may become ``Yesé``, a different
    first word). A finished answer is read as decoded, as the final parse reads it. Holding back a U+FFFD that
    no continuation completes (an invalid byte) only leaves the prefix open one token longer: the label is
    credited later, at the prefix or answer that decides it, so the bounds stay exact.

    >>> readable_prefix("Yes\ufffd", finished=False), readable_prefix("Yes\ufffd", finished=True)
    ('Yes', 'Yes\ufffd')
    >>> readable_prefix("a\ufffdb", finished=False)  # inside the text: already decided
    'a\ufffdb'
    """
    return text if finished else text.rstrip(REPLACEMENT)
