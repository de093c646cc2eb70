"""The fields grammar: answers made of ``Name: value`` lines (WildGuard, Qwen3Guard).

Each (field, value) pair is a label, named ``"Name: value"``. A field is

- binary (:meth:`Field.binary`, WildGuard's ``Harmful request: yes``): the ``yes`` value is a label, ``no`` is not;
- categorical (:meth:`Field.categorical`, Qwen3Guard's ``Safety: Safe|Unsafe|Controversial``): every value is a label;
- multi-valued (:meth:`Field.multi_valued`, Qwen3Guard's ``Categories: Violent, Jailbreak``): a
  comma-separated list of values, or ``None``.

Lines that name no field are ignored, and so is a field's second line. A single value is read
once its line ends; a multi-valued item once a comma, the line's end or the answer's end follows.

>>> p = FieldsParser([Field.categorical("Safety", ["Safe", "Unsafe"]),
...     Field.multi_valued("Categories", ["Violent", "Jailbreak"])])
>>> sorted(p.parse("Safety: Unsafe\\nCategories: Violent, Jailbreak"))
['Categories: Jailbreak', 'Categories: Violent', 'Safety: Unsafe']
>>> state = p.prefix_state("Safety: Unsafe\\nCategories: Violent,", finished=False)
>>> sorted(state.confirmed), sorted(state.possible)
(['Categories: Violent', 'Safety: Unsafe'], ['Categories: Jailbreak'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .grammar import Slot, check_names, written_in_slot
from .label_list import read_items
from .prefix_state import LabelSpan, PrefixState

__all__ = ["Field", "FieldsParser", "WILDGUARD_FIELDS", "QWEN3GUARD_FIELDS"]


@dataclass(frozen=True)
class Field:
    """One ``Name: value`` line: the values that are labels, the values that are not, and whether it lists several."""

    name: str
    values: tuple[str, ...]
    others: tuple[str, ...] = ()
    multi: bool = False

    @classmethod
    def binary(cls, name: str, yes: str = "yes", no: str = "no") -> "Field":
        """``Name: yes`` gives the label ``"Name: yes"``; ``Name: no`` none."""
        return cls(name, (yes,), (no,))

    @classmethod
    def categorical(cls, name: str, values: Sequence[str]) -> "Field":
        """One of ``values``, each a label."""
        return cls(name, tuple(values))

    @classmethod
    def multi_valued(cls, name: str, values: Sequence[str], none: str | None = "None") -> "Field":
        """A comma-separated list of ``values`` (each a label), or ``none``."""
        return cls(name, tuple(values), (none,) if none is not None else (), multi=True)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f"{self.name}: {v}" for v in self.values)


#: WildGuard's three binary fields.
WILDGUARD_FIELDS: tuple[Field, ...] = (
    Field.binary("Harmful request"),
    Field.binary("Response refusal"),
    Field.binary("Harmful response"),
)

#: Qwen3Guard's verdict and category list (the categories of its model card).
QWEN3GUARD_FIELDS: tuple[Field, ...] = (
    Field.categorical("Safety", ["Safe", "Unsafe", "Controversial"]),
    Field.multi_valued(
        "Categories",
        [
            "Violent",
            "Non-violent Illegal Acts",
            "Sexual Content or Sexual Acts",
            "PII",
            "Suicide & Self-Harm",
            "Unethical Acts",
            "Politically Sensitive Topics",
            "Copyright Violation",
            "Jailbreak",
        ],
    ),
)


class FieldsParser:
    """``Name: value`` lines; see the module docstring.

    >>> FieldsParser([Field.binary("Harm"), Field.binary("Harm")])
    Traceback (most recent call last):
    ...
    ValueError: `fields` must be distinct, got ['Harm', 'Harm']; remove the repeated names.
    """

    def __init__(self, fields: Sequence[Field]) -> None:
        fields = tuple(fields)
        for f in fields:
            if not isinstance(f, Field):
                raise ValueError(
                    f"`fields` must hold Field objects, got {f!r}; use Field.binary / categorical / multi_valued."
                )
        check_names("fields", tuple(f.name for f in fields), (":", "\n"))
        for f in fields:
            check_names(f"values of field {f.name!r}", f.values + f.others, ("\n", ",") if f.multi else ("\n",))
        self.fields = fields
        self.labels: tuple[str, ...] = tuple(label for f in fields for label in f.labels)
        self.verbalizer = None
        self._by_name = {f.name: k for k, f in enumerate(fields)}
        slots = []
        for f in fields:
            options: dict[str, str | None] = {v: f"{f.name}: {v}" for v in f.values}
            options.update({o: None for o in f.others})
            contexts = [(f"{f.name}: ", ""), (f"{f.name}:", " "), (f"{f.name}:", "")]
            if f.multi:
                first = f"{f.name}: {f.values[0]},"
                contexts += [(first, " "), (first + " ", ""), (first, "")]
            slots.append(Slot(options, tuple(contexts), (",", "\n") if f.multi else ("\n",)))
        self.slots = tuple(slots)
        self.words = tuple(dict.fromkeys([f.name for f in fields] + [v for f in fields for v in f.values + f.others]))

    def __repr__(self) -> str:
        return f"FieldsParser(fields={[f.name for f in self.fields]})"

    def _read(self, text: str, finished: bool) -> tuple[list[LabelSpan], frozenset[str], tuple[int, int] | None]:
        """Spans read, labels still possible, and the open item ``(slot, start)``."""
        spans: list[LabelSpan] = []
        seen: set[int] = set()
        possible: set[str] = set()
        open_item = None
        lines = text.split("\n")
        position = 0
        for n, line in enumerate(lines):
            line_done = finished or n < len(lines) - 1
            name, colon, value = line.partition(":")
            k = self._by_name.get(name.strip()) if colon else None
            if k is not None and k not in seen:
                seen.add(k)
                field = self.fields[k]
                offset = position + len(name) + 1
                if field.multi:
                    for begin, item, complete in read_items(value, offset, ",", line_done):
                        if complete and item in field.values:
                            spans.append(LabelSpan(f"{field.name}: {item}", begin, begin + len(item)))
                        elif not complete:
                            open_item = (k, begin)
                    if not line_done:
                        possible.update(field.labels)
                else:
                    begin = offset + len(value) - len(value.lstrip())
                    if line_done and value.strip() in field.values:
                        spans.append(LabelSpan(f"{field.name}: {value.strip()}", begin, begin + len(value.strip())))
                    elif not line_done:
                        open_item = (k, begin)
                        possible.update(field.labels)
            position += len(line) + 1
        if not finished:
            possible.update(label for k, f in enumerate(self.fields) if k not in seen for label in f.labels)
        unique: dict[str, LabelSpan] = {}
        for s in spans:
            unique.setdefault(s.label, s)
        return list(unique.values()), frozenset(possible), open_item

    def spans(self, text: str) -> list[LabelSpan]:
        """Every label of a complete answer with the span of its value.

        >>> p = FieldsParser(WILDGUARD_FIELDS)
        >>> [(s.label, s.start) for s in p.spans("Harmful request: yes\\nResponse refusal: no")]
        [('Harmful request: yes', 17)]
        """
        return self._read(text, finished=True)[0]

    def parse(self, text: str) -> frozenset[str]:
        """The label set of a complete answer."""
        return frozenset(s.label for s in self.spans(text))

    def prefix_state(self, text: str, finished: bool) -> PrefixState:
        """Closed values are confirmed; the open field's labels and those of fields not yet written are possible."""
        spans, possible, _ = self._read(text, finished)
        confirmed = frozenset(s.label for s in spans)
        return PrefixState(confirmed=confirmed, possible=possible - confirmed)

    def written(self, text: str) -> tuple[frozenset[str], bool]:
        """The label of the value the open line spells exactly (``Harmful request: yes`` before its newline), and
        whether the value may still become one of the field's values (:func:`~.grammar.written_in_slot`). On a line
        with no value open yet, whether the line may still become a field's ``Name:``.

        >>> p = FieldsParser(WILDGUARD_FIELDS)
        >>> [p.written(t) for t in ["Harmful request: yes", "Harmful request: no\\nResp", "Harmful request: no\\nyes"]]
        [(frozenset({'Harmful request: yes'}), True), (frozenset(), True), (frozenset(), False)]
        """
        if self.open_item(text) is None:
            line = text.rsplit("\n", 1)[-1].lstrip()
            return frozenset(), any(f"{f.name}:".startswith(line) for f in self.fields)
        return written_in_slot(self, text)

    def open_item(self, text: str) -> tuple[int, int] | None:
        """``(field index, start)`` of the value ``text`` ends inside, or None.

        >>> FieldsParser(WILDGUARD_FIELDS).open_item("Harmful request: yes\\nResponse refusal: n")
        (1, 39)
        """
        return self._read(text, finished=False)[2]
