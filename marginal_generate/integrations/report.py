"""What a GuardBench run does not report: calibration, the worst category, and the metrics at a policy's threshold.

GuardBench thresholds P(unsafe) at 0.5 and reports F1, AUPRC and the like per data set. :func:`guardbench_report`
joins a data set's samples (from GuardBench's own data folder, ``GUARDBENCH_DEV_PATH``; nothing is downloaded) with
the side file that :func:`~marginal_generate.integrations.guardbench.moderate_function` wrote during the run, and adds:

- the project's calibration of P(unsafe): ECE (L1 over ``n_bins`` equal-width bins, as ``marginal-generate
  evaluate`` reports it) and the Brier score;
- for a data set whose samples carry ``"categories"`` (a list of category ids; GuardBench keeps extra keys of a
  custom data set's JSONL), each category's ECE and the worst-calibrated category;
- with a policy file (``marginal-generate policy``), its ``unsafe`` threshold and GuardBench's own metrics there
  (a sample is flagged at ``P(unsafe) >= threshold``, the policy's rule);
- for ``any_place``, the mean width of P(unsafe)'s bounds.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .extras import require
from .guardbench import conversation_key, read_side_file
from .policies import policy_name, resolve_policy

__all__ = ["GuardBenchReport", "guardbench_report", "load_guardbench_dataset", "guardbench_metrics"]

_WHAT = "guardbench_report"
#: GuardBench's metrics that the report keeps (its ``evaluate`` returns counts too).
GUARDBENCH_METRICS: tuple[str, ...] = ("f1", "auprc", "precision", "recall", "mcc", "fpr", "fnr")


@dataclass(frozen=True)
class GuardBenchReport:
    """One data set's report (see the module docstring); :meth:`table` prints it.

    Attributes:
        dataset: the GuardBench data set's name.
        strategy, estimate: what the side file's scores are.
        size, unsafe: samples, and those labelled unsafe.
        guardbench: GuardBench's own metrics of P(unsafe) at its threshold 0.5 (:data:`GUARDBENCH_METRICS`).
        ece, brier: calibration of P(unsafe) (``n_bins`` equal-width bins).
        bound_width: mean ``upper - lower`` of P(unsafe) (``any_place``), else None.
        category_ece: ``{category: ECE}`` when the samples carry ``categories``, else None.
        worst_category: the category with the largest ECE (None without ``category_ece``).
        policy: the policy's ``unsafe`` threshold (``source``, ``threshold``, ``target``, ``guaranteed``) and
            GuardBench's metrics there, or None.
    """

    dataset: str
    strategy: str
    estimate: str | None
    size: int
    unsafe: int
    guardbench: dict[str, float]
    ece: float
    brier: float
    n_bins: int
    bound_width: float | None
    category_ece: dict[str, float] | None
    worst_category: str | None
    policy: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready)."""
        return asdict(self)

    def table(self) -> str:
        """A Markdown table of the figures, under a line naming the data set and the scores.

        >>> report = GuardBenchReport("demo", "any_place", "best", 4, 2, {"f1": 0.8, "auprc": 0.9}, 0.05, 0.1, 15,
        ...     0.001, {"S1": 0.02, "S2": 0.04}, "S2", None)
        >>> print(report.table())
        GuardBench data set demo: 4 conversations, 2 unsafe; scores: any_place (estimate best)
        <BLANKLINE>
        | figure | value |
        |---|---|
        | F1 (GuardBench, P(unsafe) > 0.5) | 0.8000 |
        | AUPRC (GuardBench) | 0.9000 |
        | ECE of P(unsafe) (15 bins) | 0.0500 |
        | Brier score of P(unsafe) | 0.1000 |
        | worst-calibrated category | S2 (ECE 0.0400) |
        | mean width of P(unsafe)'s bounds | 0.0010 |
        """
        scores = self.strategy + (f" (estimate {self.estimate})" if self.estimate else "")
        lines = [
            f"GuardBench data set {self.dataset}: {self.size} conversations, {self.unsafe} unsafe; scores: {scores}",
            "",
            "| figure | value |",
            "|---|---|",
        ]
        names = {"f1": "F1", "auprc": "AUPRC", "precision": "precision", "recall": "recall", "mcc": "MCC"}
        names.update({"fpr": "FPR", "fnr": "FNR"})
        for key, value in self.guardbench.items():
            where = " (GuardBench, P(unsafe) > 0.5)" if key != "auprc" else " (GuardBench)"
            lines.append(f"| {names.get(key, key)}{where} | {value:.4f} |")
        lines.append(f"| ECE of P(unsafe) ({self.n_bins} bins) | {self.ece:.4f} |")
        lines.append(f"| Brier score of P(unsafe) | {self.brier:.4f} |")
        if self.worst_category is not None and self.category_ece is not None:
            worst = self.category_ece[self.worst_category]
            lines.append(f"| worst-calibrated category | {self.worst_category} (ECE {worst:.4f}) |")
        if self.bound_width is not None:
            lines.append(f"| mean width of P(unsafe)'s bounds | {self.bound_width:.4f} |")
        if self.policy is not None:
            p = self.policy
            guarantee = "guaranteed" if p["guaranteed"] else "best effort"
            lines.append(f"| policy threshold ({p['target']}, {guarantee}) | {p['threshold']:.4f} |")
            for key in ("f1", "precision", "recall", "fpr"):
                lines.append(f"| {names[key]} at the policy threshold (P(unsafe) >= it) | {p[key]:.4f} |")
        return "\n".join(lines)


def load_guardbench_dataset(name: str) -> Any:
    """GuardBench's data set ``name`` from its data folder (``GUARDBENCH_DEV_PATH``); a ``ValueError`` naming the
    folder when it is not there (GuardBench would download a built-in one: the report never does)."""
    require("guardbench", "guardbench", _WHAT)
    from guardbench.datasets import get_dataset

    try:
        dataset = get_dataset(name)
    except FileNotFoundError:
        dataset = None
    if dataset is None or not (dataset.path / "test.jsonl").exists():
        folder = os.environ.get("GUARDBENCH_DEV_PATH", "~/.guardbench-dev")
        raise ValueError(
            f"GuardBench data set {name!r} is not in GUARDBENCH_DEV_PATH={folder}; run GuardBench's benchmark on it "
            "first (it fetches a built-in one), or add a custom one: guardbench.CustomDataset(name).load_data(path)."
        )
    return dataset.load()


def guardbench_metrics(labels: dict[str, bool], probs: dict[str, float], threshold: float = 0.5) -> dict[str, float]:
    """GuardBench's own ``evaluate`` (its F1, AUPRC, ...) of ``{id: P(unsafe)}``, flagging ``P > threshold``."""
    require("guardbench", "guardbench", _WHAT)
    from guardbench.evaluate import evaluate

    values = evaluate(labels, probs, threshold=threshold)
    return {key: float(values[key]) for key in GUARDBENCH_METRICS}


def _category_ece(samples: list[dict[str, Any]], rows: list[dict[str, Any]], n_bins: int) -> dict[str, float] | None:
    """``{category: ECE}`` of the side rows' category columns against the samples' ``categories``; None when a sample
    carries no ``categories`` or the strategy leaves a category unscored."""
    from ..calibration.metrics import multilabel_calibration_metrics

    if not all(isinstance(s.get("categories"), list) for s in samples):
        return None
    categories = [label for label in rows[0]["probs"] if label != "unsafe"]
    for s in samples:
        unknown = [c for c in s["categories"] if c not in categories]
        if unknown:
            raise ValueError(
                f"sample {s['id']!r} has categories {unknown}, which the scores do not have ({categories}); "
                "use the taxonomy the guard was scored with."
            )
    p = np.array([[row["probs"][c] if row["probs"][c] is not None else np.nan for c in categories] for row in rows])
    if not np.isfinite(p).all():
        return None
    y = np.array([[int(c in s["categories"]) for c in categories] for s in samples])
    values = multilabel_calibration_metrics(p, y, n_bins=n_bins)["ece_per_label"]
    return {c: float(v) for c, v in zip(categories, values)}


def guardbench_report(
    dataset: str,
    side_file: str | os.PathLike[str],
    *,
    policy: Any = None,
    n_bins: int = 15,
) -> GuardBenchReport:
    """The report of one GuardBench data set scored by a ``moderate_function`` that wrote ``side_file``.

    Args:
        dataset: the data set's name, as given to GuardBench's ``benchmark(datasets=[...])``.
        side_file: the ``side_file`` of :func:`~marginal_generate.integrations.guardbench.moderate_function`.
        policy: a :class:`~marginal_generate.Policy` or a policy file's path (``marginal-generate policy``) with a
            threshold for ``unsafe``, fitted on the same strategy's scores; None: no policy figures.
        n_bins: equal-width bins of the ECE (15, as ``marginal-generate evaluate``).

    Raises:
        ValueError: one line when the data set is not in GuardBench's folder, the side file lacks some of its
            conversations or mixes strategies, or the policy does not fit the scores.
    """
    from ..calibration.metrics import binary_calibration_metrics

    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"`n_bins` must be an integer >= 1, got {n_bins!r}; 15 is the project's ECE.")
    samples = list(load_guardbench_dataset(dataset))
    side = read_side_file(side_file)
    keys = [conversation_key(s["conversation"]) for s in samples]
    missing = [s["id"] for s, key in zip(samples, keys) if key not in side]
    if missing:
        raise ValueError(
            f"side file {os.fspath(side_file)} lacks {len(missing)} of the {len(samples)} conversations of {dataset} "
            f"(the first: id {missing[0]!r}); run GuardBench's benchmark on {dataset} with this side file."
        )
    rows = [side[key] for key in keys]
    strategies = sorted({row["strategy"] for row in rows})
    if len(strategies) > 1:
        raise ValueError(
            f"side file {os.fspath(side_file)} holds {strategies} scores for {dataset}; write each strategy's run "
            "to its own side file."
        )
    labels = {s["id"]: bool(s["label"]) for s in samples}
    probs = {s["id"]: float(row["probs"]["unsafe"]) for s, row in zip(samples, rows)}
    p = np.array(list(probs.values()), dtype=np.float64)
    y = np.array([int(v) for v in labels.values()], dtype=np.int64)
    calibration = binary_calibration_metrics(p, y, n_bins=n_bins)
    bounded = all(row.get("lower") and row.get("upper") for row in rows)
    width = float(np.mean([row["upper"]["unsafe"] - row["lower"]["unsafe"] for row in rows])) if bounded else None
    category_ece = _category_ece(samples, rows, n_bins)
    worst = max(category_ece, key=lambda c: category_ece[c]) if category_ece else None
    policy_figures = None
    if policy is not None:
        name = policy_name(policy)
        fitted = resolve_policy(policy, tuple(rows[0]["probs"]), strategies[0])
        if fitted is None or "unsafe" not in fitted.rules:
            raise ValueError(
                f"{name} has no threshold for unsafe (it decides {list(fitted.labels) if fitted else []}); fit one "
                "with marginal-generate policy RUN_DIR --target unsafe:recall=0.9."
            )
        cut = fitted.rules["unsafe"].cut
        # GuardBench flags P > threshold; the policy flags P >= threshold: the float just below it gives the same
        at = guardbench_metrics(labels, probs, threshold=float(np.nextafter(cut.threshold, -np.inf)))
        policy_figures = {
            "source": name,
            "threshold": float(cut.threshold),
            "target": str(cut.target),
            "guaranteed": bool(cut.guaranteed),
            **{key: at[key] for key in ("f1", "precision", "recall", "fpr")},
        }
    return GuardBenchReport(
        dataset=dataset,
        strategy=strategies[0],
        estimate=rows[0].get("estimate"),
        size=len(samples),
        unsafe=int(y.sum()),
        guardbench=guardbench_metrics(labels, probs),
        ece=float(calibration["ece"]),
        brier=float(calibration["brier"]),
        n_bins=n_bins,
        bound_width=width,
        category_ece=category_ece,
        worst_category=worst,
        policy=policy_figures,
    )
