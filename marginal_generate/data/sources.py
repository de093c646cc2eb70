"""Any ``datasets`` source (a Hub name, a local folder or data files, a ``save_to_disk`` folder, or a ``Dataset``) with
a :class:`~marginal_generate.data.records.ColumnMap`; BeaverTails with its harm categories mapped to Llama Guard."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..labels.taxonomy import get_taxonomy, map_beavertails
from .records import ColumnMap, Record, as_conversation, check_ids, check_utf8, locate

__all__ = ["open_source", "load_dataset_source", "BEAVERTAILS", "BEAVERTAILS_COLUMNS", "load_beavertails"]


def open_source(
    source: Any, split: str | None, data_files: Any = None, name: str | None = None, **kwargs: Any
) -> tuple[Any, str]:
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
    if os.path.isdir(src) and (
        os.path.exists(os.path.join(src, "dataset_info.json")) or os.path.exists(os.path.join(src, "dataset_dict.json"))
    ):
        loaded = datasets.load_from_disk(src)
        if isinstance(loaded, datasets.DatasetDict):
            return open_source(loaded, split)[0], label
        return loaded, label
    if os.path.isfile(src):
        ext = src.rsplit(".", 1)[-1].lower()
        builder = {"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet", "arrow": "arrow"}.get(ext)
        if builder is None:
            raise ValueError(
                f"cannot read {src}: unknown file type {ext!r}; use .jsonl, .json, .csv, .parquet or .arrow."
            )
        try:
            return datasets.load_dataset(builder, data_files={"train": src}, split="train", **kwargs), src
        except Exception:
            if builder in ("json", "csv"):
                check_utf8(src)  # datasets says DatasetGenerationError; name the line that is not UTF-8
            raise
    # a Hub name, or a local folder in Hub layout (data files, optionally a README with configs)
    return datasets.load_dataset(src, name, split=split, data_files=data_files, **kwargs), label


def load_dataset_source(
    source: Any,
    split: str | None = "train",
    columns: ColumnMap | Mapping[str, Any] | None = None,
    taxonomy: int = 3,
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
    get_taxonomy(taxonomy)
    ds, label = open_source(source, split, data_files, name, **load_kwargs)
    needed = [c for c in (cols.prompt, cols.response, cols.categories, cols.is_safe, cols.unsafe) if c is not None]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise ValueError(
            f"{label}: missing field(s) {missing}; the data set has columns {ds.column_names}. Fix the column map."
        )
    if cols.categories is None and cols.is_safe is None and cols.unsafe is None:
        raise ValueError("the column map names no label column; set `categories`, `is_safe` or `unsafe`.")
    records = []
    source_name = label
    for k, row in enumerate(ds):
        if limit is not None and len(records) >= limit:
            break
        where = locate(label, k, "index")
        conv = as_conversation(
            row[cols.prompt], row.get(cols.response) if cols.response else None, where, cols.prompt, cols.response
        )
        cats: tuple[str, ...] = ()
        if cols.categories is not None:
            raw = row[cols.categories]
            if isinstance(raw, Mapping):
                try:
                    cats = tuple(map_beavertails(raw, taxonomy))
                except ValueError as e:
                    raise ValueError(f"{where}: field {cols.categories!r}: {e}") from None
            elif isinstance(raw, str):
                cats = check_ids([c for c in raw.split(",") if c.strip()], taxonomy, where, cols.categories)
            elif isinstance(raw, Sequence):
                cats = check_ids(raw, taxonomy, where, cols.categories)
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
    split: str = "30k_test",
    taxonomy: int = 3,
    source: Any = BEAVERTAILS,
    dedup: bool = True,
    limit: int | None = None,
    **load_kwargs: Any,
) -> list[Record]:
    """BeaverTails as response-classification records, categories mapped to Llama Guard ``taxonomy``.

    Rows with a (prompt, response) pair already seen are dropped (``dedup``); ``index`` stays the
    row index in the split. ``source`` may be a local copy in the Hub layout or a saved dataset.
    """
    records = load_dataset_source(source, split=split, columns=BEAVERTAILS_COLUMNS, taxonomy=taxonomy, **load_kwargs)
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
