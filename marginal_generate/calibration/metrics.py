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
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .validation import (
    check_binary_references,
    check_choice,
    check_positive_int,
    check_probabilities,
    check_same_shape,
)

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

Binning = Literal["uniform", "quantile"]
Norm = Literal["l1", "l2", "max"]
PredictionType = Literal["probabilities", "labels"]

BINNINGS: tuple[str, ...] = ("uniform", "quantile")
NORMS: tuple[str, ...] = ("l1", "l2", "max")
PREDICTION_TYPES: tuple[str, ...] = ("probabilities", "labels")
EPS: float = float(np.finfo(np.float64).eps)
#: The calibration errors that papers quote, by name: ``(norm, binning)``. ``ece_equal_width``: L1 over equal-width
#: bins (the Llama Guard calibration study, torchmetrics); ``rms_equal_mass``: root mean square over equal-mass bins
#: (Liu et al., ICLR 2025).
ECE_VARIANTS: dict[str, tuple[str, str]] = {"ece_equal_width": ("l1", "uniform"), "rms_equal_mass": ("l2", "quantile")}


def _check_pair(
    predictions: Any,
    references: Any,
    ndims: Sequence[int] = (1,),
    names: tuple[str, str] = ("predictions", "references"),
) -> tuple[np.ndarray, np.ndarray]:
    p = check_probabilities(names[0], predictions, ndims)
    y = check_binary_references(names[1], references, ndims)
    check_same_shape(names[0], p, names[1], y)
    return p, y


# ----------------------------------------------------------------------------- binning


def bin_edges(confidences: Any, n_bins: int = 15, binning: Binning = "uniform") -> np.ndarray:
    """The ``n_bins + 1`` bin edges, from 0 to 1.

    >>> bin_edges([0.1, 0.2], n_bins=4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> bin_edges([0.1, 0.2, 0.3, 0.9], n_bins=2, binning="quantile").tolist()
    [0.0, 0.25, 1.0]
    """
    n_bins = check_positive_int("n_bins", n_bins)
    check_choice("binning", binning, BINNINGS)
    if binning == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    conf = check_probabilities("confidences", confidences, ndims=(1, 2)).ravel()
    edges = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1))
    edges[0], edges[-1] = 0.0, 1.0
    return np.maximum.accumulate(edges)


def bin_indices(confidences: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin of each confidence: bin ``m`` is ``(edges[m], edges[m + 1]]``, and 0 goes to bin 0.

    >>> bin_indices(np.array([0.0, 0.25, 0.26, 1.0]), np.array([0.0, 0.25, 0.5, 0.75, 1.0])).tolist()
    [0, 0, 1, 3]
    """
    index = np.searchsorted(edges, confidences, side="left") - 1
    return np.clip(index, 0, len(edges) - 2)


@dataclass
class BinTable:
    """The per-bin table of a reliability diagram.

    Attributes:
        edges: ``n_bins + 1`` edges; bin ``m`` is ``(edges[m], edges[m + 1]]`` (0 in bin 0).
        counts: number of predictions per bin.
        mean_confidence: mean predicted probability per bin (NaN for an empty bin).
        fraction_positive: fraction of references equal to 1 per bin (NaN for an empty bin).
    """

    edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    fraction_positive: np.ndarray

    @property
    def n_bins(self) -> int:
        return len(self.counts)

    @property
    def weights(self) -> np.ndarray:
        """``counts / counts.sum()``."""
        return self.counts / self.counts.sum()

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain lists; empty bins have ``None`` for mean confidence and fraction positive.

        >>> reliability_table([0.1, 0.9], [0, 1], n_bins=3).to_dict()["mean_confidence"]
        [0.1, None, 0.9]
        """

        def plain(values: np.ndarray) -> list[float | None]:
            return [None if np.isnan(v) else float(v) for v in values]

        return {
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "mean_confidence": plain(self.mean_confidence),
            "fraction_positive": plain(self.fraction_positive),
        }

    @classmethod
    def from_dict(cls, table: Any) -> BinTable:
        """From :meth:`to_dict`'s output (or a ``BinTable``, returned as is); ``None`` becomes NaN."""
        if isinstance(table, BinTable):
            return table
        if not hasattr(table, "keys"):
            raise ValueError(
                f"`bins` must be a BinTable or a dict with keys edges, counts, mean_confidence, fraction_positive; "
                f"got {type(table).__name__}."
            )
        missing = [k for k in ("edges", "counts", "mean_confidence", "fraction_positive") if k not in table]
        if missing:
            raise ValueError(f"`bins` lacks {missing}; pass the 'bins' entry of the calibration_error metric's output.")

        def arr(key: str) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in table[key]], dtype=np.float64)

        edges, counts = arr("edges"), arr("counts").astype(np.int64)
        mean_conf, frac = arr("mean_confidence"), arr("fraction_positive")
        if not (len(edges) == len(counts) + 1 == len(mean_conf) + 1 == len(frac) + 1):
            raise ValueError(
                "`bins` needs len(edges) == len(counts) + 1 == len(mean_confidence) "
                "+ 1 == len(fraction_positive) + 1; "
                f"got {len(edges)}, {len(counts)}, {len(mean_conf)}, {len(frac)}."
            )
        return cls(edges, counts, mean_conf, frac)


def reliability_table(predictions: Any, references: Any, n_bins: int = 15, binning: Binning = "uniform") -> BinTable:
    """Bin the predictions (probability of the positive class) and summarise each bin.

    ``predictions`` and ``references`` may be ``[n]`` or ``[n, k]`` (then all pairs are pooled).

    >>> t = reliability_table([0.0, 0.5, 0.5, 1.0], [0, 0, 1, 1], n_bins=2)
    >>> t.counts.tolist(), t.fraction_positive.tolist()
    ([3, 1], [0.3333333333333333, 1.0])
    """
    p, y = _check_pair(predictions, references, ndims=(1, 2))
    p, y = p.ravel(), y.ravel()
    edges = bin_edges(p, n_bins, binning)
    index = bin_indices(p, edges)
    n = len(edges) - 1
    counts = np.bincount(index, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=p, minlength=n) / counts
        frac = np.bincount(index, weights=y.astype(np.float64), minlength=n) / counts
    return BinTable(edges, counts, mean_conf, frac)


def _error_from_table(table: BinTable, norm: Norm) -> float:
    filled = table.counts > 0
    gap = np.abs(table.fraction_positive[filled] - table.mean_confidence[filled])
    weight = table.weights[filled]
    if norm == "l1":
        return float(np.sum(weight * gap))
    if norm == "l2":
        return float(np.sqrt(np.sum(weight * gap**2)))
    return float(np.max(gap))


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
    return _error_from_table(reliability_table(predictions, references, n_bins, binning), norm)


def negative_log_likelihood(predictions: Any, references: Any) -> float:
    """Mean binary cross-entropy; probabilities are clipped to ``[eps, 1 - eps]``, so 0 and 1 are valid.

    >>> round(negative_log_likelihood([0.8, 0.3], [1, 0]), 6)
    0.289909
    """
    p, y = _check_pair(predictions, references, ndims=(1, 2))
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
    p, y = _check_pair(predictions, references, ndims=(1, 2))
    return float(np.mean((p - y) ** 2))


def _check_binning_args(n_bins: Any, binning: Any, norm: Any) -> None:
    check_positive_int("n_bins", n_bins)
    check_choice("binning", binning, BINNINGS)
    check_choice("norm", norm, NORMS)


def _calibration_values(p: np.ndarray, y: np.ndarray, n_bins: int, binning: Binning, norm: Norm) -> dict[str, Any]:
    table = reliability_table(p, y, n_bins, binning)
    return {
        "calibration_error": _error_from_table(table, norm),
        "ece": _error_from_table(table, "l1"),
        "mce": _error_from_table(table, "max"),
        "rms_calibration_error": _error_from_table(table, "l2"),
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
    p, y = _check_pair(predictions, references, ndims=(1,))
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
    p, y = _check_pair(predictions, references, ndims=(2,))
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


def column_errors(
    p: np.ndarray, y: np.ndarray, n_bins: int = 15, binning: Binning = "uniform", norm: Norm = "l1"
) -> np.ndarray:
    """Unchecked calibration error of each column of ``[n, k]`` probabilities and 0/1 references, all columns binned
    at once (one ``bincount``); equal to :func:`calibration_error` of each column.

    >>> column_errors(np.array([[0.9, 0.2], [0.9, 0.4], [0.1, 0.6]]), np.array([[1, 0], [0, 1], [0, 1]]), 2).round(4)
    array([0.3   , 0.2667])
    """
    n, k = p.shape
    levels = np.linspace(0.0, 1.0, n_bins + 1)
    if binning == "uniform":
        index = bin_indices(p, levels)
    else:
        edges = np.quantile(p, levels, axis=0).T  # [k, n_bins + 1]
        edges[:, 0], edges[:, -1] = 0.0, 1.0
        edges = np.maximum.accumulate(edges, axis=1)
        index = np.stack([bin_indices(p[:, j], edges[j]) for j in range(k)], axis=1)
    flat = (index + n_bins * np.arange(k)).ravel()
    counts = np.bincount(flat, minlength=k * n_bins).reshape(k, n_bins)
    gap_mass = np.abs(
        np.bincount(flat, weights=y.ravel().astype(np.float64), minlength=k * n_bins)
        - np.bincount(flat, weights=p.ravel(), minlength=k * n_bins)
    ).reshape(k, n_bins)  # |sum of references - sum of confidences| per bin
    if norm == "l1":
        return gap_mass.sum(axis=1) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(counts > 0, gap_mass / counts, 0.0)
    if norm == "l2":
        return np.sqrt((counts * gap**2).sum(axis=1) / n)
    return gap.max(axis=1)


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
    p, y = _check_pair(predictions, references, ndims=(2,))
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
    p, y = _check_pair(predictions, references, ndims=(1, 2))
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
    p, y = _check_pair(predictions, references, ndims=(1, 2))
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


# ----------------------------------------------------------------------------- classification


def apply_threshold(predictions: np.ndarray, threshold: float | Sequence[float] = 0.5) -> np.ndarray:
    """0/1 predictions: ``p >= threshold``; ``threshold`` one value or one per label (column).

    >>> apply_threshold(np.array([[0.5, 0.5], [0.2, 0.9]]), [0.5, 0.95]).tolist()
    [[1, 0], [0, 0]]
    """
    t = check_probabilities("threshold", np.atleast_1d(np.asarray(threshold, dtype=np.float64)), ndims=(1,))
    if t.size != 1:
        labels = predictions.shape[1] if predictions.ndim == 2 else 1
        if t.size != labels:
            raise ValueError(
                f"`threshold` has {t.size} values but `predictions` has {labels} label(s); "
                "pass one threshold, or one per label."
            )
    else:
        t = t[0]
    return (predictions >= t).astype(np.int64)


def _labels_from(
    predictions: Any, references: Any, threshold: Any, prediction_type: str, ndims: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    if prediction_type == "labels":
        y_pred = check_binary_references("predictions", predictions, ndims)
        y_true = check_binary_references("references", references, ndims)
        check_same_shape("predictions", y_pred, "references", y_true)
        return y_pred, y_true, None
    p, y_true = _check_pair(predictions, references, ndims)
    return apply_threshold(p, threshold), y_true, p


def _ranking(score: Any, y: np.ndarray, p: np.ndarray) -> float | None:
    """A scikit-learn ranking score, or None where it is undefined (one class only in ``y``)."""
    if np.unique(y).size < 2:
        return None
    return float(score(y, p))


def binary_classification_metrics(
    predictions: Any,
    references: Any,
    threshold: float = 0.5,
    prediction_type: PredictionType = "probabilities",
) -> dict[str, float | None]:
    """F1, precision, recall, accuracy (of ``p >= threshold``), ROC-AUC and AUPRC via scikit-learn.

    Precision/recall/F1 are 0 where undefined (no predicted or no actual positives); ROC-AUC and
    AUPRC are None when ``references`` has one class only or when ``prediction_type="labels"``.

    >>> out = binary_classification_metrics([0.9, 0.6, 0.4, 0.1], [1, 0, 1, 0])
    >>> out["accuracy"], out["precision"], out["recall"], out["f1"], out["auprc"]
    (0.5, 0.5, 0.5, 0.5, 0.8333333333333333)
    """
    from sklearn import metrics as skm

    y_pred, y_true, p = _labels_from(predictions, references, threshold, prediction_type, ndims=(1,))
    return {
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "roc_auc": None if p is None else _ranking(skm.roc_auc_score, y_true, p),
        "auprc": None if p is None else _ranking(skm.average_precision_score, y_true, p),
    }


def _macro(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def multilabel_classification_metrics(
    predictions: Any,
    references: Any,
    threshold: float | Sequence[float] = 0.5,
    prediction_type: PredictionType = "probabilities",
) -> dict[str, Any]:
    """Multi-label F1/precision/recall (micro, macro, per label), subset accuracy, Hamming loss,
    ROC-AUC and AUPRC (micro, macro, per label), all via scikit-learn.

    ``predictions``: ``[n, k]`` probabilities (thresholded with ``p >= threshold``; one threshold,
    or one per label) or, with ``prediction_type="labels"``, 0/1 predictions. ``references``:
    ``[n, k]`` 0/1. Undefined precision/recall/F1 are 0 (``zero_division=0``). ROC-AUC and AUPRC of
    a label whose references hold one class only are None and left out of the macro mean (which
    then is scikit-learn's macro over the remaining labels); with 0/1 predictions they are None.

    >>> out = multilabel_classification_metrics([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]], [[1, 0], [0, 1], [0, 1]])
    >>> out["f1_per_label"], out["subset_accuracy"], round(out["hamming_loss"], 4)
    ([0.6666666666666666, 1.0], 0.6666666666666666, 0.1667)
    >>> out["roc_auc_per_label"], out["roc_auc_macro"]
    ([1.0, 1.0], 1.0)
    """
    from sklearn import metrics as skm

    y_pred, y_true, p = _labels_from(predictions, references, threshold, prediction_type, ndims=(2,))
    out: dict[str, Any] = {}
    for name, fn in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        out[f"{name}_micro"] = float(fn(y_true, y_pred, average="micro", zero_division=0))
        out[f"{name}_macro"] = float(fn(y_true, y_pred, average="macro", zero_division=0))
        out[f"{name}_per_label"] = [float(v) for v in fn(y_true, y_pred, average=None, zero_division=0)]
    out["subset_accuracy"] = float(skm.accuracy_score(y_true, y_pred))
    out["hamming_loss"] = float(skm.hamming_loss(y_true, y_pred))
    for name, fn in (("roc_auc", skm.roc_auc_score), ("auprc", skm.average_precision_score)):
        if p is None:
            out[f"{name}_micro"], out[f"{name}_macro"], out[f"{name}_per_label"] = None, None, None
            continue
        per_label = [_ranking(fn, y_true[:, j], p[:, j]) for j in range(p.shape[1])]
        micro_defined = np.unique(y_true).size == 2
        out[f"{name}_micro"] = float(fn(y_true, p, average="micro")) if micro_defined else None
        if all(v is not None for v in per_label):
            out[f"{name}_macro"] = float(fn(y_true, p, average="macro"))
        else:
            out[f"{name}_macro"] = _macro(per_label)
        out[f"{name}_per_label"] = per_label
    return out
