"""The benchmark runner behind ``marginal-generate evaluate``: score, calibrate, report.

Flow (one direction)::

    records ──split (validation / test)──▶ batches sorted by prompt length
        ──score (every strategy; the uncertainty baselines by one forced pass)──▶ per-sample JSONL
        ──gather──▶ calibrators and uncertainty thresholds fitted on validation
        ──metrics on test──▶ table (terminal, CSV, JSON) + reliability diagrams (PNG)
        ──alignment with soft references (records with ``soft_labels``)──▶ second table + alignment.json

Nothing lost: every sample's result is appended to the process's journal ``samples.rank<k>.jsonl`` in the
output directory as soon as its batch is scored, one ``os.write`` of one complete line followed by
``fsync``. A run killed at any moment leaves at most a torn last line, which is dropped when the run is
started again with ``resume=True``; samples already on disk are skipped, samples that failed are scored
again. At the end (and at the start of a resumed run) the journals are merged into ``scores.jsonl``, one
line per sample, and removed. A resumed run must have the same settings and the same data (each result
carries its record's digest; ``run.json`` a fingerprint of all of them). Batches are formed over *all*
samples, before done ones are skipped, so a sample is always scored in the same batch (same padding, same
numbers) whether the run was interrupted or not, and whatever the number of processes. A sample that fails
(too long for the model's context, a bad record) is recorded with its index and the reason; the run goes
on. A run in which every test sample failed is a ``ValueError`` (how many, the first error, what to do)
raised after its files are written.

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
raters who chose each label, see :func:`marginal_generate.data.load_rater_annotations`) over the
model's labels (``unsafe``, S1…), each row also gets L1, NLL, Brier and JSD against them
(:func:`marginal_generate.calibration.alignment.distribution_alignment`, macro over labels and per label),
printed as a second table and written to ``alignment.json``. It is computed over the test samples
that carry soft labels, on the label columns where every such sample has a soft label and the row
has a probability: columns a strategy leaves NaN (``first_token``'s categories) are left out, and
each row lists what it left out. Without soft labels nothing of this is computed or written.
Platt scaling is fitted on the soft references where the validation samples have them (else on the
0/1 ones), on ``logit(p) - logit(1 - p(unsafe))`` for the categories (Ma et al.'s "label minus none").
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..garbage_collection import frozen_heap
from ..loading import (
    check_device,
    cpu_threads,
    load_model,
    resolve_device,
    taxonomy_for_model,
    wants_cpu,
)
from ..prompts.formats import resolve_format
from .config import EvalConfig
from .groups import check_groups, group_rows
from .label_lists import check_labels
from .params import (
    UNCERTAINTY_STRATEGIES,
    Params,
    StrategyParams,
    load_params,
)
from .records import load_records, make_samples, sample_digest
from .report import Report, build_report, write_outputs
from .results import (
    append_jsonl,
    check_output_dir,
    data_fingerprint,
    fingerprint,
    prepare_output_dir,
    read_jsonl_results,
    repair_jsonl,
    result_files,
    write_results,
)
from .scoring import Scorer, content_free_scores, make_batches, result_base, score_batch

__all__ = ["run_evaluation"]


def _say_default(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_evaluation(config: EvalConfig, say: Callable[[str], None] = _say_default) -> Report | None:
    """Run the evaluation; returns the :class:`Report` on the main process and None on the others."""
    import torch
    from accelerate import PartialState

    from ..labels.space import LabelSpace

    start = time.perf_counter()
    check_device(config.device)
    state = PartialState(cpu=wants_cpu(config.device))
    if state.is_main_process:
        check_output_dir(config)  # before the model loads: a wrong directory costs seconds, not minutes

    params: Params = load_params(config.params)
    resolved = params.for_model(config.model, config.strategies)
    taxonomy = taxonomy_for_model(config.model, config.taxonomy)
    record_taxonomy = taxonomy if config.grammar == "llama_guard" else None  # label lists: any label names
    data = _load_data(
        config, record_taxonomy, say if state.is_main_process else (lambda _m: None)
    )  # before the model: data errors come fast
    device = resolve_device(config.device, state)
    model, tokenizer, dtype = load_model(config.model, device, config.dtype)
    if config.grammar == "label_list":
        assert config.labels is not None
        space = LabelSpace.label_list(tokenizer, config.labels, separator=config.separator, none=config.none)
    else:
        space = LabelSpace.llama_guard(tokenizer, taxonomy=taxonomy)
    check_groups(config.groups or {}, space.labels)  # before the output directory is touched
    threads_before = torch.get_num_threads()
    if str(next(model.parameters()).device) == "cpu":
        torch.set_num_threads(cpu_threads(model, config.threads, state.num_processes))
    try:
        with frozen_heap():  # the loaded model out of the collector's full passes (garbage_collection.py)
            return _run(config, say, state, model, tokenizer, dtype, device, taxonomy, resolved, space, start, data)
    finally:
        torch.set_num_threads(threads_before)


def _load_data(
    config: EvalConfig, taxonomy: int | None, talk: Callable[[str], None]
) -> tuple[list[Any], list[Any] | None, list[dict[str, Any]], str, int]:
    """``(records, validation records or None, load failures, data name, records read)``; the records that
    could not be read are summed up (:func:`summarize_load_failures`), and a source with none readable is a
    ``ValueError``."""
    records, failures, data_name = load_records(config.dataset, config.split, config.columns, taxonomy)
    read = len(records) + len(failures)
    for line in summarize_load_failures(failures, taxonomy, written=bool(records)):  # none read: nothing written
        talk(line)
    _check_readable(records, failures, data_name, "--dataset")
    if config.grammar == "label_list":  # --labels that no record carries: a ValueError, or a note per name
        for line in check_labels(config.labels or [], records, data_name):
            talk(line)
    validation = None
    if config.validation_data is not None:
        try:
            validation, val_failures, val_name = load_records(
                config.validation_data, config.split, config.columns, taxonomy
            )
        except ValueError as err:  # load_records' lines name the flag of the main data set
            raise ValueError(str(err).replace("`--dataset`", "`--validation-data`")) from None
        for line in summarize_load_failures(val_failures, taxonomy, "--validation-data: ", written=bool(validation)):
            talk(line)
        _check_readable(validation, val_failures, val_name, "--validation-data")
        failures += [dict(f, split="validation") for f in val_failures]
    return records, validation, failures, data_name, read


def _check_readable(records: list[Any], failures: list[dict[str, Any]], name: str, flag: str) -> None:
    """A ``ValueError`` when no record of the data set ``name`` (given as ``flag``) could be read, with the first
    reason; the lines before it listed the others."""
    if records:
        return
    first = (
        f"; the first: {failures[0]['error'].rstrip('.')}" if failures and not failures[0].get("unknown_ids") else ""
    )
    raise ValueError(
        f"no record of {name} ({flag}) could be read ({len(failures)} bad line(s){first}); "
        f"fix the data or the options (see --help for the forms of {flag})."
    )


def _run(
    config: EvalConfig,
    say: Callable[[str], None],
    state: Any,
    model: Any,
    tokenizer: Any,
    dtype: str,
    device: str,
    taxonomy: int,
    resolved: dict[str, StrategyParams],
    space: Any,
    start: float,
    data: tuple[list[Any], list[Any] | None, list[dict[str, Any]], str, int],
) -> Report | None:
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    main = state.is_main_process
    talk = say if main else (lambda _m: None)

    records, validation, failures, data_name, read = data
    skipped = len(failures)
    samples = make_samples(records, validation, config.validation_fraction, config.num_samples, config.seed)
    by_id = {s.id: s for s in samples}
    n_val = sum(s.split == "validation" for s in samples)
    needs_validation = bool(config.calibrate) or any(
        resolved[s].threshold is None for s in resolved if s in UNCERTAINTY_STRATEGIES
    )
    if needs_validation and n_val == 0:
        raise ValueError(
            "the validation split is empty, but calibration or an uncertainty threshold ('auto') is fitted on it; "
            "set --validation-fraction > 0, pass --validation-data, or give the "
            "uncertainty strategies a numeric threshold in --params."
        )
    digests = {s.id: sample_digest(s) for s in samples}
    run_fingerprint = fingerprint(
        config,
        resolved,
        dtype,
        taxonomy,
        resolve_format(tokenizer, config.prompt_format, taxonomy),  # type: ignore[arg-type]
        data=data_fingerprint(digests),
    )
    prepare_output_dir(config, run_fingerprint, state, talk, digests)

    talk(
        f"evaluate: model {config.model or 'embedded tiny guard'} ({dtype}, "
        f"{device}, {state.num_processes} process(es)); "
        f"data {data_name}: {read} records read"
        + (f", {skipped} skipped" if skipped else "")
        + f"; {len(samples)} samples ({len(samples) - n_val} test, {n_val} validation); taxonomy Llama Guard {taxonomy}"
    )
    groups = check_groups(config.groups or {}, space.labels)
    scorer = Scorer(
        model,
        tokenizer,
        space,
        resolved,
        config.prompt_format,
        taxonomy,
        config.prompt_template,
        label_groups=groups,
        search_budget_gb=config.search_budget_gb,
    )

    # -- encode, and skip what is on disk ---------------------------------------------------------
    earlier, dropped = read_jsonl_results(result_files(config.output_dir))
    if dropped and main:
        talk(f"resume: dropped {dropped} torn or unreadable line(s)")
    done = {k: r for k, r in earlier.items() if "error" not in r}  # a sample that failed is scored again
    retried = sum(1 for s in samples if "error" in earlier.get(s.id, {}))
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
    already = sum(1 for s in samples if s.id in done)
    if config.resume and main and earlier:
        talk(
            f"resume: {already} sample(s) already done, {len(samples) - already} to score"
            + (f" ({retried} of them failed before and are scored again)" if retried else "")
        )
    order = np.random.default_rng(config.seed).permutation(len(pending))  # balance long and short batches
    pending = [pending[k] for k in order]

    path = os.path.join(config.output_dir, f"samples.rank{state.process_index}.jsonl")
    repair_jsonl(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    new_results: list[dict[str, Any]] = []
    score_start = time.perf_counter()
    try:
        if main:
            for k in pending_failures:
                result = dict(result_base(by_id[k]), error=encode_failures[k])
                append_jsonl(fd, result)
                new_results.append(result)
        with state.split_between_processes(pending) as mine:
            total = sum(len(b) for b in mine)
            bar = tqdm(
                total=total, desc="samples", unit="sample", disable=not (main and config.progress), file=sys.stderr
            )
            for batch in mine:
                for result in score_batch(scorer, batch, encoded, by_id, done):
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

    # -- merge: the journals into scores.jsonl -------------------------------------------------------
    merged, _ = read_jsonl_results(result_files(config.output_dir))
    for r in gathered:  # results of processes that do not share this disk
        if "error" in merged.get(r["sample"], {"error": None}):
            merged[r["sample"]] = r
    missing = [s.id for s in samples if s.id not in merged]
    if missing:
        raise RuntimeError(f"internal error: {len(missing)} sample(s) have no result after the run: {missing[:10]}")
    results = [merged[s.id] for s in samples]
    write_results(config.output_dir, results)
    sample_failures = [
        {"sample": r["sample"], "index": r["index"], "split": r["split"], "error": r["error"]}
        for r in results
        if "error" in r
    ]
    failures += sample_failures
    ok = [r for r in results if "error" not in r]
    failures_path = os.path.join(config.output_dir, "failures.jsonl")
    with open(failures_path, "w", encoding="utf-8") as f:
        for f_ in failures:
            f.write(json.dumps(f_) + "\n")
    if not any(r["split"] == "test" for r in ok):
        raise ValueError(nothing_scored(samples, ok, sample_failures, failures_path))
    for line in summarize_sample_failures(sample_failures):
        talk(line)

    content_free = content_free_scores(config, scorer) if "cc" in config.calibrate else None
    rows, details = build_report(config, resolved, space, ok, content_free, talk)
    if groups:
        thresholds = {s: p.threshold if p.threshold is not None else 0.5 for s, p in resolved.items()}
        details["groups"] = group_rows(ok, groups, thresholds, config.n_bins)
    wall = time.perf_counter() - start
    scored_now = sum(1 for r in gathered if r["sample"] in by_id)
    details.update(
        model=config.model or "embedded tiny guard",
        dataset=data_name,
        taxonomy=f"Llama Guard {taxonomy}" if config.grammar == "llama_guard" else "label list",
        grammar=config.grammar,
        categories=list(space.categories),
        # test + validation + failed == total; skipped_records (unreadable lines) are not samples
        samples={
            "total": len(samples),
            "test": sum(r["split"] == "test" for r in ok),
            "validation": sum(r["split"] == "validation" for r in ok),
            "failed": len(sample_failures),
            "skipped_records": skipped,
        },
        processes=state.num_processes,
        wall_time_s=round(wall, 3),
        scoring_time_s=round(score_time, 3),
        scored_now=scored_now,
        failures=failures,
    )
    write_outputs(config.output_dir, rows, details)
    resumed = len(samples) - scored_now
    return Report(
        rows, details, wall, len(samples), scored_now, failures, resumed, details.get("alignment", {}).get("rows", [])
    )


def nothing_scored(
    samples: list[Any], ok: list[dict[str, Any]], failures: list[dict[str, Any]], failures_path: str
) -> str:
    """The one line of a run whose test samples all failed: how many, the first error, what to do.

    >>> from marginal_generate.evaluation.config import Sample
    >>> failed = [{"sample": 0, "index": 4, "split": "test", "error": "KeyError: 'oops'"}]
    >>> print(nothing_scored([Sample(0, None, "test")], [], failed, "out/failures.jsonl"))
    all 1 samples failed, so there is nothing to measure; the first (sample 0, record index 4): KeyError: 'oops'. Fix \
that and rerun: --resume scores the failed samples again if the options are unchanged, --overwrite starts afresh \
(every failure is in out/failures.jsonl).
    """
    n_test = sum(s.split == "test" for s in samples)
    what = (
        f"all {len(samples)} samples failed"
        if not ok
        else f"all {n_test} test samples failed ({len(failures)} of {len(samples)} samples in all)"
    )
    first = failures[0]
    return (
        f"{what}, so there is nothing to measure; the first (sample {first['sample']}, record index "
        f"{first['index']}): {first['error']}. Fix that and rerun: --resume scores the failed samples again if the "
        f"options are unchanged, --overwrite starts afresh (every failure is in {failures_path})."
    )


def summarize_sample_failures(failures: list[dict[str, Any]], limit: int = 10) -> list[str]:
    """The lines that report samples that failed: at most ``limit``, the rest counted (all are in failures.jsonl).

    >>> print(*summarize_sample_failures([{"sample": k, "index": k + 3, "error": "E"} for k in range(3)], 2), sep="\\n")
    failed: sample 0 (index 3): E
    failed: sample 1 (index 4): E
    ... and 1 more failed sample(s) (all in failures.jsonl; --resume scores them again)
    """
    lines = [f"failed: sample {f['sample']} (index {f['index']}): {f['error']}" for f in failures[:limit]]
    if len(failures) > limit:
        lines.append(
            f"... and {len(failures) - limit} more failed sample(s) (all in failures.jsonl; --resume scores them again)"
        )
    return lines


def summarize_load_failures(
    failures: list[dict[str, Any]], taxonomy: int, prefix: str = "", limit: int = 10, written: bool = True
) -> list[str]:
    """The lines that report records that could not be read: one line for all records with category ids
    outside the taxonomy, then the other bad lines (at most ``limit``; the rest are counted, and are all in
    failures.jsonl when ``written``: the run goes on and writes it).

    >>> unknown = [{"line": k, "error": "x", "unknown_ids": ["S14"], "taxonomy": "Llama Guard 2"} for k in (1, 2)]
    >>> bad_json = {"line": 5, "error": "data.jsonl, line 5: not valid JSON"}
    >>> summarize_load_failures(unknown + [bad_json], 2)  # doctest: +NORMALIZE_WHITESPACE
    ['2 records have ids outside Llama Guard 2 (S14); map them to Llama Guard 2 ids or use --taxonomy 3; they are
     skipped', 'skipped: data.jsonl, line 5: not valid JSON']
    """
    from ..labels.taxonomy import category_sort_key

    outside = [f for f in failures if f.get("unknown_ids")]
    lines = []
    if outside:
        ids = sorted({i for f in outside for i in f["unknown_ids"]}, key=category_sort_key)
        name = outside[0].get("taxonomy", f"Llama Guard {taxonomy}")
        fix = f"map them to {name} ids" + (" or use --taxonomy 3" if taxonomy == 2 else "")
        lines.append(
            f"{prefix}{len(outside)} records have ids outside {name} ({', '.join(ids)}); {fix}; they are skipped"
        )
    rest = [f for f in failures if not f.get("unknown_ids")]
    lines += [f"{prefix}skipped: {f['error']}" for f in rest[:limit]]
    if len(rest) > limit:
        where = " (all in failures.jsonl)" if written else ""
        lines.append(f"{prefix}... and {len(rest) - limit} more unreadable line(s){where}")
    return lines
