r"""Calibration and multi-label classification metrics as pure functions.

The ``evaluate`` modules in ``metrics/calibration_error`` and ``metrics/multilabel_classification``
are thin wrappers over these functions.

Calibration (the Llama Guard calibration study's definitions, for the confidence of the positive class). The predictions
are
split into :math:`M` bins :math:`B_m`; bin :math:`m` covers :math:`(e_{m-1}, e_m]` and a prediction
of exactly 0 falls into the first bin. With :math:`\bar p(B_m)` the mean confidence and
:math:`\bar y(B_m)` the fraction of positives in bin :math:`m`:

.. math::
    \mathrm{ECE} = \sum_m \frac{|B_m|}{N}\,|\bar y(B_m) - \bar p(B_m)|,\qquad
    \mathrm{RMSCE} = \Big(\sum_m \frac{|B_m|}{N}\,(\bar y(B_m) - \bar p(B_m))^2\Big)^{1/2},\qquad
    \mathrm{MCE} = \max_{m:\,|B_m|>0} |\bar y(B_m) - \bar p(B_m)|.

``binning="uniform"`` uses equal-width edges ``linspace(0, 1, n_bins + 1)`` (the calibration study, torchmetrics);
``binning="quantile"`` uses equal-mass edges at the quantiles of the predictions (first edge 0,
last edge 1). NLL is the mean binary cross-entropy with probabilities clipped to
``[eps, 1 - eps]`` (``eps`` = float64 machine epsilon, as scikit-learn's ``log_loss``); Brier is
the mean squared difference between probability and reference.

>>> p = [0.25, 0.25, 0.55, 0.75, 0.75]
>>> y = [0, 0, 1, 1, 1]
>>> round(calibration_error(p, y, n_bins=2, norm="l1"), 4), round(calibration_error(p, y, n_bins=2, norm="max"), 4)
(0.29, 0.3167)
>>> table = reliability_table(p, y, n_bins=2)
>>> table.counts.tolist(), table.mean_confidence.tolist()
([2, 3], [0.25, 0.6833333333333332])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .binning import (
    BINNINGS,
    NORMS,
    Binning,
    BinTable,
    Norm,
    bin_edges,
    bin_indices,
    column_errors,
    reliability_table,
    table_error,
)
from .classification import (
    PredictionType,
    apply_threshold,
    binary_classification_metrics,
    multilabel_classification_metrics,
)
from .validation import check_choice, check_pair, check_positive_int

__all__ = [
    "Binning",
    "Norm",
    "PredictionType",
    "BinTable",
    "bin_edges",
    "bin_indices",
    "reliability_table",
    "calibration_error",
    "negative_log_likelihood",
    "mean_binary_cross_entropy",
    "brier_score",
    "binary_calibration_metrics",
    "multilabel_calibration_metrics",
    "ECE_VARIANTS",
    "column_errors",
    "classwise_calibration_error",
    "calibration_error_variants",
    "calibration_error_interval",
    "apply_threshold",
    "binary_classification_metrics",
    "multilabel_classification_metrics",
]
EPS: float = float(np.finfo(np.float64).eps)
#: The calibration errors that papers quote, by name: ``(norm, binning)``. ``ece_equal_width``: L1 over equal-width
#: bins (the Llama Guard calibration study, torchmetrics); ``rms_equal_mass``: root mean square over equal-mass bins
#: (Liu et al., ICLR 2025).
ECE_VARIANTS: dict[str, tuple[str, str]] = {"ece_equal_width": ("l1", "uniform"), "rms_equal_mass": ("l2", "quantile")}


def calibration_error(
    predictions: Any,
    references: Any,
    n_bins: int = 15,
    binning: Binning = "uniform",
    norm: Norm = "l1",
) -> float:
    """ECE (``norm="l1"``), RMS calibration error (``"l2"``) or MCE (``"max"``).

    >>> calibration_error([0.9, 0.9, 0.1, 0.1], [1, 0, 0, 0], n_bins=10)
    0.25
    >>> calibration_error([0.9, 0.9, 0.1, 0.1], [1, 0, 0, 0], n_bins=10, norm="max")
    0.4
    """
    check_choice("norm", norm, NORMS)
    return table_error(reliability_table(predictions, references, n_bins, binning), norm)


def negative_log_likelihood(predictions: Any, references: Any) -> float:
    """Mean binary cross-entropy; probabilities are clipped to ``[eps, 1 - eps]``, so 0 and 1 are valid.

    >>> round(negative_log_likelihood([0.8, 0.3], [1, 0]), 6)
    0.289909
    """
    p, y = check_pair(predictions, references, ndims=(1, 2))
    return float(mean_binary_cross_entropy(p, y))


def mean_binary_cross_entropy(p: np.ndarray, y: np.ndarray, axis: int | None = None) -> Any:
    """Unchecked mean binary cross-entropy along ``axis`` (probabilities clipped to ``[eps, 1 - eps]``)."""
    p = np.clip(p, EPS, 1.0 - EPS)
    return -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p), axis=axis)


def brier_score(predictions: Any, references: Any) -> float:
    """Mean of ``(p - y) ** 2``.

    >>> round(brier_score([0.8, 0.3], [1, 0]), 6)
    0.065
    """
    p, y = check_pair(predictions, references, ndims=(1, 2))
    return float(np.mean((p - y) ** 2))


def _check_binning_args(n_bins: Any, binning: Any, norm: Any) -> None:
    check_positive_int("n_bins", n_bins)
    check_choice("binning", binning, BINNINGS)
    check_choice("norm", norm, NORMS)


def _calibration_values(p: np.ndarray, y: np.ndarray, n_bins: int, binning: Binning, norm: Norm) -> dict[str, Any]:
    table = reliability_table(p, y, n_bins, binning)
    return {
        "calibration_error": table_error(table, norm),
        "ece": table_error(table, "l1"),
        "mce": table_error(table, "max"),
        "rms_calibration_error": table_error(table, "l2"),
        **{name: calibration_error(p, y, n_bins, b, n) for name, (n, b) in ECE_VARIANTS.items()},  # type: ignore[arg-type]
        "nll": negative_log_likelihood(p, y),
        "brier": brier_score(p, y),
        "bins": table.to_dict(),
    }


def binary_calibration_metrics(
    predictions: Any,
    references: Any,
    n_bins: int = 15,
    binning: Binning = "uniform",
    norm: Norm = "l1",
) -> dict[str, Any]:
    """ECE, MCE, RMS calibration error, the one chosen by ``norm``, the quoted variants (:data:`ECE_VARIANTS`: L1 over
    equal-width bins, RMS over equal-mass bins, with ``n_bins`` bins), NLL, Brier and the per-bin table.

    ``predictions``: ``[n]`` probabilities of the positive class (unsafe); ``references``: ``[n]`` 0/1.

    >>> out = binary_calibration_metrics([0.25, 0.25, 0.55, 0.75, 0.75], [0, 0, 1, 1, 1], n_bins=2)
    >>> sorted(out)  # doctest: +NORMALIZE_WHITESPACE
    ['bins', 'brier', 'calibration_error', 'ece', 'ece_equal_width', 'mce', 'nll', 'rms_calibration_error',
     'rms_equal_mass']
    >>> round(out["ece"], 4), round(out["mce"], 4), out["bins"]["counts"]
    (0.29, 0.3167, [2, 3])
    """
    _check_binning_args(n_bins, binning, norm)
    p, y = check_pair(predictions, references, ndims=(1,))
    return _calibration_values(p, y, n_bins, binning, norm)


def multilabel_calibration_metrics(
    predictions: Any,
    references: Any,
    n_bins: int = 15,
    binning: Binning = "uniform",
    norm: Norm = "l1",
) -> dict[str, Any]:
    """Per-label calibration values, their macro mean, and the micro value over all (sample, label) pairs.

    Keys: ``<metric>_per_label`` (list, one per label), ``<metric>_macro`` (mean of the per-label
    values) and ``<metric>_micro`` (all pairs pooled) for ``<metric>`` in calibration_error, ece, mce,
    rms_calibration_error, ece_equal_width, rms_equal_mass, nll, brier; plus ``bins_per_label`` and ``bins_micro``.

    >>> out = multilabel_calibration_metrics([[0.9, 0.2], [0.1, 0.4]], [[1, 0], [0, 1]], n_bins=2)
    >>> [round(v, 4) for v in out["ece_per_label"]], round(out["ece_macro"], 4), round(out["ece_micro"], 4)
    ([0.1, 0.2], 0.15, 0.1)
    """
    _check_binning_args(n_bins, binning, norm)
    p, y = check_pair(predictions, references, ndims=(2,))
    per_label = [_calibration_values(p[:, j], y[:, j], n_bins, binning, norm) for j in range(p.shape[1])]
    micro = _calibration_values(p.ravel(), y.ravel(), n_bins, binning, norm)
    out: dict[str, Any] = {}
    for key in ("calibration_error", "ece", "mce", "rms_calibration_error", *ECE_VARIANTS, "nll", "brier"):
        values = [row[key] for row in per_label]
        out[f"{key}_per_label"] = values
        out[f"{key}_macro"] = float(np.mean(values))
        out[f"{key}_micro"] = micro[key]
    out["bins_per_label"] = [row["bins"] for row in per_label]
    out["bins_micro"] = micro["bins"]
    return out


# ----------------------------------------------------------------------------- per class, variants, intervals

#: What a bootstrap interval is of, for ``[n, k]`` predictions: all pairs pooled, the mean over labels, the worst label.
INTERVAL_OF: tuple[str, ...] = ("micro", "macro", "worst")


def classwise_calibration_error(
    predictions: Any,
    references: Any,
    labels: Sequence[str] | None = None,
    n_bins: int = 15,
    binning: Binning = "uniform",
    norm: Norm = "l1",
) -> dict[str, Any]:
    """Each class's calibration error (one-vs-rest, ``[n, k]`` probabilities), their mean, and the worst class.

    Returns ``{"per_label": {label: error}, "mean": float, "worst_label": label, "worst": float}``; labels are
    ``labels`` or the column indices.

    >>> out = classwise_calibration_error([[0.9, 0.2], [0.1, 0.4]], [[1, 0], [0, 1]], labels=["S1", "S2"], n_bins=2)
    >>> {k: round(v, 4) for k, v in out["per_label"].items()}, out["worst_label"], round(out["worst"], 4)
    ({'S1': 0.1, 'S2': 0.2}, 'S2', 0.2)
    """
    _check_binning_args(n_bins, binning, norm)
    p, y = check_pair(predictions, references, ndims=(2,))
    names = list(labels) if labels is not None else list(range(p.shape[1]))
    if len(names) != p.shape[1]:
        raise ValueError(f"`labels` has {len(names)} names but `predictions` has {p.shape[1]} columns; name each once.")
    errors = column_errors(p, y, n_bins, binning, norm)
    worst = int(np.argmax(errors))
    return {
        "per_label": {name: float(e) for name, e in zip(names, errors)},
        "mean": float(errors.mean()),
        "worst_label": names[worst],
        "worst": float(errors[worst]),
    }


def calibration_error_variants(predictions: Any, references: Any, n_bins: int = 15) -> dict[str, float]:
    """The quoted variants of :data:`ECE_VARIANTS` (``[n]``, or ``[n, k]`` with all pairs pooled).

    >>> out = calibration_error_variants([0.25, 0.25, 0.55, 0.75, 0.75], [0, 0, 1, 1, 1], n_bins=2)
    >>> {k: round(v, 4) for k, v in out.items()}
    {'ece_equal_width': 0.29, 'rms_equal_mass': 0.1586}
    """
    p, y = check_pair(predictions, references, ndims=(1, 2))
    return {
        name: calibration_error(p, y, n_bins, binning, norm)  # type: ignore[arg-type]
        for name, (norm, binning) in ECE_VARIANTS.items()
    }


def calibration_error_interval(
    predictions: Any,
    references: Any,
    n_bins: int = 15,
    binning: Binning = "uniform",
    norm: Norm = "l1",
    of: str = "micro",
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> tuple[float, float]:
    """A bootstrap interval of the calibration error: samples (rows) drawn with replacement ``n_resamples`` times
    (numpy, seeded), the error recomputed on each (quantile bins re-cut each time).

    ``of`` (for ``[n, k]``): ``"micro"`` (all pairs pooled), ``"macro"`` (the mean over labels) or ``"worst"`` (the
    largest per-label error); ignored for ``[n]``. ``method``: ``"percentile"`` (the resampled errors' quantiles) or
    ``"basic"`` (reflected about the estimate, ``2 * error - quantiles``, clipped at 0). A binned error is biased
    upwards, more so with few samples per bin, and the resampled errors more still: the percentile interval can sit
    above a well-calibrated model's true error of 0 (below), the basic interval corrects that first-order bias.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(500)
    >>> y = (rng.random(500) < p).astype(int)
    >>> lo, hi = calibration_error_interval(p, y, n_bins=10, n_resamples=200)
    >>> round(lo, 3), round(calibration_error(p, y, n_bins=10), 3), round(hi, 3)  # calibrated: the true ECE is 0
    (0.042, 0.047, 0.092)
    >>> [round(v, 3) for v in calibration_error_interval(p, y, n_bins=10, n_resamples=200, method="basic")]
    [0.003, 0.052]
    """
    _check_binning_args(n_bins, binning, norm)
    check_choice("of", of, INTERVAL_OF)
    check_choice("method", method, ("percentile", "basic"))
    n_resamples = check_positive_int("n_resamples", n_resamples)
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"`confidence_level` must be strictly between 0 and 1, e.g. 0.95; got {confidence_level!r}.")
    p, y = check_pair(predictions, references, ndims=(1, 2))
    pooled = p.ndim == 1 or of == "micro"

    def statistic(rows: np.ndarray) -> float:
        if pooled:
            return float(column_errors(p[rows].reshape(-1, 1), y[rows].reshape(-1, 1), n_bins, binning, norm)[0])
        errors = column_errors(p[rows], y[rows], n_bins, binning, norm)
        return float(errors.mean() if of == "macro" else errors.max())

    index = np.random.default_rng(seed).integers(0, len(p), size=(n_resamples, len(p)))
    values = np.array([statistic(rows) for rows in index])
    tail = (1.0 - confidence_level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    if method == "basic":
        estimate = statistic(np.arange(len(p)))
        lo, hi = max(0.0, 2.0 * estimate - hi), max(0.0, 2.0 * estimate - lo)
    return float(lo), float(hi)
