"""The run's records: the data source read (seed JSONL, records JSONL, ``datasets``), the validation/test split, the samples."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .config import Sample

__all__ = ["load_records", "make_samples"]


def _load_tolerant(loader: Callable[..., list[Any]], path: str, **kwargs: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """``loader(path)``; if a line is bad, load line by line, keep the good ones and report the bad ones."""
    try:
        return loader(path, **kwargs), []
    except ValueError:
        pass
    records, failures = [], []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    with tempfile.TemporaryDirectory() as tmp:
        one = os.path.join(tmp, os.path.basename(path))
        for k, line in enumerate(lines):
            if not line.strip():
                continue
            with open(one, "wb") as f:
                f.write(line + b"\n")
            try:
                (record,) = loader(one, **kwargs)
            except ValueError as err:
                reason = str(err).replace(f"{one}, line 1", f"{path}, line {k + 1}")
                failures.append({"sample": None, "index": k, "line": k + 1, "error": reason})
                continue
            records.append(dataclasses.replace(record, index=k, source=os.path.basename(path)))
    return records, failures


def _jsonl_kind(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                if "unsafe_query" in obj:
                    return "seed"
                if "conversation" in obj:
                    return "records"
                return "table"
    return "table"


def load_records(
    dataset: str | None, split: str | None, columns: dict[str, str] | None, taxonomy: int
) -> tuple[list[Any], list[dict[str, Any]], str]:
    """Records of ``dataset`` (see :class:`EvalConfig`), load failures, and a display name."""
    from .. import data

    if dataset is None:
        from ..default_model import DEFAULT_EVAL_DATA

        records, failures = _load_tolerant(data.load_records_jsonl, DEFAULT_EVAL_DATA, taxonomy=taxonomy)
        return records, failures, "embedded held-out data"
    if dataset.lower() == "beavertails":
        return data.load_beavertails(split=split or "30k_test", taxonomy=taxonomy), [], f"BeaverTails {split or '30k_test'}"
    if os.path.isfile(dataset) and dataset.endswith((".jsonl", ".json")) and columns is None:
        kind = _jsonl_kind(dataset)
        if kind == "seed":
            records, failures = _load_tolerant(data.load_seed_jsonl, dataset, taxonomy=taxonomy)
            return records, failures, dataset
        if kind == "records":
            records, failures = _load_tolerant(data.load_records_jsonl, dataset, taxonomy=taxonomy)
            return records, failures, dataset
    if columns is None:
        raise ValueError(
            f"`dataset` {dataset!r} is neither a seed JSONL (unsafe_query + llama_guard_3_categories) nor a records JSONL; "
            "pass a column map, e.g. --columns prompt=question,categories=labels (keys: prompt, response, categories, is_safe, unsafe)."
        )
    records = data.load_dataset_source(dataset, split=split or "train", columns=columns, taxonomy=taxonomy)
    return records, [], f"{dataset} ({split or 'train'})"


def _stratified(records: Sequence[Any], fraction: float, rng: np.random.Generator) -> set[int]:
    """Positions of a validation split with ``fraction`` of each class (safe / unsafe), at least one where a class has two."""
    chosen: set[int] = set()
    for safe in (False, True):
        positions = [k for k, r in enumerate(records) if r.is_safe == safe]
        if not positions or fraction == 0:
            continue
        n = int(round(fraction * len(positions)))
        if n == 0 and len(positions) >= 2:
            n = 1
        chosen.update(int(p) for p in rng.permutation(positions)[:n])
    return chosen


def make_samples(
    records: list[Any], validation: list[Any] | None, fraction: float, num_samples: int | None, seed: int
) -> list[Sample]:
    """The run's samples: an optional seeded subset of ``num_samples``, then the validation/test split."""
    rng = np.random.default_rng(seed)
    if num_samples is not None and num_samples < len(records):
        keep = sorted(int(k) for k in rng.permutation(len(records))[:num_samples])
        records = [records[k] for k in keep]
    if validation is not None:
        test = [Sample(k, r, "test") for k, r in enumerate(records)]
        return test + [Sample(len(records) + k, r, "validation") for k, r in enumerate(validation)]
    val = _stratified(records, fraction, np.random.default_rng(seed + 1))
    return [Sample(k, r, "validation" if k in val else "test") for k, r in enumerate(records)]
