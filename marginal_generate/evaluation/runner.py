"""The benchmark runner behind ``marginal-generate evaluate``: score, calibrate, report.

Flow (one direction)::

    records ──split (validation / test)──▶ batches sorted by prompt length
        ──score (every strategy; the uncertainty baselines by one forced pass)──▶ per-sample JSONL
        ──gather──▶ calibrators and uncertainty thresholds fitted on validation
        ──metrics on test──▶ table (terminal, CSV, JSON) + reliability diagrams (PNG)
        ──alignment with soft references (records with ``soft_labels``)──▶ second table + alignment.json

Nothing lost: every sample's result is appended to ``samples.rank<k>.jsonl`` in the output
directory as soon as its batch is scored, one ``os.write`` of one complete line followed by
``fsync``. A run killed at any moment leaves at most a torn last line, which is dropped (and cut
from the file) when the run is started again with ``resume=True``; samples already on disk are
skipped. Batches are formed over *all* samples, before done ones are skipped, so a sample is
always scored in the same batch (same padding, same numbers) whether the run was interrupted or
not, and whatever the number of processes. A sample that fails (too long for the model's
context, a bad record) is recorded with its index and the reason; the run goes on.

Data-parallel: under ``accelerate launch`` each process (:class:`accelerate.PartialState`) takes
its share of the pending batches (``split_between_processes``); the per-sample results are
gathered on the main process (``gather_object``, plus the files on disk), which alone computes and
prints the table: the same table as one process.

Rows of the table: each strategy on the test split, and with ``calibrate`` one row per
calibrator (``+TS`` temperature scaling, ``+CC`` contextual calibration, ``+BC`` batch calibration,
``+Platt`` Platt scaling) fitted on the validation split. Columns: for the categories micro and
macro F1, Hamming loss, ROC-AUC micro, AUPRC micro and ECE (micro, 15 equal-width bins); for the
binary unsafe label F1, precision, recall, accuracy, AUPRC and ECE.

Distribution alignment (Ma et al., 2025): when test records carry ``soft_labels`` (the fraction of
raters who chose each label, see :func:`marginal_generate.data.records.load_rater_annotations`) over the
model's labels (``unsafe``, S1…), each row also gets L1, NLL, Brier and JSD against them
(:func:`marginal_generate.calibration.alignment.distribution_alignment`, macro over labels and per label),
printed as a second table and written to ``alignment.json``. It is computed over the test samples
that carry soft labels, on the label columns where every such sample has a soft label and the row
has a probability: columns a strategy leaves NaN (``first_token``'s categories) are left out, and
each row lists what it left out. Without soft labels nothing of this is computed or written.
Platt scaling is fitted on the soft references where the validation samples have them (else on the
0/1 ones), on ``logit(p) - logit(1 - p(unsafe))`` for the categories (seed 3's "label minus none").
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .params import ALL_STRATEGIES, UNCERTAINTY_STRATEGIES, Params, StrategyParams, canonical_strategy, load_params
from ..prompted import PROMPTED_STRATEGIES

__all__ = [
    "CALIBRATORS",
    "TABLE_COLUMNS",
    "ALIGNMENT_COLUMNS",
    "EvalConfig",
    "Sample",
    "Report",
    "run_evaluation",
    "append_jsonl",
    "read_jsonl_results",
    "format_table",
    "alignment_row",
    "format_alignment_table",
]

#: ``--calibrate`` keys → row suffix.
CALIBRATORS: dict[str, str] = {"ts": "+TS", "cc": "+CC", "bc": "+BC", "platt": "+Platt"}

#: Table columns: (key, header).
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("categories_f1_micro", "cat F1 micro"),
    ("categories_f1_macro", "cat F1 macro"),
    ("categories_hamming_loss", "Hamming"),
    ("categories_roc_auc_micro", "ROC-AUC micro"),
    ("categories_auprc_micro", "AUPRC micro"),
    ("categories_ece", "cat ECE"),
    ("unsafe_f1", "unsafe F1"),
    ("unsafe_precision", "precision"),
    ("unsafe_recall", "recall"),
    ("unsafe_accuracy", "accuracy"),
    ("unsafe_auprc", "AUPRC"),
    ("unsafe_ece", "ECE"),
)

#: Alignment table columns: (key of :func:`~marginal_generate.calibration.alignment.distribution_alignment`, header).
ALIGNMENT_COLUMNS: tuple[tuple[str, str], ...] = (("l1", "L1"), ("nll", "NLL"), ("brier", "Brier"), ("jsd", "JSD"))

_RESULT_GLOB = "samples.rank*.jsonl"


# ----------------------------------------------------------------------------------- config


@dataclass
class EvalConfig:
    """Everything ``marginal-generate evaluate`` takes (see ``marginal-generate evaluate --help``).

    ``model`` / ``dataset`` None: the embedded tiny guard and its held-out data. ``strategies`` None:
    all of :data:`~marginal_generate.evaluation.params.ALL_STRATEGIES`. ``calibrate``: keys of :data:`CALIBRATORS`.
    ``validation_data`` None: a stratified ``validation_fraction`` of the data (seeded) is the
    validation split, the rest the test split.
    """

    model: str | None = None
    dataset: str | None = None
    split: str | None = None
    columns: dict[str, str] | None = None
    strategies: Sequence[str] | None = None
    params: str | None = None
    num_samples: int | None = None
    batch_size: int = 16
    device: str = "auto"
    dtype: str = "auto"
    calibrate: Sequence[str] = ()
    validation_fraction: float = 0.2
    validation_data: str | None = None
    output_dir: str = "marginal-generate-eval"
    resume: bool = False
    seed: int = 0
    version: int | None = None
    prompt_format: str = "auto"
    plots: bool = True
    n_bins: int = 15
    progress: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        self.strategies = list(dict.fromkeys(canonical_strategy(s) for s in (self.strategies or ALL_STRATEGIES)))
        calibrate = [c.strip().lower() for c in self.calibrate if c.strip()]
        for c in calibrate:
            if c not in CALIBRATORS:
                raise ValueError(f"`calibrate` has {c!r}; use a comma-separated subset of {list(CALIBRATORS)}, e.g. 'ts,cc,bc'.")
        self.calibrate = list(dict.fromkeys(calibrate))
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"`batch_size` must be an integer >= 1, got {self.batch_size!r}.")
        if self.num_samples is not None and (not isinstance(self.num_samples, int) or self.num_samples < 1):
            raise ValueError(f"`num_samples` must be an integer >= 1 (or None for all), got {self.num_samples!r}.")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"`validation_fraction` must be in [0, 1), got {self.validation_fraction!r}; 0.2 keeps a fifth for validation.")
        if self.version not in (None, 2, 3):
            raise ValueError(f"`version` must be 2 or 3 (Llama Guard 2 or 3 taxonomy), got {self.version!r}.")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16", "float64"):
            raise ValueError(f"`dtype` must be auto, float32, bfloat16, float16 or float64, got {self.dtype!r}.")


@dataclass(frozen=True)
class Sample:
    """One sample of the run: ``id`` (position in the run), the record, its split."""

    id: int
    record: Any
    split: str


@dataclass
class Report:
    """The result of a run: table rows, details, timing."""

    rows: list[dict[str, Any]]
    details: dict[str, Any]
    wall_time_s: float
    samples: int
    scored_now: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    resumed: int = 0
    alignment: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        return format_table(self.rows)

    def alignment_table(self) -> str:
        """The alignment rows as text ("" when the data had no soft labels)."""
        return format_alignment_table(self.alignment) if self.alignment else ""


# ----------------------------------------------------------------------------------- JSONL I/O


def append_jsonl(fd: int, obj: dict[str, Any]) -> None:
    """Append one JSON line with a single ``os.write`` on an ``O_APPEND`` descriptor, then ``fsync``."""
    data = (json.dumps(obj, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _repair(path: str) -> int:
    """Cut a torn (newline-less) last line off ``path``; returns the bytes removed."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return len(data) - keep


def read_jsonl_results(paths: Iterable[str]) -> tuple[dict[int, dict[str, Any]], int]:
    """Per-sample results from result files: ``{sample id: result}`` (first occurrence wins) and the
    number of lines dropped (a torn last line, or a line that is no JSON object with a ``sample`` key).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "samples.rank0.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"sample": 0, "x": 1}\\n{"sample": 0, "x": 2}\\n{"sample": 1, "x"')
    >>> results, dropped = read_jsonl_results([path])
    >>> results, dropped
    ({0: {'sample': 0, 'x': 1}}, 1)
    """
    out: dict[int, dict[str, Any]] = {}
    dropped = 0
    for path in sorted(paths):
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        if lines and lines[-1].strip():
            dropped += 1  # torn last line
        for line in lines[:-1]:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("sample"), int):
                dropped += 1
                continue
            out.setdefault(obj["sample"], obj)
    return out, dropped


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------- data


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
    dataset: str | None, split: str | None, columns: dict[str, str] | None, version: int
) -> tuple[list[Any], list[dict[str, Any]], str]:
    """Records of ``dataset`` (see :class:`EvalConfig`), load failures, and a display name."""
    from .. import data

    if dataset is None:
        from ..default_model import DEFAULT_EVAL_DATA

        records, failures = _load_tolerant(data.load_records_jsonl, DEFAULT_EVAL_DATA, version=version)
        return records, failures, "embedded held-out data"
    if dataset.lower() == "beavertails":
        return data.load_beavertails(split=split or "30k_test", version=version), [], f"BeaverTails {split or '30k_test'}"
    if os.path.isfile(dataset) and dataset.endswith((".jsonl", ".json")) and columns is None:
        kind = _jsonl_kind(dataset)
        if kind == "seed":
            records, failures = _load_tolerant(data.load_seed_jsonl, dataset, version=version)
            return records, failures, dataset
        if kind == "records":
            records, failures = _load_tolerant(data.load_records_jsonl, dataset, version=version)
            return records, failures, dataset
    if columns is None:
        raise ValueError(
            f"`dataset` {dataset!r} is neither a seed JSONL (unsafe_query + llama_guard_3_categories) nor a records JSONL; "
            "pass a column map, e.g. --columns prompt=question,categories=labels (keys: prompt, response, categories, is_safe, unsafe)."
        )
    records = data.load_dataset_source(dataset, split=split or "train", columns=columns, version=version)
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


# ----------------------------------------------------------------------------------- model


def _wants_cpu(device: str) -> bool:
    """Whether the process group must be a CPU one (gloo): ``ACCELERATE_USE_CPU`` (what ``accelerate launch
    --cpu`` / ``ACCELERATE_USE_CPU=true`` set), ``--device cpu``, or several processes on a machine without CUDA."""
    import torch
    from accelerate.utils import parse_flag_from_env

    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return parse_flag_from_env("ACCELERATE_USE_CPU") or device == "cpu" or (several and not torch.cuda.is_available())


def _resolve_device(device: str, state: Any) -> str:
    if device != "auto":
        return device
    return str(state.device)


def load_model(model_id: str | None, device: str, dtype: str) -> tuple[Any, Any, str]:
    """``(model, tokenizer, dtype name)``: the embedded guard for ``None``, else a Hub id or local path."""
    import torch

    if dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
    torch_dtype = getattr(torch, dtype)
    if model_id is None:
        from ..default_model import load_default

        model, tokenizer = load_default(device=device, dtype=torch_dtype)
        return model, tokenizer, dtype
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_id, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_id, dtype=torch_dtype).to(device).eval()
    if getattr(model.generation_config, "eos_token_id", None) is None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer, dtype


def _cpu_threads(model: Any, threads: int | None, processes: int) -> int:
    """Intra-op threads on CPU: ``threads`` if given; 1 for a small model (under 100M parameters,
    where thread overhead outweighs the work); else the cores shared among the processes."""
    if threads is not None:
        return threads
    if sum(p.numel() for p in model.parameters()) < 100_000_000:
        return 1
    return max(1, (os.cpu_count() or 1) // processes)


def _taxonomy_version(model_id: str | None, version: int | None) -> int:
    if version is not None:
        return version
    return 2 if model_id is not None and "guard-2" in model_id.lower() else 3


# ----------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class _Group:
    """Strategies scored by one ``score`` call (the same ``max_new_tokens``; any_place's top_p/eps)."""

    strategies: tuple[str, ...]
    max_new_tokens: int
    top_p: float
    eps: float


def group_strategies(resolved: dict[str, StrategyParams]) -> list[_Group]:
    """One group per distinct ``max_new_tokens`` of the core strategies (top_p and eps matter to any_place only).

    >>> from marginal_generate.evaluation.params import StrategyParams as P
    >>> [g.strategies for g in group_strategies({"greedy": P(), "any_place": P(eps=0.1), "fixed_place": P(max_new_tokens=9)})]
    [('greedy', 'any_place'), ('fixed_place',)]
    """
    groups: dict[int, list[str]] = {}
    for name, p in resolved.items():
        if name not in UNCERTAINTY_STRATEGIES and name not in PROMPTED_STRATEGIES:
            groups.setdefault(p.max_new_tokens, []).append(name)
    out = []
    for mnt, names in groups.items():
        tree = resolved.get("any_place") if "any_place" in names else None
        out.append(_Group(tuple(names), mnt, tree.top_p if tree else 0.99, tree.eps if tree else 0.01))
    return out


def _plain(values: Any) -> list[float | None]:
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in values]


class Scorer:
    """Encodes samples and scores batches of them under the run's strategies."""

    def __init__(self, model: Any, tokenizer: Any, space: Any, resolved: dict[str, StrategyParams], prompt_format: str, version: int) -> None:
        from ..uncertainty import forced_answer

        self.model, self.tokenizer, self.space = model, tokenizer, space
        self.groups = group_strategies(resolved)
        self.uncertainty = [s for s in resolved if s in UNCERTAINTY_STRATEGIES]
        self.prompted = {s: p for s, p in resolved.items() if s in PROMPTED_STRATEGIES}
        self.prompt_format, self.version = prompt_format, version
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        needed = max([g.max_new_tokens for g in self.groups] + [len(forced_answer(space).tokens) + 1 if self.uncertainty else 0])
        context = getattr(model.config, "max_position_embeddings", None)
        self.max_prompt = None if context is None else context - needed
        self.context, self.needed = context, needed

    def encode(self, record: Any) -> list[int]:
        """Prompt ids of one record; ``ValueError`` with the reason if it cannot be scored."""
        from ..prompts.formats import render

        text = render(self.tokenizer, list(record.conversation), self.prompt_format, self.version)
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.max_prompt is not None and len(ids) > self.max_prompt:
            raise ValueError(
                f"prompt is {len(ids)} tokens; with {self.needed} answer tokens it exceeds the model's context of "
                f"{self.context} tokens (max_position_embeddings)"
            )
        return ids

    def score(self, prompts: list[list[int]], conversations: list[Any] | None = None) -> list[dict[str, Any]]:
        """Per-prompt results (scores per strategy, greedy text, uncertainty readings) of one batch.

        ``conversations`` (the samples' conversations, in the order of ``prompts``) are needed by the
        strategies that prompt once per label (``per_category_prompt``, ``unary``)."""
        import torch

        from ..generate import score
        from ..prompted import score_label_prompts
        from ..uncertainty import uncertainty_scores

        device = next(self.model.parameters()).device
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p)
            attention_mask[i, width - len(p) :] = 1
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        out: list[dict[str, Any]] = [{"scores": {}} for _ in prompts]
        for group in self.groups:
            scored = score(
                self.model, input_ids, attention_mask, self.space, list(group.strategies),
                max_new_tokens=group.max_new_tokens, top_p=group.top_p, eps=group.eps,
            )
            for name, result in scored.items():
                for i in range(len(prompts)):
                    out[i]["scores"][name] = _plain(result.probs[i].tolist())
                    out[i].setdefault("text", result.texts[i])
                    if result.upper is not None:
                        out[i].setdefault("upper", {})[name] = _plain(result.upper[i].tolist())
        if self.prompted:
            if conversations is None or len(conversations) != len(prompts):
                raise ValueError(f"strategies {sorted(self.prompted)} need the conversation of each of the {len(prompts)} prompts.")
            for name, p in self.prompted.items():
                result = score_label_prompts(
                    self.model, self.tokenizer, [list(c) for c in conversations], name, self.space.categories,
                    prompt_format=self.prompt_format, version=self.version, max_new_tokens=p.max_new_tokens, batch_size=len(prompts),
                )
                for i in range(len(prompts)):
                    out[i]["scores"][name] = _plain(result.probs[i].tolist())
                    out[i].setdefault("text", result.texts[i])
        if self.uncertainty:
            u = uncertainty_scores(self.model, input_ids, attention_mask, self.space)
            cats = self.space.categories
            for i in range(len(prompts)):
                out[i]["uncertainty"] = {
                    "lead": u.leads[i],
                    "p_unsafe": float(u.p_unsafe[i]),
                    "category_probs": [float(v) for v in u.category_probs[i]],
                    "top1": [c for c, v in zip(cats, u.top1[i].tolist()) if v],
                    "top2": [c for c, v in zip(cats, u.top2[i].tolist()) if v],
                    **{k: float(v[i]) for k, v in u.uncertainty.items()},
                }
            for name in self.uncertainty:
                probs = u.to_label_scores(name).probs
                for i in range(len(prompts)):
                    out[i]["scores"][name] = _plain(probs[i].tolist())
        return out


def _result_base(sample: Sample) -> dict[str, Any]:
    r = sample.record
    base = {
        "sample": sample.id,
        "index": r.index,
        "split": sample.split,
        "unsafe": 0 if r.is_safe else 1,
        "categories": list(r.categories),
    }
    if getattr(r, "soft_labels", None) is not None:
        base["soft_labels"] = dict(r.soft_labels)
    return base


def make_batches(lengths: dict[int, int], batch_size: int) -> list[list[int]]:
    """Sample ids sorted by prompt length (ties by id), cut into batches.

    >>> make_batches({0: 5, 1: 2, 2: 9, 3: 2}, 2)
    [[1, 3], [0, 2]]
    """
    order = sorted(lengths, key=lambda k: (lengths[k], k))
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


# ----------------------------------------------------------------------------------- metrics


def _arrays(results: list[dict[str, Any]], name: str, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    probs = np.array([[np.nan if v is None else v for v in r["scores"][name]] for r in results], dtype=np.float64).reshape(len(results), len(labels))
    refs = np.array([[r["unsafe"], *[1 if c in r["categories"] else 0 for c in labels[1:]]] for r in results], dtype=np.int64).reshape(len(results), len(labels))
    return probs, refs


def _soft_arrays(results: list[dict[str, Any]], labels: Sequence[str]) -> np.ndarray:
    """``[n, len(labels)]`` soft references of the results; NaN where a result has no soft label for a label."""
    return np.array([[r.get("soft_labels", {}).get(label, np.nan) for label in labels] for r in results], dtype=np.float64).reshape(len(results), len(labels))


def _uncertainty_arrays(results: list[dict[str, Any]], name: str, categories: Sequence[str]) -> tuple[np.ndarray, ...]:
    u = np.array([r["uncertainty"][name] for r in results], dtype=np.float64)
    top1 = np.array([[1 if c in r["uncertainty"]["top1"] else 0 for c in categories] for r in results], dtype=np.int64).reshape(len(results), len(categories))
    top2 = np.array([[1 if c in r["uncertainty"]["top2"] else 0 for c in categories] for r in results], dtype=np.int64).reshape(len(results), len(categories))
    p_unsafe = np.array([r["uncertainty"]["p_unsafe"] for r in results], dtype=np.float64)
    return u, top1, top2, p_unsafe


def metrics_row(probs: np.ndarray, refs: np.ndarray, threshold: float, n_bins: int, predictions: np.ndarray | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The table's values for ``[n, 1 + K]`` probabilities (NaN columns: undefined) and 0/1 references,
    and the reliability bins (``unsafe`` and ``categories``). ``predictions``: 0/1 decisions that
    replace ``probs >= threshold`` for F1, precision, recall, accuracy and Hamming loss."""
    from ..calibration.metrics import (
        binary_calibration_metrics,
        binary_classification_metrics,
        multilabel_calibration_metrics,
        multilabel_classification_metrics,
    )

    row: dict[str, Any] = {key: None for key, _ in TABLE_COLUMNS}
    bins: dict[str, Any] = {}
    if len(refs) == 0:
        return row, bins
    p_u, y_u = probs[:, 0], refs[:, 0]
    if np.all(np.isfinite(p_u)):
        if predictions is None:
            cls = binary_classification_metrics(p_u, y_u, threshold=threshold)
        else:
            cls = binary_classification_metrics(predictions[:, 0], y_u, prediction_type="labels")
            cls["auprc"] = binary_classification_metrics(p_u, y_u)["auprc"]
        cal = binary_calibration_metrics(p_u, y_u, n_bins=n_bins)
        row.update({f"unsafe_{k}": cls[k] for k in ("f1", "precision", "recall", "accuracy", "auprc")})
        row["unsafe_ece"], bins["unsafe"] = cal["ece"], cal["bins"]
    p_c, y_c = probs[:, 1:], refs[:, 1:]
    if np.all(np.isfinite(p_c)):
        ml = multilabel_classification_metrics(p_c, y_c, threshold=threshold)
        if predictions is not None:
            decided = multilabel_classification_metrics(predictions[:, 1:], y_c, prediction_type="labels")
            ml.update({k: decided[k] for k in ("f1_micro", "f1_macro", "hamming_loss")})
        cal = multilabel_calibration_metrics(p_c, y_c, n_bins=n_bins)
        row.update({f"categories_{k}": ml[k] for k in ("f1_micro", "f1_macro", "hamming_loss", "roc_auc_micro", "auprc_micro")})
        row["categories_ece"], bins["categories"] = cal["ece_micro"], cal["bins_micro"]
    return row, bins


def _calibrate(
    kind: str, val: np.ndarray, val_refs: np.ndarray, test: np.ndarray, content_free: np.ndarray | None, val_soft: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Calibrate each label column on its own; a column that cannot be fitted (NaN, one class in
    validation) is left as it is. Returns the calibrated test scores and the fitted parameters.

    ``platt`` fits on ``val_soft``'s column where every validation sample has a soft reference, else
    on the 0/1 ``val_refs``; a category column's feature is ``logit(p) - logit(none)`` with
    ``none = 1 - p(unsafe)`` (column 0 of the same scores) where that column is finite."""
    from ..calibration import BatchCalibration, ContextualCalibration, PlattScaling, TemperatureScaling

    out = test.copy()
    params: dict[str, Any] = {}
    j0_finite = bool(np.all(np.isfinite(val[:, 0])) and np.all(np.isfinite(test[:, 0])))
    for j in range(test.shape[1]):
        column = f"col{j}"
        if not (np.all(np.isfinite(val[:, j])) and np.all(np.isfinite(test[:, j]))):
            continue
        if kind == "cc":
            if content_free is None or not np.all(np.isfinite(content_free[:, j])):
                continue
            cal = ContextualCalibration().fit_content_free(content_free[:, j])
        else:
            refs, soft = val_refs[:, j], False
            if kind == "platt" and val_soft is not None and np.all(np.isfinite(val_soft[:, j])):
                refs, soft = val_soft[:, j], True
            if np.all(refs == 0) or np.all(refs == 1):
                params[column] = "not fitted: one class in validation"
                continue
            if kind == "platt":
                none = j > 0 and j0_finite
                platt = PlattScaling().fit(val[:, j], refs, none_scores=1.0 - val[:, 0] if none else None)
                out[:, j] = platt.transform(test[:, j], none_scores=1.0 - test[:, 0] if none else None)
                params[column] = {**platt.to_dict()["params"], "references": "soft" if soft else "0/1"}
                continue
            cal = (TemperatureScaling() if kind == "ts" else BatchCalibration()).fit(val[:, j], val_refs[:, j])
        out[:, j] = cal.transform(test[:, j])
        params[column] = cal.to_dict()["params"]
    return out, params


def alignment_row(probs: np.ndarray, soft: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """:func:`~marginal_generate.calibration.alignment.distribution_alignment` of one row's ``[n, L]`` probabilities
    against ``[n, L]`` soft references (NaN: none), over the samples with a soft reference and the
    label columns where each of them has one and the row has no NaN; the rest is listed in ``left_out``
    (measures None when nothing is left).

    >>> row = alignment_row(np.array([[0.9, np.nan], [0.2, np.nan]]), np.array([[1.0, 0.5], [0.0, 0.5]]), ["unsafe", "S1"])
    >>> round(row["l1"], 4), row["labels"], row["left_out"], row["n_samples"]
    (0.15, ['unsafe'], ['S1'], 2)
    """
    from ..calibration.alignment import MEASURES, distribution_alignment

    annotated = ~np.all(np.isnan(soft), axis=1)
    p, r = probs[annotated], soft[annotated]
    keep = np.all(np.isfinite(p), axis=0) & np.all(np.isfinite(r), axis=0)
    kept = [label for label, k in zip(labels, keep) if k]
    row: dict[str, Any] = {key: None for key in MEASURES}
    if len(p) and kept:
        row.update(distribution_alignment(p[:, keep], r[:, keep], labels=kept))
    else:
        row.update(per_label={}, n_samples=len(p))
    return {**row, "labels": kept, "left_out": [label for label, k in zip(labels, keep) if not k]}


# ----------------------------------------------------------------------------------- report


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}"


def _fixed_width(headers: list[str], body: list[list[str]]) -> tuple[list[int], list[str]]:
    """Column widths, and the lines of a fixed-width table (headers, a rule, the body): the first
    column left-aligned, the others right-aligned, two spaces apart."""
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    head = line(headers)
    return widths, [head, "-" * len(head), *[line(b) for b in body]]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The table as fixed-width text: one row per strategy (and calibrated variant)."""
    headers = ["strategy", *[h for _, h in TABLE_COLUMNS]]
    body = [[r["row"], *[_fmt(r.get(k)) for k, _ in TABLE_COLUMNS]] for r in rows]
    widths, lines = _fixed_width(headers, body)
    group = " " * (widths[0] + 2) + "categories (S1–S14)".center(sum(widths[1:7]) + 12) + "  " + "binary unsafe".center(sum(widths[7:]) + 10)
    return "\n".join([group.rstrip(), *lines])


def format_alignment_table(rows: list[dict[str, Any]]) -> str:
    """The alignment rows as fixed-width text: L1, NLL, Brier, JSD (lower is better), labels, samples.

    >>> print(format_alignment_table([{"row": "greedy", "l1": 0.25, "nll": 0.5, "brier": 0.1, "jsd": 0.05, "labels": ["unsafe"], "n_samples": 4}]))
    alignment with soft references (macro over labels; lower is better)
    strategy      L1     NLL   Brier     JSD  labels  samples
    ---------------------------------------------------------
    greedy    0.2500  0.5000  0.1000  0.0500       1        4
    """
    headers = ["strategy", *[h for _, h in ALIGNMENT_COLUMNS], "labels", "samples"]
    body = [[r["row"], *[_fmt(r.get(k)) for k, _ in ALIGNMENT_COLUMNS], str(len(r["labels"])), str(r["n_samples"])] for r in rows]
    _, lines = _fixed_width(headers, body)
    return "\n".join(["alignment with soft references (macro over labels; lower is better)", *lines])


def _write_outputs(output_dir: str, rows: list[dict[str, Any]], details: dict[str, Any]) -> None:
    with open(os.path.join(output_dir, "metrics.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", *[k for k, _ in TABLE_COLUMNS]])
        for r in rows:
            writer.writerow([r["row"], *["" if r.get(k) is None else f"{r[k]:.6f}" for k, _ in TABLE_COLUMNS]])
    _write_atomic(os.path.join(output_dir, "metrics.json"), json.dumps({"rows": rows, **details}, indent=2, allow_nan=False) + "\n")
    if "alignment" in details:
        _write_atomic(os.path.join(output_dir, "alignment.json"), json.dumps(details["alignment"], indent=2, allow_nan=False) + "\n")


def _save_plots(output_dir: str, row: str, bins: dict[str, Any]) -> list[str]:
    from ..calibration.plots import reliability_diagram

    paths = []
    os.makedirs(os.path.join(output_dir, "plots"), exist_ok=True)
    for kind, table in bins.items():
        path = os.path.join(output_dir, "plots", f"{row}_{kind}.png")
        fig = reliability_diagram(table, title=f"{row}: {'unsafe' if kind == 'unsafe' else 'categories (micro)'}")
        fig.savefig(path, dpi=100, format="png")
        paths.append(path)
    return paths


def _fingerprint(config: EvalConfig, resolved: dict[str, StrategyParams], dtype: str, version: int) -> dict[str, Any]:
    return {
        "model": config.model,
        "dataset": config.dataset,
        "split": config.split,
        "columns": config.columns,
        "validation_data": config.validation_data,
        "validation_fraction": config.validation_fraction,
        "num_samples": config.num_samples,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "dtype": dtype,
        "version": version,
        "prompt_format": config.prompt_format,
        "params": {k: dataclasses.asdict(v) for k, v in resolved.items()},
    }


def _prepare_output_dir(config: EvalConfig, fingerprint: dict[str, Any], state: Any, say: Callable[[str], None]) -> None:
    """Create the output directory; start fresh, or check that ``--resume`` continues the same run."""
    out = config.output_dir
    run_json = os.path.join(out, "run.json")
    if state.is_main_process:
        os.makedirs(out, exist_ok=True)
        existing = glob.glob(os.path.join(out, _RESULT_GLOB))
        if config.resume and os.path.exists(run_json):
            with open(run_json, encoding="utf-8") as f:
                previous = json.load(f)
            diff = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
            if diff:
                raise ValueError(
                    f"`--resume`: {out} holds a run with other settings ({', '.join(f'{k}: {previous.get(k)!r} → {fingerprint.get(k)!r}' for k in diff)}); "
                    "resume with the same options, or pass another --output-dir."
                )
        else:
            if existing:
                say(f"note: {out} held results of an earlier run; starting afresh (pass --resume to continue one)")
            for path in [*existing, *glob.glob(os.path.join(out, "plots", "*.png"))]:
                os.remove(path)
            for name in ("content_free.json", "scores.jsonl", "failures.jsonl", "metrics.csv", "metrics.json", "alignment.json"):
                if os.path.exists(os.path.join(out, name)):
                    os.remove(os.path.join(out, name))
            _write_atomic(run_json, json.dumps(fingerprint, indent=2) + "\n")
    state.wait_for_everyone()


def _content_free(config: EvalConfig, scorer: Scorer) -> dict[str, list[list[float | None]]]:
    """Each strategy's scores on the content-free inputs (cached in ``content_free.json``)."""
    from ..calibration import CONTENT_FREE_INPUTS

    path = os.path.join(config.output_dir, "content_free.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    conversations = [({"role": "user", "content": text},) for text in CONTENT_FREE_INPUTS]
    prompts = [scorer.encode(_Plain(conv)) for conv in conversations]
    results = scorer.score(prompts, conversations)
    scores = {name: [r["scores"][name] for r in results] for name in results[0]["scores"]}
    _write_atomic(path, json.dumps(scores) + "\n")
    return scores


@dataclass(frozen=True)
class _Plain:
    conversation: tuple[dict[str, str], ...]


def _say_default(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_evaluation(config: EvalConfig, say: Callable[[str], None] = _say_default) -> Report | None:
    """Run the evaluation; returns the :class:`Report` on the main process and None on the others."""
    import torch
    from accelerate import PartialState

    from ..labels.space import LabelSpace

    start = time.perf_counter()
    state = PartialState(cpu=_wants_cpu(config.device))

    params: Params = load_params(config.params)
    resolved = params.for_model(config.model, config.strategies)
    version = _taxonomy_version(config.model, config.version)
    device = _resolve_device(config.device, state)
    model, tokenizer, dtype = load_model(config.model, device, config.dtype)
    space = LabelSpace.llama_guard(tokenizer, version=version)
    threads_before = torch.get_num_threads()
    if str(next(model.parameters()).device) == "cpu":
        torch.set_num_threads(_cpu_threads(model, config.threads, state.num_processes))
    try:
        return _run(config, say, state, model, tokenizer, dtype, device, version, resolved, space, start)
    finally:
        torch.set_num_threads(threads_before)


def _run(
    config: EvalConfig,
    say: Callable[[str], None],
    state: Any,
    model: Any,
    tokenizer: Any,
    dtype: str,
    device: str,
    version: int,
    resolved: dict[str, StrategyParams],
    space: Any,
    start: float,
) -> Report | None:
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    main = state.is_main_process
    talk = say if main else (lambda _m: None)

    records, failures, data_name = load_records(config.dataset, config.split, config.columns, version)
    validation = None
    if config.validation_data is not None:
        validation, val_failures, _ = load_records(config.validation_data, config.split, config.columns, version)
        failures += [dict(f, split="validation") for f in val_failures]
    samples = make_samples(records, validation, config.validation_fraction, config.num_samples, config.seed)
    by_id = {s.id: s for s in samples}
    n_val = sum(s.split == "validation" for s in samples)
    needs_validation = bool(config.calibrate) or any(resolved[s].threshold is None for s in resolved if s in UNCERTAINTY_STRATEGIES)
    if needs_validation and n_val == 0:
        raise ValueError(
            "the validation split is empty, but calibration or an uncertainty threshold ('auto') is fitted on it; "
            "set --validation-fraction > 0, pass --validation-data, or give the uncertainty strategies a numeric threshold in --params."
        )
    fingerprint = _fingerprint(config, resolved, dtype, version)
    _prepare_output_dir(config, fingerprint, state, talk)

    talk(
        f"evaluate: model {config.model or 'embedded tiny guard'} ({dtype}, {device}, {state.num_processes} process(es)); "
        f"data {data_name}: {len(samples)} samples ({len(samples) - n_val} test, {n_val} validation)"
    )
    scorer = Scorer(model, tokenizer, space, resolved, config.prompt_format, version)

    # -- encode, and skip what is on disk ---------------------------------------------------------
    done, dropped = read_jsonl_results(glob.glob(os.path.join(config.output_dir, _RESULT_GLOB)))
    if dropped and main:
        talk(f"resume: dropped {dropped} torn or unreadable line(s)")
    encoded: dict[int, list[int]] = {}
    encode_failures: dict[int, str] = {}
    for s in samples:
        try:
            encoded[s.id] = scorer.encode(s.record)
        except Exception as err:  # noqa: BLE001 - a bad sample is reported and skipped
            encode_failures[s.id] = f"{type(err).__name__}: {err}"
    batches = make_batches({k: len(v) for k, v in encoded.items()}, config.batch_size)
    pending = [b for b in batches if any(k not in done for k in b)]
    pending_failures = [k for k in encode_failures if k not in done]
    state.wait_for_everyone()  # everyone has read the files before anyone appends
    if config.resume and main and done:
        talk(f"resume: {len(done)} sample(s) already done, {sum(len(b) for b in pending)} to score")
    order = np.random.default_rng(config.seed).permutation(len(pending))  # balance long and short batches
    pending = [pending[k] for k in order]

    path = os.path.join(config.output_dir, f"samples.rank{state.process_index}.jsonl")
    _repair(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    new_results: list[dict[str, Any]] = []
    score_start = time.perf_counter()
    try:
        if main:
            for k in pending_failures:
                result = dict(_result_base(by_id[k]), error=encode_failures[k])
                append_jsonl(fd, result)
                new_results.append(result)
        with state.split_between_processes(pending) as mine:
            total = sum(len(b) for b in mine)
            bar = tqdm(total=total, desc="samples", unit="sample", disable=not (main and config.progress), file=sys.stderr)
            for batch in mine:
                for result in _score_batch(scorer, batch, encoded, by_id, done):
                    append_jsonl(fd, result)
                    new_results.append(result)
                bar.update(len(batch))
            bar.close()
    finally:
        os.close(fd)
    score_time = time.perf_counter() - score_start

    gathered = gather_object(new_results) if state.num_processes > 1 else new_results
    state.wait_for_everyone()
    if not main:
        return None

    # -- merge -------------------------------------------------------------------------------------
    merged, _ = read_jsonl_results(glob.glob(os.path.join(config.output_dir, _RESULT_GLOB)))
    for r in gathered:
        merged.setdefault(r["sample"], r)
    missing = [s.id for s in samples if s.id not in merged]
    if missing:
        raise RuntimeError(f"internal error: {len(missing)} sample(s) have no result after the run: {missing[:10]}")
    results = [merged[s.id] for s in samples]
    with open(os.path.join(config.output_dir, "scores.jsonl"), "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, allow_nan=False, ensure_ascii=False) + "\n")
    failures += [{"sample": r["sample"], "index": r["index"], "split": r["split"], "error": r["error"]} for r in results if "error" in r]
    ok = [r for r in results if "error" not in r]
    for f_ in failures:
        where = f"line {f_['line']}" if f_.get("line") else f"sample {f_['sample']} (index {f_['index']})"
        talk(f"failed: {where}: {f_['error']}")
    with open(os.path.join(config.output_dir, "failures.jsonl"), "w", encoding="utf-8") as f:
        for f_ in failures:
            f.write(json.dumps(f_) + "\n")

    content_free = _content_free(config, scorer) if "cc" in config.calibrate else None
    rows, details = _report(config, resolved, space, ok, content_free, talk)
    wall = time.perf_counter() - start
    scored_now = sum(1 for r in gathered if "error" not in r)
    details.update(
        model=config.model or "embedded tiny guard",
        dataset=data_name,
        samples={"total": len(samples), "test": sum(r["split"] == "test" for r in ok), "validation": sum(r["split"] == "validation" for r in ok), "failed": len(failures)},
        processes=state.num_processes,
        wall_time_s=round(wall, 3),
        scoring_time_s=round(score_time, 3),
        scored_now=scored_now,
        failures=failures,
    )
    _write_outputs(config.output_dir, rows, details)
    resumed = len(ok) - scored_now
    return Report(rows, details, wall, len(samples), scored_now, failures, resumed, details.get("alignment", {}).get("rows", []))


def _score_batch(scorer: Scorer, batch: list[int], encoded: dict[int, list[int]], by_id: dict[int, Sample], done: dict[int, Any]) -> list[dict[str, Any]]:
    """Results of the not-done samples of a batch; the whole batch is scored so its numbers never change.
    If the batch fails, each sample is tried alone and a failing one is reported with its reason."""
    try:
        scored = scorer.score([encoded[k] for k in batch], [by_id[k].record.conversation for k in batch])
    except Exception:  # noqa: BLE001
        scored = []
        for k in batch:
            try:
                scored.append(scorer.score([encoded[k]], [by_id[k].record.conversation])[0])
            except Exception as err:  # noqa: BLE001
                scored.append({"error": f"{type(err).__name__}: {err}"})
    return [dict(_result_base(by_id[k]), **s) for k, s in zip(batch, scored) if k not in done]


def _report(
    config: EvalConfig,
    resolved: dict[str, StrategyParams],
    space: Any,
    results: list[dict[str, Any]],
    content_free: dict[str, Any] | None,
    say: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from tqdm.auto import tqdm

    labels = space.labels
    val = [r for r in results if r["split"] == "validation"]
    test = [r for r in results if r["split"] == "test"]
    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {"thresholds": {}, "calibrators": {}, "plots": []}
    val_soft, test_soft = _soft_arrays(val, labels), _soft_arrays(test, labels)
    aligned: list[dict[str, Any]] | None = None
    if not np.all(np.isnan(test_soft)):
        aligned = []
        details["alignment"] = {"reference": "soft labels (fraction of raters) of the test split", "rows": aligned}
    elif any("soft_labels" in r for r in test):
        say(f"note: the records' soft labels name none of the model's labels ({', '.join(labels)}); no alignment metrics")
    for name in tqdm(config.strategies, desc="strategies", unit="strategy", disable=not config.progress, file=sys.stderr):
        p = resolved[name]
        test_p, test_y = _arrays(test, name, labels)
        val_p, val_y = _arrays(val, name, labels)
        predictions = None
        threshold = p.threshold if p.threshold is not None else 0.5
        if name in UNCERTAINTY_STRATEGIES:
            from ..uncertainty import _predict, select_threshold

            u_val = _uncertainty_arrays(val, name, space.categories)
            if p.threshold is None:
                t, f1 = select_threshold(*u_val, val_y[:, 1:])
                details["thresholds"][name] = {"threshold": t, "picked_on": "validation", "validation_samples": len(val), "validation_f1_micro": f1}
                say(f"{name}: uncertainty threshold {t:.4f} picked on the validation split ({len(val)} samples, category micro-F1 {f1:.4f} there), not on the scored samples")
            else:
                t = p.threshold
                details["thresholds"][name] = {"threshold": t, "picked_on": "params"}
            u, top1, top2, pu = _uncertainty_arrays(test, name, space.categories)
            predictions = _predict(pu, top1, top2, u, t)
            threshold = 0.5
        variants: list[tuple[str, np.ndarray]] = [(name, test_p)]
        for kind in config.calibrate:
            cf = None
            if content_free is not None and name in content_free:
                cf = np.array([[np.nan if v is None else v for v in row] for row in content_free[name]], dtype=np.float64)
            calibrated, fitted = _calibrate(kind, val_p, val_y, test_p, cf, val_soft)
            details["calibrators"][name + CALIBRATORS[kind]] = fitted
            variants.append((name + CALIBRATORS[kind], calibrated))
        for row_name, probs in variants:
            row, bins = metrics_row(probs, test_y, threshold, config.n_bins, predictions)
            rows.append({"row": row_name, **row})
            if aligned is not None:
                aligned.append({"row": row_name, **alignment_row(probs, test_soft, labels)})
            if config.plots and bins:
                try:
                    details["plots"] += _save_plots(config.output_dir, row_name, bins)
                except ImportError:
                    say("note: matplotlib is not installed, so no reliability diagrams (pip install matplotlib)")
                    config.plots = False
    return rows, details

