r"""Binning predictions for calibration: edges (equal-width or equal-mass), each prediction's bin, the per-bin table
of a reliability diagram, and the binned errors (ECE, RMS, MCE) from per-bin gaps.

Bin :math:`m` covers :math:`(e_{m-1}, e_m]` and a prediction of exactly 0 falls into the first bin.

>>> table = reliability_table([0.25, 0.25, 0.55, 0.75, 0.75], [0, 0, 1, 1, 1], n_bins=2)
>>> round(table_error(table, "l1"), 4), round(table_error(table, "max"), 4)
(0.29, 0.3167)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .validation import check_choice, check_pair, check_positive_int, check_probabilities

__all__ = [
    "Binning",
    "Norm",
    "BINNINGS",
    "NORMS",
    "bin_edges",
    "bin_indices",
    "BinTable",
    "reliability_table",
    "reduce_gaps",
    "table_error",
    "column_errors",
]

Binning = Literal["uniform", "quantile"]
Norm = Literal["l1", "l2", "max"]

BINNINGS: tuple[str, ...] = ("uniform", "quantile")
NORMS: tuple[str, ...] = ("l1", "l2", "max")


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
    p, y = check_pair(predictions, references, ndims=(1, 2))
    p, y = p.ravel(), y.ravel()
    edges = bin_edges(p, n_bins, binning)
    index = bin_indices(p, edges)
    n = len(edges) - 1
    counts = np.bincount(index, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=p, minlength=n) / counts
        frac = np.bincount(index, weights=y.astype(np.float64), minlength=n) / counts
    return BinTable(edges, counts, mean_conf, frac)


def reduce_gaps(gap: np.ndarray, weight: np.ndarray, norm: Norm, axis: int = -1) -> Any:
    """The binned error from per-bin gaps ``|fraction positive - mean confidence|`` and bin weights ``count / N``
    along ``axis``: their weighted sum (``"l1"``, ECE), weighted root mean square (``"l2"``) or largest gap
    (``"max"``, MCE). An empty bin has weight 0 and gap 0.

    >>> gap, weight = np.array([0.1, 0.4]), np.array([0.5, 0.5])
    >>> float(reduce_gaps(gap, weight, "l1")), float(reduce_gaps(gap, weight, "max"))
    (0.25, 0.4)
    """
    if norm == "l1":
        return np.sum(weight * gap, axis=axis)
    if norm == "l2":
        return np.sqrt(np.sum(weight * gap**2, axis=axis))
    return np.max(gap, axis=axis)


def table_error(table: BinTable, norm: Norm) -> float:
    """The calibration error of ``norm`` over a :class:`BinTable`'s filled bins."""
    filled = table.counts > 0
    gap = np.abs(table.fraction_positive[filled] - table.mean_confidence[filled])
    return float(reduce_gaps(gap, table.weights[filled], norm))


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
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(counts > 0, gap_mass / counts, 0.0)
    return reduce_gaps(gap, counts / n, norm, axis=1)
