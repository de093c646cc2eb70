"""What an output grammar says about a text: the labels it reads, and what a prefix already decides.

Every grammar's parser returns these: :class:`LabelSpan` for a label read from a complete
answer, :class:`PrefixState` for a prefix (the tree search credits a label at the first prefix
whose state confirms it).

>>> state = PrefixState(confirmed=frozenset({"unsafe"}), possible=frozenset({"S1"}))
>>> state.final
False
>>> PrefixState(confirmed=frozenset()).final
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LabelSpan", "PrefixState"]


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
