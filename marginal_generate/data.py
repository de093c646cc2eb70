"""Data sets → :class:`Record` lists (a conversation, its safe/unsafe label and category ids).

Sources:

- :func:`load_seed_jsonl`: the seed repository's JSONL (``unsafe_query`` with
  ``llama_guard_3_categories`` or ``llama_guard_2_categories``; every row unsafe);
- :func:`load_beavertails`: ``PKU-Alignment/BeaverTails`` (split ``30k_test`` by default),
  de-duplicated on (prompt, response), its 14 harm categories mapped to Llama Guard 3 or 2;
- :func:`load_dataset_source`: any ``datasets`` source (a Hub name, a local folder or data
  files, a ``save_to_disk`` folder, or a ``Dataset``) with a :class:`ColumnMap`;
- :func:`load_records_jsonl` / :func:`save_records_jsonl`: records as JSONL (the embedded
  model's held-out evaluation data is stored this way).

A bad record is a ``ValueError`` naming the file or split, the line or index and the field.

>>> import json, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "seed.jsonl")
>>> with open(path, "w") as f:
...     _ = f.write(json.dumps({"unsafe_query": "q", "llama_guard_3_categories": ["S10", "S1"]}) + "\\n")
>>> [(r.prompt, r.is_safe, r.categories, r.index) for r in load_seed_jsonl(path)]
[('q', False, ('S1', 'S10'), 0)]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .taxonomy import category_sort_key, get_taxonomy, map_beavertails

__all__ = [
    "Record",
    "ColumnMap",
    "load_seed_jsonl",
    "load_beavertails",
    "load_dataset_source",
    "load_records_jsonl",
    "save_records_jsonl",
]


@dataclass(frozen=True)
class Record:
    """One example: ``conversation`` (user, optionally assistant), ``is_safe``, ``categories`` (ids in
    numeric order, empty when safe), ``index`` (line or row index in its source), ``source``."""

    conversation: tuple[dict[str, str], ...]
    is_safe: bool
    categories: tuple[str, ...] = ()
    index: int = 0
    source: str = ""

    @property
    def prompt(self) -> str:
        return self.conversation[0]["content"]

    @property
    def response(self) -> str | None:
        return self.conversation[1]["content"] if len(self.conversation) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :func:`save_records_jsonl`)."""
        return {
            "conversation": [dict(m) for m in self.conversation],
            "is_safe": self.is_safe,
            "categories": list(self.categories),
            "index": self.index,
            "source": self.source,
        }


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


def _where(source: str, index: int, kind: str) -> str:
    return f"{source}, {kind} {index}"


def _check_ids(ids: Iterable[Any], version: int, where: str, column: str) -> tuple[str, ...]:
    tax = get_taxonomy(version)
    out = []
    for c in ids:
        if not isinstance(c, str) or c.strip() not in tax:
            raise ValueError(
                f"{where}: field {column!r} has unknown category id {c!r}; "
                f"expected {tax.name} ids {tax.ids[0]}–{tax.ids[-1]}."
            )
        out.append(c.strip())
    return tuple(sorted(set(out), key=category_sort_key))


def _conversation(prompt: Any, response: Any, where: str, prompt_field: str, response_field: str | None) -> tuple[dict[str, str], ...]:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: field {prompt_field!r} must be a non-empty string, got {prompt!r}.")
    conv = [{"role": "user", "content": prompt}]
    if response_field is not None:
        if not isinstance(response, str):
            raise ValueError(f"{where}: field {response_field!r} must be a string, got {response!r}.")
        conv.append({"role": "assistant", "content": response})
    return tuple(conv)


def _read_jsonl(path: str | os.PathLike) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line index from 0, object) of each non-blank line; a line that is no JSON object is an error."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for k, line in enumerate(f):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {k + 1}: not valid JSON ({e.msg} at column {e.colno}).") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}, line {k + 1}: expected a JSON object, got {type(obj).__name__}.")
            yield k, obj


def load_seed_jsonl(path: str | os.PathLike, version: int | None = None) -> list[Record]:
    """The seed repository's JSONL: ``unsafe_query`` + ``llama_guard_3_categories`` (or ``_2_``).

    ``version`` picks the category field; ``None`` takes whichever the line has (3 first).
    ``index`` is the 0-based line number.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"unsafe_query": "q", "llama_guard_3_categories": ["S15"]}\\n')
    >>> load_seed_jsonl(path)
    Traceback (most recent call last):
    ...
    ValueError: .../bad.jsonl, line 1: field 'llama_guard_3_categories' has unknown category id 'S15'; expected Llama Guard 3 ids S1–S14.
    """
    if version is not None:
        get_taxonomy(version)
    records = []
    for k, obj in _read_jsonl(path):
        where = _where(str(path), k + 1, "line")
        if "unsafe_query" not in obj:
            raise ValueError(f"{where}: missing field 'unsafe_query'.")
        versions = [version] if version is not None else [3, 2]
        fields = [f"llama_guard_{v}_categories" for v in versions]
        found = [(v, f) for v, f in zip(versions, fields) if f in obj]
        if not found:
            raise ValueError(f"{where}: missing field {' or '.join(repr(f) for f in fields)}.")
        v, f = found[0]
        ids = obj[f]
        if not isinstance(ids, list) or not ids:
            raise ValueError(f"{where}: field {f!r} must be a non-empty list of category ids, got {ids!r}.")
        conv = _conversation(obj["unsafe_query"], None, where, "unsafe_query", None)
        records.append(Record(conv, False, _check_ids(ids, v, where, f), k, os.path.basename(str(path))))
    return records


def _open(source: Any, split: str | None, data_files: Any = None, name: str | None = None, **kwargs: Any) -> tuple[Any, str]:
    """A ``datasets.Dataset`` from a Hub name, a local folder or file, a saved dataset, or a Dataset."""
    import datasets

    if isinstance(source, datasets.DatasetDict):
        if split is None or split not in source:
            raise ValueError(f"split {split!r} not in the DatasetDict; available: {sorted(source)}.")
        return source[split], f"split {split!r}"
    if isinstance(source, datasets.Dataset):
        return source, f"split {split or source.split or 'dataset'!r}"
    src = str(source)
    label = f"split {split!r} of {src}"
    if os.path.isdir(src) and (os.path.exists(os.path.join(src, "dataset_info.json")) or os.path.exists(os.path.join(src, "dataset_dict.json"))):
        loaded = datasets.load_from_disk(src)
        if isinstance(loaded, datasets.DatasetDict):
            return _open(loaded, split)[0], label
        return loaded, label
    if os.path.isfile(src):
        ext = src.rsplit(".", 1)[-1].lower()
        builder = {"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet", "arrow": "arrow"}.get(ext)
        if builder is None:
            raise ValueError(f"cannot read {src}: unknown file type {ext!r}; use .jsonl, .json, .csv, .parquet or .arrow.")
        return datasets.load_dataset(builder, data_files={"train": src}, split="train", **kwargs), src
    # a Hub name, or a local folder in Hub layout (data files, optionally a README with configs)
    return datasets.load_dataset(src, name, split=split, data_files=data_files, **kwargs), label


def load_dataset_source(
    source: Any,
    split: str | None = "train",
    columns: ColumnMap | Mapping[str, Any] | None = None,
    version: int = 3,
    data_files: Any = None,
    name: str | None = None,
    limit: int | None = None,
    **load_kwargs: Any,
) -> list[Record]:
    """Records from any ``datasets`` source with a column map (``index`` is the row index).

    ``source``: a Hub name (``"PKU-Alignment/BeaverTails"``), a local folder in Hub layout, a
    data file (``.jsonl``, ``.csv``, ``.parquet``), a ``save_to_disk`` folder, or a
    ``Dataset`` / ``DatasetDict``. ``load_kwargs`` go to ``datasets.load_dataset``.

    >>> import datasets
    >>> ds = datasets.Dataset.from_dict({"q": ["hi", "how to hack"], "cats": ["", "S2,S14"]})
    >>> [(r.is_safe, r.categories) for r in load_dataset_source(ds, columns={"prompt": "q", "categories": "cats"})]
    [(True, ()), (False, ('S2', 'S14'))]
    """
    cols = columns if isinstance(columns, ColumnMap) else ColumnMap(**dict(columns or {}))
    get_taxonomy(version)
    ds, label = _open(source, split, data_files, name, **load_kwargs)
    needed = [c for c in (cols.prompt, cols.response, cols.categories, cols.is_safe, cols.unsafe) if c is not None]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise ValueError(f"{label}: missing field(s) {missing}; the data set has columns {ds.column_names}. Fix the column map.")
    if cols.categories is None and cols.is_safe is None and cols.unsafe is None:
        raise ValueError("the column map names no label column; set `categories`, `is_safe` or `unsafe`.")
    records = []
    source_name = label
    for k, row in enumerate(ds):
        if limit is not None and len(records) >= limit:
            break
        where = _where(label, k, "index")
        conv = _conversation(row[cols.prompt], row.get(cols.response) if cols.response else None, where, cols.prompt, cols.response)
        cats: tuple[str, ...] = ()
        if cols.categories is not None:
            raw = row[cols.categories]
            if isinstance(raw, Mapping):
                try:
                    cats = tuple(map_beavertails(raw, version))
                except ValueError as e:
                    raise ValueError(f"{where}: field {cols.categories!r}: {e}") from None
            elif isinstance(raw, str):
                cats = _check_ids([c for c in raw.split(",") if c.strip()], version, where, cols.categories)
            elif isinstance(raw, Sequence):
                cats = _check_ids(raw, version, where, cols.categories)
            elif raw is None:
                cats = ()
            else:
                raise ValueError(f"{where}: field {cols.categories!r} must be a list, a string or a dict, got {raw!r}.")
        if cols.is_safe is not None or cols.unsafe is not None:
            column = cols.is_safe if cols.is_safe is not None else cols.unsafe
            flag = row[column]
            if not isinstance(flag, bool) and flag not in (0, 1):
                raise ValueError(f"{where}: field {column!r} must be a bool, got {flag!r}.")
            is_safe = bool(flag) if cols.is_safe is not None else not bool(flag)
        else:
            is_safe = not cats
        if is_safe:
            cats = ()
        records.append(Record(conv, is_safe, cats, k, source_name))
    return records


BEAVERTAILS = "PKU-Alignment/BeaverTails"
BEAVERTAILS_COLUMNS = ColumnMap(prompt="prompt", response="response", categories="category", is_safe="is_safe")


def load_beavertails(
    split: str = "30k_test", version: int = 3, source: Any = BEAVERTAILS, dedup: bool = True, limit: int | None = None, **load_kwargs: Any
) -> list[Record]:
    """BeaverTails as response-classification records, categories mapped to Llama Guard ``version``.

    Rows with a (prompt, response) pair already seen are dropped (``dedup``); ``index`` stays the
    row index in the split. ``source`` may be a local copy in the Hub layout or a saved dataset.
    """
    records = load_dataset_source(source, split=split, columns=BEAVERTAILS_COLUMNS, version=version, **load_kwargs)
    if dedup:
        seen: set[tuple[str, str | None]] = set()
        unique = []
        for r in records:
            key = (r.prompt, r.response)
            if key not in seen:
                seen.add(key)
                unique.append(r)
        records = unique
    return records[:limit] if limit is not None else records


def save_records_jsonl(records: Iterable[Record], path: str | os.PathLike) -> None:
    """Write records as JSONL (one :meth:`Record.to_dict` per line)."""
    with Path(path).open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")


def load_records_jsonl(path: str | os.PathLike, version: int = 3) -> list[Record]:
    """Records written by :func:`save_records_jsonl` (``conversation``, ``is_safe``, ``categories``, ``index``, ``source``)."""
    records = []
    for k, obj in _read_jsonl(path):
        where = _where(str(path), k + 1, "line")
        for f in ("conversation", "is_safe", "categories"):
            if f not in obj:
                raise ValueError(f"{where}: missing field {f!r}.")
        conv = obj["conversation"]
        if not isinstance(conv, list) or not conv or not all(isinstance(m, dict) and "content" in m and "role" in m for m in conv):
            raise ValueError(f"{where}: field 'conversation' must be a list of {{'role', 'content'}} messages, got {conv!r}.")
        if not isinstance(obj["is_safe"], bool):
            raise ValueError(f"{where}: field 'is_safe' must be true or false, got {obj['is_safe']!r}.")
        cats = _check_ids(obj["categories"], version, where, "categories")
        conversation = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in conv)
        records.append(Record(conversation, obj["is_safe"], cats, int(obj.get("index", k)), str(obj.get("source", ""))))
    return records
