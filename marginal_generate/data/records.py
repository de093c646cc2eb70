"""`Record` (a conversation, its safe/unsafe label, category ids and optional soft labels), `ColumnMap`, and records as
JSONL."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..labels.taxonomy import category_sort_key, get_taxonomy

__all__ = [
    "UNSAFE",
    "SoftLabels",
    "Record",
    "ColumnMap",
    "save_records_jsonl",
    "load_records_jsonl",
    "locate",
    "check_ids",
    "as_conversation",
    "read_jsonl",
    "decode_line",
    "check_utf8",
]

#: The label name of the binary verdict.
UNSAFE = "unsafe"


class SoftLabels(Mapping[str, float]):
    """An immutable, hashable mapping of label → probability in [0, 1] (e.g. the fraction of raters
    who chose the label). Equal to any mapping with the same items, whatever their order.

    >>> soft = SoftLabels({"joy": 2 / 3, "anger": 0.0})
    >>> soft["joy"] == 2 / 3, dict(soft) == {"anger": 0.0, "joy": 2 / 3}, hash(soft) == hash(SoftLabels(soft))
    (True, True, True)
    >>> SoftLabels({"joy": 1.5})
    Traceback (most recent call last):
    ...
    ValueError: soft label 'joy' must be a probability in [0, 1], got 1.5.
    """

    __slots__ = ("_items",)

    def __init__(self, values: Mapping[str, float]) -> None:
        items = []
        for key, value in values.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"soft label names must be non-empty strings, got {key!r}.")
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"soft label {key!r} must be a probability in [0, 1], got {value!r}.")
            items.append((key, float(value)))
        self._items: tuple[tuple[str, float], ...] = tuple(items)

    def __getitem__(self, key: str) -> float:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items))

    def __repr__(self) -> str:
        return f"SoftLabels({dict(self._items)!r})"


@dataclass(frozen=True)
class Record:
    """One example: ``conversation`` (user, optionally assistant), ``is_safe``, ``categories`` (ids in
    numeric order, empty when safe), ``index`` (line or row index in its source), ``source``, and
    ``soft_labels``: None, or label → fraction of raters who chose it (a :class:`SoftLabels`; any
    mapping given is converted), as :func:`load_rater_annotations` makes them.

    >>> r = Record(({"role": "user", "content": "q"},), False, ("S1",), soft_labels={"unsafe": 1.0, "S1": 0.5})
    >>> r.soft_labels
    SoftLabels({'unsafe': 1.0, 'S1': 0.5})
    >>> r == Record(r.conversation, False, ("S1",), soft_labels={"S1": 0.5, "unsafe": 1.0})
    True
    """

    conversation: tuple[dict[str, str], ...]
    is_safe: bool
    categories: tuple[str, ...] = ()
    index: int = 0
    source: str = ""
    soft_labels: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.soft_labels is not None and not isinstance(self.soft_labels, SoftLabels):
            object.__setattr__(self, "soft_labels", SoftLabels(self.soft_labels))

    @property
    def prompt(self) -> str:
        return self.conversation[0]["content"]

    @property
    def response(self) -> str | None:
        return self.conversation[1]["content"] if len(self.conversation) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :func:`save_records_jsonl`); ``soft_labels`` only when there are some."""
        out: dict[str, Any] = {
            "conversation": [dict(m) for m in self.conversation],
            "is_safe": self.is_safe,
            "categories": list(self.categories),
            "index": self.index,
            "source": self.source,
        }
        if self.soft_labels is not None:
            out["soft_labels"] = dict(self.soft_labels)
        return out


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of a ``datasets`` source hold what.

    ``prompt`` is required; ``response`` is optional (prompt classification without it).
    ``categories`` holds a list of ids, a comma-separated string of ids, or a BeaverTails-style
    dict of category name → bool (mapped with the taxonomy mapping). ``is_safe`` holds a bool;
    ``unsafe`` a bool of the opposite sense. Without a safety column a record is safe exactly
    when it has no categories.

    >>> ColumnMap(prompt="question", categories="labels").prompt
    'question'
    """

    prompt: str = "prompt"
    response: str | None = None
    categories: str | None = None
    is_safe: str | None = None
    unsafe: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def locate(source: str, index: int, kind: str) -> str:
    """Where a record came from, for error messages: ``"<source>, line 3"``."""
    return f"{source}, {kind} {index}"


def check_ids(ids: Iterable[Any], taxonomy: int | None, where: str, column: str) -> tuple[str, ...]:
    """Category ids of the Llama Guard ``taxonomy`` taxonomy (any non-empty names for None), in numeric order.

    Ids outside the taxonomy are a ``ValueError`` naming the first; it carries all of them as
    ``unknown_ids`` and the taxonomy's name as ``taxonomy`` (so a caller can sum them up over many records)."""
    if taxonomy is None:
        names = list(ids)
        for c in names:
            if not isinstance(c, str) or not c.strip():
                raise ValueError(f"{where}: field {column!r} must hold non-empty label names, got {c!r}.")
        return tuple(sorted({c.strip() for c in names}, key=category_sort_key))
    tax = get_taxonomy(taxonomy)
    ids = list(ids)
    unknown = [c for c in ids if not isinstance(c, str) or c.strip() not in tax]
    if unknown:
        err = ValueError(
            f"{where}: field {column!r} has unknown category id {unknown[0]!r}; "
            f"expected {tax.name} ids {tax.ids[0]}–{tax.ids[-1]}."
        )
        err.unknown_ids, err.taxonomy = tuple(str(c).strip() for c in unknown), tax.name  # type: ignore[attr-defined]
        raise err
    out = [c.strip() for c in ids]
    return tuple(sorted(set(out), key=category_sort_key))


def as_conversation(
    prompt: Any, response: Any, where: str, prompt_field: str, response_field: str | None
) -> tuple[dict[str, str], ...]:
    """The conversation of a record: the prompt as a user message, then the response (if any) as the assistant's."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: field {prompt_field!r} must be a non-empty string, got {prompt!r}.")
    conv = [{"role": "user", "content": prompt}]
    if response_field is not None:
        if not isinstance(response, str):
            raise ValueError(f"{where}: field {response_field!r} must be a string, got {response!r}.")
        conv.append({"role": "assistant", "content": response})
    return tuple(conv)


def decode_line(raw: bytes, path: str | os.PathLike, line: int) -> str:
    """One line of a text file as UTF-8; bytes that are not UTF-8 are a ``ValueError`` naming the file, the line,
    the byte and its column, and saying what to do.

    >>> decode_line("café".encode(), "d.jsonl", 1)
    'café'
    >>> decode_line("café".encode("latin-1"), "d.jsonl", 7)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: d.jsonl, line 7: not UTF-8 text (byte 0xe9 at column 4); re-encode the file as UTF-8, e.g. ...
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        column = len(raw[: err.start].decode("utf-8", errors="replace")) + 1
        raise ValueError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {column}); re-encode the "
            "file as UTF-8, e.g. iconv -f latin1 -t utf-8 old > new (with the encoding it was written in)."
        ) from None


def check_utf8(path: str | os.PathLike) -> None:
    """A ``ValueError`` (:func:`decode_line`'s) at the first line of ``path`` that is not UTF-8; read line by line."""
    with open(path, "rb") as f:
        for k, raw in enumerate(f):
            decode_line(raw, path, k + 1)


def read_jsonl(path: str | os.PathLike) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line index from 0, object) of each non-blank line; a line that is no JSON object, or not UTF-8, is an error
    naming the file and the line."""
    path = Path(path)
    with path.open("rb") as f:
        for k, raw in enumerate(f):
            line = decode_line(raw, path, k + 1)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                message = e.msg[: -len(" at")] if e.msg.endswith(" at") else e.msg  # "Unterminated string starting at"
                raise ValueError(f"{path}, line {k + 1}: not valid JSON ({message} at column {e.colno}).") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}, line {k + 1}: expected a JSON object, got {type(obj).__name__}.")
            yield k, obj


def save_records_jsonl(records: Iterable[Record], path: str | os.PathLike) -> None:
    """Write records as JSONL (one :meth:`Record.to_dict` per line)."""
    with Path(path).open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")


def load_records_jsonl(path: str | os.PathLike, taxonomy: int | None = 3) -> list[Record]:
    """Records written by :func:`save_records_jsonl` (``conversation``, ``is_safe``, ``categories``, ``index``,
    ``source``,
    and optionally ``soft_labels``: an object of label → fraction of raters).

    ``taxonomy``: the Llama Guard taxonomy the category ids (and the soft labels' names, ``unsafe``
    aside) must belong to; None accepts any label names (e.g. GoEmotions' emotions).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.jsonl")
    >>> rec = Record(({"role": "user", "content": "so happy"},),
    ...     False, ("joy",), soft_labels={"joy": 2 / 3, "anger": 0.0})
    >>> save_records_jsonl([rec], path)
    >>> load_records_jsonl(path, taxonomy=None) == [rec]
    True
    >>> load_records_jsonl(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../r.jsonl, line 1: field 'categories' has unknown category id 'joy'; expected Llama Guard 3 ids...
    """
    records = []
    for k, obj in read_jsonl(path):
        where = locate(str(path), k + 1, "line")
        for f in ("conversation", "is_safe", "categories"):
            if f not in obj:
                raise ValueError(f"{where}: missing field {f!r}.")
        conv = obj["conversation"]
        if (
            not isinstance(conv, list)
            or not conv
            or not all(isinstance(m, dict) and "content" in m and "role" in m for m in conv)
        ):
            raise ValueError(
                f"{where}: field 'conversation' must be a list of {{'role', 'content'}} messages, got {conv!r}."
            )
        if not isinstance(obj["is_safe"], bool):
            raise ValueError(f"{where}: field 'is_safe' must be true or false, got {obj['is_safe']!r}.")
        cats = check_ids(obj["categories"], taxonomy, where, "categories")
        soft = _soft_labels(obj.get("soft_labels"), taxonomy, where)
        conversation = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in conv)
        records.append(
            Record(conversation, obj["is_safe"], cats, int(obj.get("index", k)), str(obj.get("source", "")), soft)
        )
    return records


def _soft_labels(raw: Any, taxonomy: int | None, where: str) -> SoftLabels | None:
    """A records line's ``soft_labels`` field, checked (names in the taxonomy or ``unsafe`` when ``taxonomy`` is
    given)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: field 'soft_labels' must be an object of label → fraction of raters, got {raw!r}.")
    if taxonomy is not None:
        check_ids([c for c in raw if c != UNSAFE], taxonomy, where, "soft_labels")
    try:
        return SoftLabels(raw)
    except ValueError as e:
        raise ValueError(f"{where}: field 'soft_labels': {e}") from None
