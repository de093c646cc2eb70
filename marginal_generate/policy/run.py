"""A policy and an evaluation run: the run's scores per split (:func:`load_run`), and what a policy achieves on a
split with bootstrap intervals (:func:`split_report`, :func:`format_split_report`).

An evaluation run (``marginal-generate evaluate``) writes ``scores.jsonl`` (one line per sample: its ``split``,
``validation`` or ``test``, the references ``unsafe`` and ``categories``, and ``scores`` per strategy), ``run.json``
(the settings) and ``metrics.json`` (the labels). The policy is fitted on the validation split (the calibration
split) and reported on the test split.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .policy import Policy

__all__ = ["RunScores", "load_run", "bootstrap_rate", "split_report", "format_split_report"]

#: The per-sample results of a finished run (``marginal_generate.evaluation.results``).
SCORES_FILE = "scores.jsonl"


@dataclass
class RunScores:
    """One strategy's scores of a finished run: ``labels``, and per split ``(probs [N, L], references [N, L])``."""

    labels: tuple[str, ...]
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    provenance: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros((0, len(self.labels))), np.zeros((0, len(self.labels)), dtype=np.int64))
        return self.splits.get(name, empty)


def _read_json(path: str, run_dir: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"RUN_DIR {run_dir} has no readable {os.path.basename(path)} ({err}); pass the --output-dir "
            "of a finished marginal-generate evaluate run."
        ) from None


def load_run(run_dir: str, strategy: str) -> RunScores:
    """The scores of ``strategy`` in the finished evaluation run ``run_dir``, per split; one ``ValueError`` line
    for a directory that holds no finished run or a strategy it did not score."""
    if not os.path.isdir(run_dir):
        raise ValueError(f"RUN_DIR {run_dir} is not a directory; pass the --output-dir of marginal-generate evaluate.")
    scores_path = os.path.join(run_dir, SCORES_FILE)
    if not os.path.isfile(scores_path) or not os.path.isfile(os.path.join(run_dir, "metrics.json")):
        raise ValueError(
            f"RUN_DIR {run_dir} holds no finished run (no {SCORES_FILE} and metrics.json); "
            "finish it with marginal-generate evaluate --resume, or pass another directory."
        )
    details = _read_json(os.path.join(run_dir, "metrics.json"), run_dir)
    run = (
        _read_json(os.path.join(run_dir, "run.json"), run_dir)
        if os.path.isfile(os.path.join(run_dir, "run.json"))
        else {}
    )
    results = []
    with open(scores_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                result = json.loads(line)
                if "error" not in result:
                    results.append(result)
    scored = sorted({name for r in results for name in r.get("scores", {})})
    if strategy not in scored:
        raise ValueError(
            f"`--strategy` {strategy!r} was not scored in {run_dir}; it has {', '.join(scored) or 'no scores'}."
        )
    categories = list(details.get("categories") or [])
    verdict = details.get("grammar", "llama_guard") == "llama_guard"
    labels = tuple(["unsafe", *categories] if verdict else categories)
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in ("validation", "test"):
        rows = [r for r in results if r["split"] == name]
        probs = np.array(
            [[np.nan if v is None else v for v in r["scores"][strategy]] for r in rows], dtype=np.float64
        ).reshape(len(rows), len(labels))
        refs = np.array(
            [([r["unsafe"]] if verdict else []) + [int(c in r["categories"]) for c in categories] for r in rows],
            dtype=np.int64,
        ).reshape(len(rows), len(labels))
        splits[name] = (probs, refs)
    estimates = {r.get("estimate", {}).get(strategy) for r in results} - {None}
    provenance = {
        "model": details.get("model") or run.get("model") or "embedded tiny guard",
        "prompt_format": run.get("prompt_format_resolved", run.get("prompt_format")),
        "strategy": strategy,
        "estimate": estimates.pop() if len(estimates) == 1 else None,
        "calibrator": None,
        "params": (run.get("params") or {}).get(strategy),
        "taxonomy": details.get("taxonomy"),
        "dataset": details.get("dataset"),
        "run_dir": os.path.abspath(run_dir),
    }
    return RunScores(labels, splits, provenance)


def bootstrap_rate(
    flagged: np.ndarray, truth: np.ndarray, kind: str, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float | None, tuple[float, float] | None]:
    """A rate of 0/1 decisions (``recall``, ``fpr`` or ``precision``) and its percentile bootstrap interval over
    the samples (seeded numpy resampling); None where the rate has no denominator.

    >>> value, interval = bootstrap_rate(np.array([1, 1, 1, 0] * 25), np.array([1, 1, 0, 1] * 25), "recall")
    >>> value, [round(v, 3) for v in interval]
    (0.6666666666666666, [0.558, 0.774])
    """
    flagged, positive = flagged.astype(bool), truth == 1
    hit = {"recall": flagged & positive, "fpr": flagged & ~positive, "precision": flagged & positive}[kind]
    base = {"recall": positive, "fpr": ~positive, "precision": flagged}[kind]
    if base.sum() == 0:
        return None, None
    value = float(hit.sum() / base.sum())
    index = np.random.default_rng(seed).integers(0, len(truth), size=(resamples, len(truth)))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = hit[index].sum(axis=1) / base[index].sum(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.nanpercentile(rates, [tail, 100.0 - tail])
    return value, (float(lo), float(hi))


def split_report(
    policy: Policy, probs: np.ndarray, refs: np.ndarray, labels: Any, resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """What ``policy`` achieves on one split (``[N, L]`` scores and references over ``labels``): per label the rate
    of each target with a 95% bootstrap interval, and the outcome counts (block / review / allow)."""
    names = tuple(labels)
    out: dict[str, Any] = {
        "samples": int(len(probs)),
        "resamples": resamples,
        "level": 0.95,
        "seed": seed,
        "labels": {},
    }
    if len(probs) == 0:
        return out
    outcomes = policy.outcomes(probs, names)
    for j, label in enumerate(policy.labels):
        rule = policy.rules[label]
        truth = refs[:, names.index(label)]
        scores = probs[:, names.index(label)]
        row: dict[str, Any] = {"positives": int(truth.sum()), "negatives": int((truth == 0).sum())}
        for key, cut in (("target", rule.cut), ("review", rule.review)):
            if cut is None:
                continue
            value, interval = bootstrap_rate(scores >= cut.threshold, truth, cut.target.kind, resamples, 0.95, seed)
            row[key] = {
                "kind": cut.target.kind,
                "value": value,
                "interval": None if interval is None else list(interval),
            }
        row["outcomes"] = {o: int((outcomes[:, j] == o).sum()) for o in ("block", "review", "allow")}
        out["labels"][label] = row
    sample = np.where(
        (outcomes == "block").any(axis=1), "block", np.where((outcomes == "review").any(axis=1), "review", "allow")
    )
    out["sample_outcomes"] = {o: int((sample == o).sum()) for o in ("block", "review", "allow")}
    return out


def _rate_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return ""
    if entry["value"] is None:
        return f"{entry['kind']} — (none in split)"
    lo, hi = entry["interval"]
    return f"{entry['kind']} {entry['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def format_split_report(policy: Policy, report: dict[str, Any], split: str = "test") -> str:
    """The split report as a fixed-width table: a label per line with its thresholds (``*``: best effort, not
    guaranteed), the validation counts, each target's rate on the split with its interval, and the outcomes."""
    if report["samples"] == 0:
        return f"no {split} samples: nothing to report"
    review = any(rule.review is not None for rule in policy.rules.values())
    headers = ["label", "threshold", "val +/-", f"{split} rate [95% CI]"]
    headers += ["review at", f"{split} rate [95% CI]", "block", "review", "allow"] if review else ["flagged"]
    body = []
    for label, row in report["labels"].items():
        rule = policy.rules[label]
        mark = "" if rule.cut.guaranteed else "*"
        counts = f"{rule.validation.get('positives', '?')}/{rule.validation.get('negatives', '?')}"
        line = [label, f"{rule.cut.threshold:.4f}{mark}", counts, _rate_cell(row.get("target"))]
        if review:
            if rule.review is None:
                line += ["", ""]
            else:
                line += [
                    f"{rule.review.threshold:.4f}{'' if rule.review.guaranteed else '*'}",
                    _rate_cell(row["review"]),
                ]
            line += [str(row["outcomes"][o]) for o in ("block", "review", "allow")]
        else:
            line += [str(row["outcomes"]["block"])]
        body.append(line)
    widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) if i in (0, 3, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        for r in [headers, *body]
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    if review:
        counts = report["sample_outcomes"]
        lines.append(
            f"samples ({report['samples']}): {counts['block']} block, {counts['review']} review "
            f"({counts['review'] / report['samples']:.1%}), {counts['allow']} allow"
        )
    if policy.unguaranteed:
        lines.append(
            "* best effort, no guarantee (meets its target on the validation split only): "
            + "; ".join(f"{label} ({why})" for label, why in policy.unguaranteed.items())
        )
    return "\n".join(lines)
