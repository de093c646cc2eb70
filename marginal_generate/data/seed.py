"""The seed repository's JSONL: ``unsafe_query`` with ``llama_guard_3_categories`` or ``llama_guard_2_categories``
(every row unsafe)."""

from __future__ import annotations

import os

from ..labels.taxonomy import get_taxonomy
from .records import Record, as_conversation, check_ids, locate, read_jsonl

__all__ = ["load_seed_jsonl"]


def load_seed_jsonl(path: str | os.PathLike, taxonomy: int | None = None) -> list[Record]:
    """The seed repository's JSONL: ``unsafe_query`` + ``llama_guard_3_categories`` (or ``_2_``).

    ``taxonomy`` picks the category field; ``None`` takes whichever the line has (3 first).
    ``index`` is the 0-based line number.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"unsafe_query": "q", "llama_guard_3_categories": ["S15"]}\\n')
    >>> load_seed_jsonl(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../bad.jsonl, line 1: field 'llama_guard_3_categories' has unknown category id 'S15'; expected...
    """
    if taxonomy is not None:
        get_taxonomy(taxonomy)
    records = []
    for k, obj in read_jsonl(path):
        where = locate(str(path), k + 1, "line")
        if "unsafe_query" not in obj:
            raise ValueError(f"{where}: missing field 'unsafe_query'.")
        versions = [taxonomy] if taxonomy is not None else [3, 2]
        fields = [f"llama_guard_{v}_categories" for v in versions]
        found = [(v, f) for v, f in zip(versions, fields) if f in obj]
        if not found:
            raise ValueError(f"{where}: missing field {' or '.join(repr(f) for f in fields)}.")
        v, f = found[0]
        ids = obj[f]
        if not isinstance(ids, list) or not ids:
            raise ValueError(f"{where}: field {f!r} must be a non-empty list of category ids, got {ids!r}.")
        conv = as_conversation(obj["unsafe_query"], None, where, "unsafe_query", None)
        records.append(Record(conv, False, check_ids(ids, v, where, f), k, os.path.basename(str(path))))
    return records
