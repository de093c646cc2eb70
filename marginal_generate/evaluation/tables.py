"""The run's table as fixed-width text (metrics, the worst-calibrated category, alignment) and ``metrics.csv``."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from typing import Any

from .results import write_atomic

__all__ = [
    "TABLE_COLUMNS",
    "ALIGNMENT_COLUMNS",
    "format_table",
    "worst_category_lines",
    "format_alignment_table",
    "write_outputs",
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
