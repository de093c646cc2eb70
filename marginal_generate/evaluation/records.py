"""The run's records: the data source read (seed JSONL, records JSONL, ``datasets``), the validation/test split, the
samples."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .config import Sample

__all__ = ["load_records", "make_samples", "sample_digest"]


def _load_tolerant(
    loader: Callable[..., list[Any]], path: str, **kwargs: Any
) -> tuple[list[Any], list[dict[str, Any]]]:
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
                failure = {"sample": None, "index": k, "line": k + 1, "error": reason}
                if getattr(err, "unknown_ids", None):
                    failure.update(unknown_ids=list(err.unknown_ids), taxonomy=err.taxonomy)  # type: ignore[attr-defined]
                failures.append(failure)
                continue
            records.append(dataclasses.replace(record, index=k, source=os.path.basename(path)))
    return records, failures


def _jsonl_kind(path: str) -> tuple[str, list[str]]:
    """``("seed" | "records" | "table", fields of the first JSON object line)``."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                if "unsafe_query" in obj:
                    return "seed", list(obj)
                if "conversation" in obj:
                    return "records", list(obj)
                return "table", list(obj)
    return "table", []


#: File types read through ``datasets`` when ``--columns`` says which columns hold what.
TABLE_FILES: dict[str, str] = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".parquet": "Parquet",
    ".arrow": "Arrow",
    ".json": "JSON",
    ".jsonl": "JSONL",
}

_COLUMNS_HINT = "--columns prompt=question,categories=labels (keys: prompt, response, categories, is_safe, unsafe)"


def _is_blank(path: str) -> bool:
    """Whether a file holds nothing but whitespace (read up to 1 MiB; a longer file is not blank)."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    return not head.strip() and len(head) < (1 << 20)


def _check_file(dataset: str, split: str | None, columns: dict[str, str] | None) -> str | None:
    """For a local file: ``"seed"`` / ``"records"`` (read by this package), None (read through ``datasets``),
    or a ``ValueError`` that says what is wrong with it."""
    if split is not None:
        raise ValueError(
            f"`--split` {split!r} picks a split of a datasets source (beavertails, "
            "a Hub data set, a saved DatasetDict); "
            f"{dataset} is a single file, so drop --split."
        )
    if _is_blank(dataset):
        raise ValueError(f"`--dataset` {dataset} is empty; it needs one record per line (see --help for the forms).")
    ext = os.path.splitext(dataset)[1].lower()
    if columns is not None:
        if ext not in TABLE_FILES:
            raise ValueError(
                f"`--dataset` {dataset}: cannot read a {ext or 'extension-less'} file with "
                "--columns; use .jsonl, .json, .csv, .tsv, .parquet or .arrow."
            )
        return None
    if ext in (".jsonl", ".json"):
        kind, fields = _jsonl_kind(dataset)
        if kind != "table":
            return kind
        raise ValueError(
            f"`--dataset` {dataset} is neither a seed JSONL (unsafe_query + "
            "llama_guard_3_categories) nor a records JSONL "
            "(conversation, is_safe, categories); its first line has fields "
            f"{fields}. Say which hold what with {_COLUMNS_HINT}."
        )
    if ext in TABLE_FILES:
        raise ValueError(
            f"`--dataset` {dataset} is a {TABLE_FILES[ext]} file; say which columns hold what with {_COLUMNS_HINT}."
        )
    raise ValueError(
        f"`--dataset` {dataset}: unknown file type {ext or '(none)'!r}; use a .jsonl "
        "(seed or records), or .csv / .parquet with --columns."
    )


def _looks_like_file(dataset: str) -> bool:
    """A path to a local file or folder rather than a Hub name (``org/name``)."""
    return (
        dataset.startswith((".", "/", "~"))
        or os.path.isabs(dataset)
        or dataset.count("/") > 1
        or os.path.splitext(dataset)[1].lower() in TABLE_FILES
    )


def _from_datasets(load: Callable[[], list[Any]], dataset: str) -> list[Any]:
    """Records read through ``datasets``; what goes wrong there (offline, no such data set) becomes one ``ValueError``
    line."""
    from ..loading import hub_offline

    remote = not os.path.exists(dataset)
    offline = hub_offline() if remote else None
    if remote:
        if offline is not None and "HF_HUB_OFFLINE" not in offline:
            raise ValueError(
                f"{offline}: `--dataset` {dataset} is not a local file or folder; "
                "connect, or set HF_HUB_OFFLINE=1 to read a copy "
                "in the local datasets cache, or pass a local file."
            )
    try:
        return load()
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - datasets raises many kinds; the user needs one line
        text = " ".join(str(err).split()) or type(err).__name__
        if offline is not None:  # HF_HUB_OFFLINE is set, and the data set is not in the datasets cache
            raise ValueError(
                f"{offline}: cannot load `--dataset` {dataset} ({type(err).__name__}: {text[:200]}); load it once "
                "where the Hub is reachable (datasets caches it for offline use), or pass a local file."
            ) from None
        raise ValueError(f"cannot load `--dataset` {dataset}: {type(err).__name__}: {text[:300]}") from None


def load_records(
    dataset: str | None, split: str | None, columns: dict[str, str] | None, taxonomy: int | None
) -> tuple[list[Any], list[dict[str, Any]], str]:
    """Records of ``dataset`` (see :class:`EvalConfig`), load failures, and a display name.

    Each way the source can be wrong (no such file, an empty file, a CSV without ``--columns``,
    ``--split`` on a single file, offline) is one ``ValueError`` that says what to do."""
    from .. import data

    if dataset is None:
        if split is not None:
            raise ValueError(
                "`--split` picks a split of a datasets source; the embedded held-out "
                "data is a single file, so drop --split."
            )
        from ..default_model import DEFAULT_EVAL_DATA

        records, failures = _load_tolerant(data.load_records_jsonl, DEFAULT_EVAL_DATA, taxonomy=taxonomy)
        return records, failures, "embedded held-out data"
    if dataset.lower() == "go_emotions":  # the raw rater rows: label lists with soft labels (--grammar label_list)
        records = _from_datasets(lambda: data.load_go_emotions(split=split or "train"), "go_emotions")
        return records, [], f"GoEmotions raw {split or 'train'}"
    if dataset.lower() == "beavertails":
        records = _from_datasets(
            lambda: data.load_beavertails(split=split or "30k_test", taxonomy=taxonomy), "beavertails"
        )
        return records, [], f"BeaverTails {split or '30k_test'}"
    if os.path.isfile(dataset):
        kind = _check_file(dataset, split, columns)
        if kind is not None:
            loader = data.load_seed_jsonl if kind == "seed" else data.load_records_jsonl
            records, failures = _load_tolerant(loader, dataset, taxonomy=taxonomy)
            if not records and not failures:
                raise ValueError(f"`--dataset` {dataset} holds no records (only blank lines).")
            return records, failures, dataset
    elif not os.path.exists(dataset) and _looks_like_file(dataset):
        raise ValueError(
            f"`--dataset` {dataset} does not exist; pass an existing file or folder, "
            "'beavertails', or a Hub data set name with --columns."
        )
    elif columns is None:
        where = "a folder" if os.path.isdir(dataset) else "not a local file, so a Hub data set"
        raise ValueError(f"`--dataset` {dataset} is {where}; say which columns hold what with {_COLUMNS_HINT}.")
    name = f"{dataset} ({split or 'train'})" if not os.path.isfile(dataset) else dataset
    records = _from_datasets(
        lambda: data.load_dataset_source(dataset, split=split or "train", columns=columns, taxonomy=taxonomy), dataset
    )
    return records, [], name


def _stratified(records: Sequence[Any], fraction: float, rng: np.random.Generator) -> set[int]:
    """Positions of a validation split with ``fraction`` of each class (safe / unsafe), at least one where a class has
    two."""
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


def sample_digest(sample: Sample) -> str:
    """A short SHA-256 of what a sample is scored and measured on: its record's conversation, labels (``is_safe``,
    categories, soft labels) and its split. Stored with each result, so that ``--resume`` can tell which scored
    samples the data no longer holds (:func:`~marginal_generate.evaluation.results.check_same_data`).

    >>> from marginal_generate.data import Record
    >>> record = Record(conversation=({"role": "user", "content": "hi"},), is_safe=True)
    >>> sample_digest(Sample(0, record, "test")) == sample_digest(Sample(5, record, "test"))
    True
    >>> sample_digest(Sample(0, record, "test")) == sample_digest(Sample(0, record, "validation"))
    False
    """
    r = sample.record
    soft = getattr(r, "soft_labels", None)
    content = {
        "conversation": [dict(m) for m in r.conversation],
        "is_safe": bool(r.is_safe),
        "categories": list(r.categories),
        "soft_labels": None if soft is None else {k: float(v) for k, v in dict(soft).items()},
        "split": sample.split,
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
