"""Data sets → :class:`Record` lists (a conversation, its safe/unsafe label and category ids).

Sources:

- :func:`load_seed_jsonl`: the seed repository's JSONL (``unsafe_query`` with
  ``llama_guard_3_categories`` or ``llama_guard_2_categories``; every row unsafe);
- :func:`load_beavertails`: ``PKU-Alignment/BeaverTails`` (split ``30k_test`` by default),
  de-duplicated on (prompt, response), its 14 harm categories mapped to Llama Guard 3 or 2;
- :func:`load_dataset_source`: any ``datasets`` source (a Hub name, a local folder or data
  files, a ``save_to_disk`` folder, or a ``Dataset``) with a :class:`ColumnMap`;
- :func:`load_rater_annotations`: a ``datasets`` source with one row per (item, rater), aggregated
  into one record per item with :attr:`Record.soft_labels` (the fraction of raters who chose each
  label); :func:`load_go_emotions` reads GoEmotions' ``raw`` configuration this way;
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
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..labels.taxonomy import category_sort_key, get_taxonomy, map_beavertails

__all__ = [
    "Record",
    "SoftLabels",
    "ColumnMap",
    "GO_EMOTIONS",
    "GO_EMOTIONS_LABELS",
    "load_seed_jsonl",
    "load_beavertails",
    "load_dataset_source",
    "load_rater_annotations",
    "load_go_emotions",
    "load_records_jsonl",
    "save_records_jsonl",
]


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


def _where(source: str, index: int, kind: str) -> str:
    return f"{source}, {kind} {index}"


def _check_ids(ids: Iterable[Any], version: int | None, where: str, column: str) -> tuple[str, ...]:
    """Category ids of the Llama Guard ``version`` taxonomy (any non-empty names for None), in numeric order."""
    if version is None:
        names = list(ids)
        for c in names:
            if not isinstance(c, str) or not c.strip():
                raise ValueError(f"{where}: field {column!r} must hold non-empty label names, got {c!r}.")
        return tuple(sorted({c.strip() for c in names}, key=category_sort_key))
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


#: The soft label of "any category": with a taxonomy ``version``, :func:`load_rater_annotations` adds it
#: as the fraction of raters who chose at least one category, unless a column is mapped to it.
UNSAFE = "unsafe"

GO_EMOTIONS = "google-research-datasets/go_emotions"

#: GoEmotions' 27 emotions and ``neutral``: the label columns of its ``raw`` configuration, in order.
GO_EMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip


@dataclass
class _Item:
    """One item while its rows are read: first row, conversation, rater → row, label → raters who chose it."""

    first: int
    conversation: tuple[dict[str, str], ...]
    raters: dict[Any, int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


def _label_map(label_columns: Any, version: int | None) -> dict[str, str]:
    """``label_columns`` (column names, or column → label id) as column → label id, checked."""
    if isinstance(label_columns, Mapping):
        mapping = dict(label_columns)
    elif isinstance(label_columns, Sequence) and not isinstance(label_columns, str):
        mapping = {c: c for c in label_columns}
    else:
        raise ValueError(
            f"`label_columns` must be a list of column names or a mapping column → label id, got {label_columns!r}; "
            "e.g. GO_EMOTIONS_LABELS, or {'harm_violence': 'S1', ...}."
        )
    if not mapping:
        raise ValueError("`label_columns` is empty; name at least one 0/1 label column.")
    tax = get_taxonomy(version) if version is not None else None
    for column, label in mapping.items():
        if not isinstance(column, str) or not isinstance(label, str) or not label.strip():
            raise ValueError(f"`label_columns` must map column names to non-empty label ids, got {column!r} → {label!r}.")
        if tax is not None and label != UNSAFE and label not in tax:
            raise ValueError(
                f"`label_columns` maps column {column!r} to {label!r}, which is neither a {tax.name} id "
                f"({tax.ids[0]}–{tax.ids[-1]}) nor {UNSAFE!r}; fix the mapping, or pass version=None for free label names."
            )
    return mapping


def _flag(value: Any, where: str, column: str) -> bool:
    """A 0/1 (or bool) cell as a bool."""
    if isinstance(value, bool) or (isinstance(value, (int, float)) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{where}: field {column!r} must be 0 or 1 (or a bool), got {value!r}.")


def load_rater_annotations(
    source: Any,
    split: str | None = "train",
    *,
    label_columns: Sequence[str] | Mapping[str, str],
    name: str | None = None,
    data_files: Any = None,
    text_column: str = "text",
    item_column: str | None = "id",
    rater_column: str | None = "rater_id",
    response_column: str | None = None,
    skip_column: str | None = None,
    version: int | None = None,
    **load_kwargs: Any,
) -> list[Record]:
    """One record per item from rater-level rows (one row per (item, rater), one 0/1 column per label).

    The rows of an item (same ``item_column`` value; same text and response when ``item_column`` is
    None) are aggregated in order of their first row, which gives the record's ``index``:

    - ``soft_labels[label]`` = the fraction of the item's raters who chose the label (a rater chose
      it when any of the columns mapped to it is 1). Rows whose ``skip_column`` is true (GoEmotions'
      ``example_very_unclear``) are left out; an item that *every* rater skipped is dropped.
    - ``categories``: the labels chosen by at least half of the item's raters (not ``unsafe``).
    - ``is_safe``: with an ``unsafe`` soft label, whether fewer than half of the raters chose it;
      otherwise, whether no label is in ``categories``.

    ``label_columns``: column names (each its own label), or a mapping column → label id. With a
    Llama Guard ``version`` the ids must be that taxonomy's (S1…S14 for 3) or ``unsafe``; unless a
    column is mapped to ``unsafe``, its soft label is added as the fraction of raters who chose at
    least one category. Soft labels then come ``unsafe`` first, categories in numeric order; without
    ``version`` any label names are allowed and keep the order of ``label_columns``.

    ``rater_column``: a rater may annotate an item once (None: every row is another rater).
    ``source``, ``split``, ``name``, ``data_files`` and ``load_kwargs`` are those of
    :func:`load_dataset_source` (a Hub name, a data file, a ``save_to_disk`` folder or a ``Dataset``).

    A bad row is a ``ValueError`` naming the source and split, the row index and the column.

    >>> import datasets
    >>> rows = datasets.Dataset.from_dict({
    ...     "id": ["a", "a", "a", "b"], "text": ["so happy", "so happy", "so happy", "hm"],
    ...     "rater_id": [1, 2, 3, 1], "joy": [1, 1, 0, 0], "anger": [0, 0, 0, 1]})
    >>> a, b = load_rater_annotations(rows, label_columns=["joy", "anger"])
    >>> round(a.soft_labels["joy"], 4), a.categories, a.is_safe, dict(b.soft_labels), b.categories
    (0.6667, ('joy',), False, {'joy': 0.0, 'anger': 1.0}, ('anger',))
    """
    if version is not None:
        get_taxonomy(version)
    labels = _label_map(label_columns, version)
    order = list(dict.fromkeys(labels.values()))
    derive_unsafe = version is not None and UNSAFE not in order
    if version is not None:
        order = [UNSAFE] + sorted((c for c in order if c != UNSAFE), key=category_sort_key)
    ds, label = _open(source, split, data_files, name, **load_kwargs)
    needed = list(dict.fromkeys(c for c in (text_column, response_column, item_column, rater_column, skip_column, *labels) if c is not None))
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise ValueError(f"{label}: missing field(s) {missing}; the data set has columns {ds.column_names}. Fix the column names.")
    table = ds.select_columns(needed)[:]
    items: dict[Any, _Item] = {}
    for k in range(len(ds)):
        where = _where(label, k, "index")
        response = table[response_column][k] if response_column else None
        conv = _conversation(table[text_column][k], response, where, text_column, response_column)
        key = table[item_column][k] if item_column else (conv[0]["content"], response)
        item = items.get(key)
        if item is None:
            item = items[key] = _Item(k, conv)
        elif item.conversation != conv:
            column = text_column if conv[0] != item.conversation[0] else response_column
            raise ValueError(
                f"{where}: field {column!r} differs from index {item.first}, which has the same {item_column!r} {key!r}; "
                "the rows of one item must carry the same text."
            )
        if skip_column is not None and _flag(table[skip_column][k], where, skip_column):
            continue
        rater = table[rater_column][k] if rater_column else k
        if rater in item.raters:
            raise ValueError(
                f"{where}: field {rater_column!r}: rater {rater!r} already annotated item {key!r} at index {item.raters[rater]}; "
                "keep one row per (item, rater)."
            )
        item.raters[rater] = k
        chosen = {labels[c] for c in labels if _flag(table[c][k], where, c)}
        item.counts.update(chosen)
        if derive_unsafe and chosen:
            item.counts[UNSAFE] += 1
    records = []
    for item in items.values():
        n = len(item.raters)
        if n == 0:
            continue  # every rater skipped it: nothing to aggregate
        soft = {c: item.counts[c] / n for c in order}
        cats = _check_ids([c for c in order if c != UNSAFE and 2 * item.counts[c] >= n], version, label, "label_columns")
        is_safe = 2 * item.counts[UNSAFE] < n if UNSAFE in soft else not cats
        records.append(Record(item.conversation, is_safe, () if is_safe else cats, item.first, label, soft))
    return records


def load_go_emotions(split: str = "train", *, source: Any = GO_EMOTIONS, **kwargs: Any) -> list[Record]:
    """GoEmotions' ``raw`` configuration (one row per (comment, rater)) as records with soft labels
    over :data:`GO_EMOTIONS_LABELS` (see :func:`load_rater_annotations`).

    Rows marked ``example_very_unclear`` are left out, and a comment all of whose raters marked it
    so is dropped. ``source``: the Hub name (config ``raw``), or a local copy of the raw split (a data
    file or a ``save_to_disk`` folder); ``kwargs`` override :func:`load_rater_annotations`' arguments.
    """
    kwargs.setdefault("name", "raw" if source == GO_EMOTIONS else None)
    kwargs.setdefault("label_columns", GO_EMOTIONS_LABELS)
    kwargs.setdefault("skip_column", "example_very_unclear")
    return load_rater_annotations(source, split, **kwargs)


def save_records_jsonl(records: Iterable[Record], path: str | os.PathLike) -> None:
    """Write records as JSONL (one :meth:`Record.to_dict` per line)."""
    with Path(path).open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")


def load_records_jsonl(path: str | os.PathLike, version: int | None = 3) -> list[Record]:
    """Records written by :func:`save_records_jsonl` (``conversation``, ``is_safe``, ``categories``, ``index``, ``source``,
    and optionally ``soft_labels``: an object of label → fraction of raters).

    ``version``: the Llama Guard taxonomy the category ids (and the soft labels' names, ``unsafe``
    aside) must belong to; None accepts any label names (e.g. GoEmotions' emotions).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.jsonl")
    >>> rec = Record(({"role": "user", "content": "so happy"},), False, ("joy",), soft_labels={"joy": 2 / 3, "anger": 0.0})
    >>> save_records_jsonl([rec], path)
    >>> load_records_jsonl(path, version=None) == [rec]
    True
    >>> load_records_jsonl(path)
    Traceback (most recent call last):
    ...
    ValueError: .../r.jsonl, line 1: field 'categories' has unknown category id 'joy'; expected Llama Guard 3 ids S1–S14.
    """
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
        soft = _soft_labels(obj.get("soft_labels"), version, where)
        conversation = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in conv)
        records.append(Record(conversation, obj["is_safe"], cats, int(obj.get("index", k)), str(obj.get("source", "")), soft))
    return records


def _soft_labels(raw: Any, version: int | None, where: str) -> SoftLabels | None:
    """A records line's ``soft_labels`` field, checked (names in the taxonomy or ``unsafe`` when ``version`` is given)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: field 'soft_labels' must be an object of label → fraction of raters, got {raw!r}.")
    if version is not None:
        _check_ids([c for c in raw if c != UNSAFE], version, where, "soft_labels")
    try:
        return SoftLabels(raw)
    except ValueError as e:
        raise ValueError(f"{where}: field 'soft_labels': {e}") from None
