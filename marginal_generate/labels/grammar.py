"""The output-grammar interface: what every parser of a model's answer offers the decoders.

A grammar reads labels out of decoded text (:meth:`Grammar.parse`, :meth:`Grammar.spans`), says
what a prefix already decides (:meth:`Grammar.prefix_state`) and, optionally, what it has written but not
yet confirmed (``written(text)``, which ``any_place``'s estimate reads; :func:`written_in_slot` where a
grammar has no such method), and names the places where the
answer writes one of a few options (a :class:`Slot`: a category id, a label name, a field's value),
which ``max_over_generations`` reads. A grammar whose answer starts with one of two words
(``safe`` / ``unsafe``, ``No`` / ``Yes``) has a :class:`Verbalizer`, which ``first_token`` reads.

The grammars: :class:`~.llama_guard.LlamaGuardParser`, :class:`~.label_list.LabelListParser`,
:class:`~.yes_no.YesNoParser`, :class:`~.fields.FieldsParser`.

>>> from marginal_generate.labels.label_list import LabelListParser
>>> g = LabelListParser(["joy", "anger"])
>>> isinstance(g, Grammar), g.slots[0].options["none"] is None
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .prefix_state import LabelSpan, PrefixState

__all__ = ["Grammar", "Slot", "Verbalizer", "written_in_slot"]


@dataclass(frozen=True)
class Verbalizer:
    """The answer's first word decides ``label``: ``positive`` gives it, ``negative`` does not."""

    label: str
    positive: str
    negative: str


@dataclass(frozen=True)
class Slot:
    """A place where the answer writes one option: a label-generation step of Ma et al.

    ``options``: written text -> its label (None: an option that is no label, such as ``none``).
    ``contexts``: ``(before, lead)`` pairs; the option is tokenized as ``lead + option`` right after
    ``before`` (the first pair is the canonical one, used for the forced lookahead).
    ``delimiters``: the characters that may end an option.
    """

    options: Mapping[str, str | None]
    contexts: tuple[tuple[str, str], ...]
    delimiters: tuple[str, ...]


@runtime_checkable
class Grammar(Protocol):
    """A parser of one answer format (see the module docstring)."""

    labels: tuple[str, ...]
    verbalizer: Verbalizer | None
    slots: tuple[Slot, ...]
    words: tuple[str, ...]  # texts the tokenizer must be able to produce

    def parse(self, text: str) -> frozenset[str]: ...

    def spans(self, text: str) -> list[LabelSpan]: ...

    def prefix_state(self, text: str, finished: bool) -> PrefixState: ...

    def open_item(self, text: str) -> tuple[int, int] | None:
        """``(slot index, start)`` of the option ``text`` ends inside (leading spaces skipped), or None."""
        ...


def written_in_slot(grammar: Grammar, text: str) -> tuple[frozenset[str], bool]:
    """What a prefix has written but not confirmed, read through the grammar's slots: the label of the option its
    open item spells exactly (a delimiter next would confirm it), and whether the item may still become an option.

    A grammar may offer its own ``written(text)`` with the same answer (Llama Guard's first line, a yes/no first
    word are no slots); this is the reading for the others. Outside an open item: nothing written, still viable.

    >>> from marginal_generate.labels.label_list import LabelListParser
    >>> g = LabelListParser(["joy", "anger"])
    >>> written_in_slot(g, "joy, ang"), written_in_slot(g, "joy, anger"), written_in_slot(g, "joy, angry")
    ((frozenset(), True), (frozenset({'anger'}), True), (frozenset(), False))
    """
    found = grammar.open_item(text)
    if found is None:
        return frozenset(), True
    slot, start = found
    item = text[start:].lstrip()
    options = grammar.slots[slot].options
    label = options.get(item.rstrip())
    return (frozenset({label}) if label is not None else frozenset()), any(o.startswith(item) for o in options)


def check_names(argument: str, names: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    """Names must be non-empty, distinct, without surrounding spaces and without ``forbidden`` texts.

    >>> check_names("labels", ("joy", "joy"), (",",))
    Traceback (most recent call last):
    ...
    ValueError: `labels` must be distinct, got ['joy', 'joy']; remove the repeated names.
    """
    if len(names) == 0:
        raise ValueError(f"`{argument}` is empty; pass at least one name.")
    if len(set(names)) != len(names):
        raise ValueError(f"`{argument}` must be distinct, got {list(names)}; remove the repeated names.")
    for name in names:
        if not isinstance(name, str) or not name or name != name.strip() or any(f in name for f in forbidden if f):
            raise ValueError(
                f"`{argument}` contains {name!r}, which cannot be read back from the answer; use names without "
                f"surrounding spaces, newlines or any of {[f for f in forbidden if f and f != chr(10)]}."
            )
