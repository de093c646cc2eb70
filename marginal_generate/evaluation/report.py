"""From per-sample results to the table: calibrators and thresholds fitted on validation, metrics on test, alignment
with soft references, files and plots."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .calibrated import (
    BC_DEGENERATE,
    CC_DEGENERATE,
    HARD_SCORES,
    ONE_CLASS,
    calibrate_columns,
    hard_scores,
    uncalibrated,
)
from .config import CALIBRATORS, EvalConfig
from .params import (
    UNCERTAINTY_STRATEGIES,
    StrategyParams,
)
from .tables import (
    ALIGNMENT_COLUMNS,
    TABLE_COLUMNS,
    format_alignment_table,
    format_table,
    write_outputs,
)

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
    "ONE_CLASS",
    "CC_DEGENERATE",
    "BC_DEGENERATE",
    "HARD_SCORES",
    "build_report",
]


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


def _float_rows(rows: Sequence[Sequence[float | None]], width: int | None = None) -> np.ndarray:
    """The rows as a float64 array (``[len(rows), width]`` where ``width`` is given), None as NaN.

    >>> _float_rows([[0.5, None]], 2).tolist()
    [[0.5, nan]]
    """
    out = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
    return out if width is None else out.reshape(len(rows), width)


def _indicators(sets: Sequence[Any], labels: Sequence[str]) -> np.ndarray:
    """``[len(sets), len(labels)]`` 0/1: whether each label is in each set.

    >>> _indicators([["S1"], []], ["S1", "S2"]).tolist()
    [[1, 0], [0, 0]]
    """
    return np.array([[1 if c in s else 0 for c in labels] for s in sets], dtype=np.int64).reshape(
        len(sets), len(labels)
    )


def _arrays(
    results: list[dict[str, Any]], name: str, labels: Sequence[str], verdict: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``[n, len(labels)]`` probabilities and 0/1 references; without a ``verdict`` (a label list) column 0 is
    NaN (no ``unsafe`` label: its columns stay empty) and the label columns follow."""
    n = len(results)
    scores = _float_rows([r["scores"][name] for r in results], len(labels))
    categories = [r["categories"] for r in results]
    if not verdict:
        hard = _indicators(categories, labels)
        return np.hstack([np.full((n, 1), np.nan), scores]), np.hstack([np.zeros((n, 1), dtype=np.int64), hard])
    unsafe = np.array([r["unsafe"] for r in results], dtype=np.int64).reshape(n, 1)
    return scores, np.hstack([unsafe, _indicators(categories, labels[1:])])


def _soft_arrays(results: list[dict[str, Any]], labels: Sequence[str]) -> np.ndarray:
    """``[n, len(labels)]`` soft references of the results; NaN where a result has no soft label for a label."""
    return np.array(
        [[r.get("soft_labels", {}).get(label, np.nan) for label in labels] for r in results], dtype=np.float64
    ).reshape(len(results), len(labels))


def _uncertainty_arrays(results: list[dict[str, Any]], name: str, categories: Sequence[str]) -> tuple[np.ndarray, ...]:
    u = np.array([r["uncertainty"][name] for r in results], dtype=np.float64)
    top1 = _indicators([r["uncertainty"]["top1"] for r in results], categories)
    top2 = _indicators([r["uncertainty"]["top2"] for r in results], categories)
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
                    cf = _float_rows(content_free[name])
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
