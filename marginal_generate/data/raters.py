"""Rater annotations (one row per item and rater) aggregated into records with soft labels; GoEmotions' ``raw``
configuration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..labels.taxonomy import category_sort_key, get_taxonomy
from .records import UNSAFE, Record, as_conversation, check_ids, locate
from .sources import open_source

__all__ = ["GO_EMOTIONS", "GO_EMOTIONS_LABELS", "load_rater_annotations", "load_go_emotions"]


#: The soft label of "any category": with a taxonomy ``taxonomy``, :func:`load_rater_annotations` adds it
#: as the fraction of raters who chose at least one category, unless a column is mapped to it.


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


def _label_map(label_columns: Any, taxonomy: int | None) -> dict[str, str]:
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
    tax = get_taxonomy(taxonomy) if taxonomy is not None else None
    for column, label in mapping.items():
        if not isinstance(column, str) or not isinstance(label, str) or not label.strip():
            raise ValueError(
                f"`label_columns` must map column names to non-empty label ids, got {column!r} → {label!r}."
            )
        if tax is not None and label != UNSAFE and label not in tax:
            raise ValueError(
                f"`label_columns` maps column {column!r} to {label!r}, which is neither a {tax.name} id "
                f"({tax.ids[0]}–{tax.ids[-1]}) nor {UNSAFE!r}; fix the mapping, "
                "or pass taxonomy=None for free label names."
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
    taxonomy: int | None = None,
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
    Llama Guard ``taxonomy`` the ids must be that taxonomy's (S1…S14 for 3) or ``unsafe``; unless a
    column is mapped to ``unsafe``, its soft label is added as the fraction of raters who chose at
    least one category. Soft labels then come ``unsafe`` first, categories in numeric order; without
    ``taxonomy`` any label names are allowed and keep the order of ``label_columns``.

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
    if taxonomy is not None:
        get_taxonomy(taxonomy)
    labels = _label_map(label_columns, taxonomy)
    order = list(dict.fromkeys(labels.values()))
    derive_unsafe = taxonomy is not None and UNSAFE not in order
    if taxonomy is not None:
        order = [UNSAFE] + sorted((c for c in order if c != UNSAFE), key=category_sort_key)
    ds, label = open_source(source, split, data_files, name, **load_kwargs)
    needed = list(
        dict.fromkeys(
            c for c in (text_column, response_column, item_column, rater_column, skip_column, *labels) if c is not None
        )
    )
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise ValueError(
            f"{label}: missing field(s) {missing}; the data set has columns {ds.column_names}. Fix the column names."
        )
    table = ds.select_columns(needed)[:]
    items: dict[Any, _Item] = {}
    for k in range(len(ds)):
        where = locate(label, k, "index")
        response = table[response_column][k] if response_column else None
        conv = as_conversation(table[text_column][k], response, where, text_column, response_column)
        key = table[item_column][k] if item_column else (conv[0]["content"], response)
        item = items.get(key)
        if item is None:
            item = items[key] = _Item(k, conv)
        elif item.conversation != conv:
            column = text_column if conv[0] != item.conversation[0] else response_column
            raise ValueError(
                f"{where}: field {column!r} differs from index {item.first}, "
                f"which has the same {item_column!r} {key!r}; "
                "the rows of one item must carry the same text."
            )
        if skip_column is not None and _flag(table[skip_column][k], where, skip_column):
            continue
        rater = table[rater_column][k] if rater_column else k
        if rater in item.raters:
            raise ValueError(
                f"{where}: field {rater_column!r}: rater {rater!r} already annotated "
                f"item {key!r} at index {item.raters[rater]}; "
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
        cats = check_ids(
            [c for c in order if c != UNSAFE and 2 * item.counts[c] >= n], taxonomy, label, "label_columns"
        )
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
