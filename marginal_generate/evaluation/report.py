"""From per-sample results to the table: calibrators and thresholds fitted on validation, metrics on test, alignment
with soft references, files and plots."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import CALIBRATORS, EvalConfig
from .params import (
    UNCERTAINTY_STRATEGIES,
    StrategyParams,
)
from .results import write_atomic

__all__ = [
    "TABLE_COLUMNS",
    "ALIGNMENT_COLUMNS",
    "Report",
    "metrics_row",
    "alignment_row",
    "format_table",
    "format_alignment_table",
    "write_outputs",
    "calibrate_columns",
    "hard_scores",
    "uncalibrated",
    "build_report",
]


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
        return format_table(self.rows, self.details.get("categories"), self.details.get("taxonomy"))

    def alignment_table(self) -> str:
        """The alignment rows as text ("" when the data had no soft labels)."""
        return format_alignment_table(self.alignment) if self.alignment else ""


def _arrays(
    results: list[dict[str, Any]], name: str, labels: Sequence[str], verdict: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``[n, len(labels)]`` probabilities and 0/1 references; without a ``verdict`` (a label list) column 0 is
    NaN (no ``unsafe`` label: its columns stay empty) and the label columns follow."""
    if not verdict:
        scores = np.array(
            [[np.nan if v is None else v for v in r["scores"][name]] for r in results], dtype=np.float64
        ).reshape(len(results), len(labels))
        hard = np.array([[1 if c in r["categories"] else 0 for c in labels] for r in results], dtype=np.int64).reshape(
            len(results), len(labels)
        )
        return np.hstack([np.full((len(results), 1), np.nan), scores]), np.hstack(
            [np.zeros((len(results), 1), dtype=np.int64), hard]
        )
    probs = np.array(
        [[np.nan if v is None else v for v in r["scores"][name]] for r in results], dtype=np.float64
    ).reshape(len(results), len(labels))
    refs = np.array(
        [[r["unsafe"], *[1 if c in r["categories"] else 0 for c in labels[1:]]] for r in results], dtype=np.int64
    ).reshape(len(results), len(labels))
    return probs, refs


def _soft_arrays(results: list[dict[str, Any]], labels: Sequence[str]) -> np.ndarray:
    """``[n, len(labels)]`` soft references of the results; NaN where a result has no soft label for a label."""
    return np.array(
        [[r.get("soft_labels", {}).get(label, np.nan) for label in labels] for r in results], dtype=np.float64
    ).reshape(len(results), len(labels))


def _uncertainty_arrays(results: list[dict[str, Any]], name: str, categories: Sequence[str]) -> tuple[np.ndarray, ...]:
    u = np.array([r["uncertainty"][name] for r in results], dtype=np.float64)
    top1 = np.array(
        [[1 if c in r["uncertainty"]["top1"] else 0 for c in categories] for r in results], dtype=np.int64
    ).reshape(len(results), len(categories))
    top2 = np.array(
        [[1 if c in r["uncertainty"]["top2"] else 0 for c in categories] for r in results], dtype=np.int64
    ).reshape(len(results), len(categories))
    p_unsafe = np.array([r["uncertainty"]["p_unsafe"] for r in results], dtype=np.float64)
    return u, top1, top2, p_unsafe


def metrics_row(
    probs: np.ndarray, refs: np.ndarray, threshold: float, n_bins: int, predictions: np.ndarray | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The table's values for ``[n, 1 + K]`` probabilities (NaN columns: undefined) and 0/1 references,
    and the reliability bins (``unsafe`` and ``categories``). ``predictions``: 0/1 decisions that
    replace ``probs >= threshold`` for F1, precision, recall, accuracy and Hamming loss."""
    from ..calibration.metrics import (
        binary_calibration_metrics,
        binary_classification_metrics,
        calibration_error_interval,
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
        row.update(
            {f"categories_{k}": ml[k] for k in ("f1_micro", "f1_macro", "hamming_loss", "roc_auc_micro", "auprc_micro")}
        )
        row["categories_ece"], bins["categories"] = cal["ece_micro"], cal["bins_micro"]
        worst = int(np.argmax(cal["ece_per_label"]))  # the worst-calibrated category; 95% bootstrap intervals
        row["categories_ece_worst"], row["categories_ece_worst_index"] = cal["ece_per_label"][worst], worst
        row["categories_ece_interval"] = list(calibration_error_interval(p_c, y_c, n_bins, n_resamples=200))
        worst_interval = calibration_error_interval(p_c[:, worst], y_c[:, worst], n_bins, n_resamples=200)
        row["categories_ece_worst_interval"] = list(worst_interval)
    return row, bins


#: Why a label column is left uncalibrated (``metrics.json``'s ``calibrators``: ``"not fitted: <reason>"``).
ONE_CLASS = "one class in validation"
CC_DEGENERATE = "content-free score 0 or 1, which contextual calibration divides by"
BC_DEGENERATE = "mean score 0 or 1, which batch calibration divides by"
#: Why contextual calibration is skipped for a strategy of 0/1 decisions (greedy).
HARD_SCORES = "its scores are 0/1 decisions, which a shift of the logit cannot calibrate"


def calibrate_columns(
    kind: str,
    val: np.ndarray,
    val_refs: np.ndarray,
    test: np.ndarray,
    content_free: np.ndarray | None,
    val_soft: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Calibrate each label column on its own; a column that cannot be fitted (NaN, one class in
    validation, a mean score of 0 or 1 that contextual or batch calibration would divide by) is left as it is.
    Returns the calibrated test scores and, per column, the fitted parameters or ``"not fitted: <reason>"``.

    ``platt`` fits on ``val_soft``'s column where every validation sample has a soft reference, else
    on the 0/1 ``val_refs``; a category column's feature is ``logit(p) - logit(none)`` with
    ``none = 1 - p(unsafe)`` (column 0 of the same scores) where that column is finite.

    >>> val, refs = np.array([[0.2, 0.0], [0.7, 0.0]]), np.array([[0, 0], [1, 1]])
    >>> _, fitted = calibrate_columns("cc", val, refs, val, content_free=np.array([[0.3, 0.0], [0.5, 0.0]]))
    >>> fitted["col0"], fitted["col1"]
    ({'bias_': 0.4}, 'not fitted: content-free score 0 or 1, which contextual calibration divides by')
    """
    from ..calibration import (
        BatchCalibration,
        ContextualCalibration,
        PlattScaling,
        TemperatureScaling,
    )
    from ..calibration.base import degenerate_means

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
            if degenerate_means(content_free[:, j].mean()):
                params[column] = f"not fitted: {CC_DEGENERATE}"
                continue
            cal = ContextualCalibration().fit_content_free(content_free[:, j])
        else:
            refs, soft = val_refs[:, j], False
            if kind == "platt" and val_soft is not None and np.all(np.isfinite(val_soft[:, j])):
                refs, soft = val_soft[:, j], True
            if np.all(refs == 0) or np.all(refs == 1):
                params[column] = f"not fitted: {ONE_CLASS}"
                continue
            if kind == "platt":
                none = j > 0 and j0_finite
                platt = PlattScaling().fit(val[:, j], refs, none_scores=1.0 - val[:, 0] if none else None)
                out[:, j] = platt.transform(test[:, j], none_scores=1.0 - test[:, 0] if none else None)
                params[column] = {**platt.to_dict()["params"], "references": "soft" if soft else "0/1"}
                continue
            if kind == "bc" and degenerate_means([val[:, j].mean(), test[:, j].mean()]).any():
                params[column] = f"not fitted: {BC_DEGENERATE}"
                continue
            cal = (TemperatureScaling() if kind == "ts" else BatchCalibration()).fit(val[:, j], val_refs[:, j])
        out[:, j] = cal.transform(test[:, j])
        params[column] = cal.to_dict()["params"]
    return out, params


def hard_scores(*scores: np.ndarray) -> bool:
    """Whether every finite score is 0 or 1 (a strategy of 0/1 decisions, such as greedy).

    >>> hard_scores(np.array([[0.0, 1.0]]), np.array([[1.0, np.nan]])), hard_scores(np.array([0.0, 0.4]))
    (True, False)
    """
    values = np.concatenate([np.ravel(s) for s in scores])
    values = values[np.isfinite(values)]
    return bool(values.size) and bool(np.all((values == 0.0) | (values == 1.0)))


def uncalibrated(fitted: dict[str, Any], labels: Sequence[str]) -> tuple[str | None, str | None]:
    """``(skip, note)`` for a calibrated row's fitted columns: ``skip`` says why the row is left out when no
    label could be fitted; ``note`` names the labels left uncalibrated because contextual or batch calibration
    would divide by a mean score of 0 or 1 (one class in validation is only recorded in ``metrics.json``).

    >>> one = "not fitted: one class in validation"
    >>> uncalibrated({"col0": one, "col1": one}, ["unsafe", "S1"])
    ('every label has one class in validation', None)
    >>> uncalibrated({"col0": {"gamma_": 1.0}, "col1": f"not fitted: {BC_DEGENERATE}"}, ["unsafe", "S1"])
    (None, 'S1 left uncalibrated (mean score 0 or 1, which batch calibration divides by)')
    """
    reasons: dict[str, list[str]] = {}
    for j, label in enumerate(labels):
        value = fitted.get(f"col{j}")
        if isinstance(value, str):
            reasons.setdefault(value.removeprefix("not fitted: "), []).append(label)
    if not any(isinstance(v, dict) for v in fitted.values()):
        every = len(reasons) == 1
        why = "; ".join(
            f"{'every label has' if every else ', '.join(names) + (' has' if len(names) == 1 else ' have')} {r}"
            for r, names in reasons.items()
        )
        return why or "no label has scores to calibrate", None
    noted = [f"{', '.join(names)} left uncalibrated ({r})" for r, names in reasons.items() if r != ONE_CLASS]
    return None, "; ".join(noted) or None


def alignment_row(probs: np.ndarray, soft: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """:func:`~marginal_generate.calibration.alignment.distribution_alignment` of one row's ``[n, L]`` probabilities
    against ``[n, L]`` soft references (NaN: none), over the samples with a soft reference and the
    label columns where each of them has one and the row has no NaN; the rest is listed in ``left_out``
    (measures None when nothing is left).

    >>> row = alignment_row(np.array([[0.9, np.nan], [0.2, np.nan]]),
    ...     np.array([[1.0, 0.5], [0.0, 0.5]]), ["unsafe", "S1"])
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


def format_table(
    rows: list[dict[str, Any]], categories: Sequence[str] | None = None, taxonomy: str | None = None
) -> str:
    """The table as fixed-width text: one row per strategy (and calibrated variant). The header names the
    run's categories and taxonomy (``categories (S1–S11, Llama Guard 2)``); default S1–S14."""
    headers = ["strategy", *[h for _, h in TABLE_COLUMNS]]
    body = [[r["row"], *[_fmt(r.get(k)) for k, _ in TABLE_COLUMNS]] for r in rows]
    widths, lines = _fixed_width(headers, body)
    span = f"{categories[0]}–{categories[-1]}" if categories else "S1–S14"
    title = f"categories ({span}, {taxonomy})" if taxonomy else f"categories ({span})"
    group = (
        " " * (widths[0] + 2)
        + title.center(sum(widths[1:7]) + 12)
        + "  "
        + "binary unsafe".center(sum(widths[7:]) + 10)
    )
    return "\n".join([group.rstrip(), *lines, *worst_category_lines(rows, categories)])


def worst_category_lines(rows: list[dict[str, Any]], categories: Sequence[str] | None = None) -> list[str]:
    """Below the table: each row's category ECE (micro) and its worst-calibrated category's ECE, each with a 95%
    percentile bootstrap interval (200 resamples of the test samples); nothing when no row has category scores.

    >>> print("\\n".join(worst_category_lines([{"row": "any_place", "categories_ece": 0.01,
    ...     "categories_ece_interval": [0.008, 0.02], "categories_ece_worst": 0.05,
    ...     "categories_ece_worst_index": 1, "categories_ece_worst_interval": [0.04, 0.09]}], ["S1", "S2"])))
    <BLANKLINE>
    cat ECE (micro) and the worst-calibrated category, with 95% bootstrap intervals:
      any_place  0.0100 [0.0080, 0.0200]   worst S2 0.0500 [0.0400, 0.0900]
    """
    rows = [r for r in rows if r.get("categories_ece_interval")]
    if not rows:
        return []
    width = max(len(r["row"]) for r in rows)
    lines = ["", "cat ECE (micro) and the worst-calibrated category, with 95% bootstrap intervals:"]
    for r in rows:
        index = r["categories_ece_worst_index"]
        name = categories[index] if categories else f"#{index}"
        (lo, hi), (wlo, whi) = r["categories_ece_interval"], r["categories_ece_worst_interval"]
        lines.append(
            f"  {r['row']:<{width}}  {r['categories_ece']:.4f} [{lo:.4f}, {hi:.4f}]   "
            f"worst {name} {r['categories_ece_worst']:.4f} [{wlo:.4f}, {whi:.4f}]"
        )
    return lines


def format_alignment_table(rows: list[dict[str, Any]]) -> str:
    """The alignment rows as fixed-width text: L1, NLL, Brier, JSD (lower is better), labels, samples.

    >>> print(format_alignment_table([{"row": "greedy", "l1": 0.25, "nll": 0.5,
    ...     "brier": 0.1, "jsd": 0.05, "labels": ["unsafe"], "n_samples": 4}]))
    alignment with soft references (macro over labels; lower is better)
    strategy      L1     NLL   Brier     JSD  labels  samples
    ---------------------------------------------------------
    greedy    0.2500  0.5000  0.1000  0.0500       1        4
    """
    headers = ["strategy", *[h for _, h in ALIGNMENT_COLUMNS], "labels", "samples"]
    body = [
        [r["row"], *[_fmt(r.get(k)) for k, _ in ALIGNMENT_COLUMNS], str(len(r["labels"])), str(r["n_samples"])]
        for r in rows
    ]
    _, lines = _fixed_width(headers, body)
    return "\n".join(["alignment with soft references (macro over labels; lower is better)", *lines])


def write_outputs(output_dir: str, rows: list[dict[str, Any]], details: dict[str, Any]) -> None:
    with open(os.path.join(output_dir, "metrics.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", *[k for k, _ in TABLE_COLUMNS]])
        for r in rows:
            writer.writerow([r["row"], *["" if r.get(k) is None else f"{r[k]:.6f}" for k, _ in TABLE_COLUMNS]])
    write_atomic(
        os.path.join(output_dir, "metrics.json"),
        json.dumps({"rows": rows, **details}, indent=2, allow_nan=False) + "\n",
    )
    if "alignment" in details:
        write_atomic(
            os.path.join(output_dir, "alignment.json"),
            json.dumps(details["alignment"], indent=2, allow_nan=False) + "\n",
        )


def _has_matplotlib() -> bool:
    """Whether matplotlib can be imported (the reliability diagrams need it)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


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


def build_report(
    config: EvalConfig,
    resolved: dict[str, StrategyParams],
    space: Any,
    results: list[dict[str, Any]],
    content_free: dict[str, Any] | None,
    say: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from tqdm.auto import tqdm

    verdict = getattr(config, "grammar", "llama_guard") == "llama_guard"
    labels = space.labels if verdict else ("", *space.labels)  # a label list: an empty verdict column in front
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
        say(
            "note: the records' soft labels name none of the model's labels "
            f"({', '.join(labels)}); no alignment metrics"
        )
    plots = config.plots and _has_matplotlib()
    notes: list[str] = []  # said after the progress bar, not inside it
    bar = tqdm(config.strategies, desc="strategies", unit="strategy", disable=not config.progress, file=sys.stderr)
    for name in bar:
        p = resolved[name]
        test_p, test_y = _arrays(test, name, space.labels, verdict)
        val_p, val_y = _arrays(val, name, space.labels, verdict)
        predictions = None
        threshold = p.threshold if p.threshold is not None else 0.5
        if name in UNCERTAINTY_STRATEGIES:
            from ..uncertainty import predict_labels, select_threshold

            u_val = _uncertainty_arrays(val, name, space.categories)
            if p.threshold is None:
                t, f1 = select_threshold(*u_val, val_y[:, 1:])
                details["thresholds"][name] = {
                    "threshold": t,
                    "picked_on": "validation",
                    "validation_samples": len(val),
                    "validation_f1_micro": f1,
                }
                say(
                    f"{name}: uncertainty threshold {t:.4f} picked on the validation split ({len(val)} "
                    f"samples, category micro-F1 {f1:.4f} there), not on the scored samples"
                )
            else:
                t = p.threshold
                details["thresholds"][name] = {"threshold": t, "picked_on": "params"}
            u, top1, top2, pu = _uncertainty_arrays(test, name, space.categories)
            predictions = predict_labels(pu, top1, top2, u, t)
            threshold = 0.5
        variants: list[tuple[str, np.ndarray]] = [(name, test_p)]
        for kind in config.calibrate:
            row_name = name + CALIBRATORS[kind]
            if kind == "cc" and hard_scores(val_p, test_p):
                skip, note = HARD_SCORES, None
            else:
                cf = None
                if content_free is not None and name in content_free:
                    cf = np.array(
                        [[np.nan if v is None else v for v in row] for row in content_free[name]], dtype=np.float64
                    )
                calibrated, fitted = calibrate_columns(kind, val_p, val_y, test_p, cf, val_soft)
                skip, note = uncalibrated(fitted, labels)
            if skip is not None:
                notes.append(f"{row_name} skipped: {skip}; the {name} row stands uncalibrated")
                details["calibrators"][row_name] = {"skipped": skip}
                continue
            if note is not None:
                notes.append(f"{row_name}: {note}")
            details["calibrators"][row_name] = fitted
            variants.append((row_name, calibrated))
        for row_name, probs in variants:
            row, bins = metrics_row(probs, test_y, threshold, config.n_bins, predictions)
            rows.append({"row": row_name, **row})
            if aligned is not None:
                if verdict:
                    aligned.append({"row": row_name, **alignment_row(probs, test_soft, labels)})
                else:
                    aligned.append({"row": row_name, **alignment_row(probs[:, 1:], test_soft[:, 1:], space.labels)})
            if plots and bins:
                details["plots"] += _save_plots(config.output_dir, row_name, bins)
    bar.close()
    for line in notes:
        say(line)
    if config.plots and not plots:  # said after the progress bar, not inside it
        say("note: matplotlib is not installed, so no reliability diagrams (pip install matplotlib)")
    return rows, details
