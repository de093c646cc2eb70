"""Calibration plots from the per-bin table of the ``calibration_error`` metric.

Each function takes the ``bins`` entry of the metric's output (a dict with ``edges``, ``counts``,
``mean_confidence``, ``fraction_positive``) or a :class:`~marginal_generate.calibration.metrics.BinTable`
and returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas: no pyplot, no global backend
change, no window. :func:`save_calibration_plots` writes all three as PNG files in one call.
Requires matplotlib (``pip install matplotlib``).

>>> from marginal_generate.calibration.metrics import reliability_table
>>> bins = reliability_table([0.1, 0.3, 0.35, 0.8, 0.9], [0, 0, 1, 1, 1], n_bins=5)
>>> fig = reliability_diagram(bins, title="raw")
>>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
['perfect calibration', 'outputs', 'gap']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .metrics import BinTable

__all__ = ["reliability_diagram", "calibration_curve", "confidence_histogram", "save_calibration_plots"]

Bins = Any  # a BinTable or its to_dict() form


def _figure(figsize: tuple[float, float] = (4.5, 4.5)) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("marginal_generate.calibration.plots needs matplotlib: pip install matplotlib") from err
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _unit_axes(ax: Any, xlabel: str, ylabel: str, title: str | None) -> None:
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def reliability_diagram(bins: Bins, title: str | None = None, show_ece: bool = True) -> Any:
    """Bars of the fraction of positives per bin against the diagonal, with the gap shaded.

    Empty bins have no bar. With ``show_ece`` the ECE of the table is written in the corner.
    """
    table = BinTable.from_dict(bins)
    fig = _figure()
    ax = fig.add_subplot()
    left, width = table.edges[:-1], np.diff(table.edges)
    filled = table.counts > 0
    ax.bar(
        left[filled],
        table.fraction_positive[filled],
        width=width[filled],
        align="edge",
        color="tab:blue",
        edgecolor="black",
        linewidth=0.5,
        label="outputs",
    )
    gap_bottom = np.minimum(table.fraction_positive, table.mean_confidence)[filled]
    gap_height = np.abs(table.fraction_positive - table.mean_confidence)[filled]
    ax.bar(
        left[filled],
        gap_height,
        bottom=gap_bottom,
        width=width[filled],
        align="edge",
        color="tab:red",
        alpha=0.3,
        edgecolor="tab:red",
        hatch="//",
        linewidth=0.5,
        label="gap",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    _unit_axes(ax, "confidence (predicted probability)", "fraction positive", title)
    if show_ece and filled.any():
        gap = np.abs(table.fraction_positive[filled] - table.mean_confidence[filled])
        ece = float(np.sum(table.weights[filled] * gap))
        ax.text(
            0.97,
            0.03,
            f"ECE = {ece:.3f}",
            ha="right",
            va="bottom",
            transform=ax.transAxes,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "gray"},
        )
    ax.legend(loc="upper left")
    return fig


def calibration_curve(bins: Bins | Mapping[str, Bins], title: str | None = None) -> Any:
    """Fraction of positives against mean confidence per non-empty bin, one line per table.

    ``bins``: one table, or a mapping ``name -> table`` (e.g. ``{"raw": ..., "+TS": ...}``) drawn
    as one line each.
    """
    is_single = isinstance(bins, BinTable) or (isinstance(bins, Mapping) and "edges" in bins)
    tables = {"": bins} if is_single else dict(bins)
    if not tables:
        raise ValueError("`bins` is an empty mapping; pass one table or a mapping name -> table.")
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    for name, value in tables.items():
        table = BinTable.from_dict(value)
        filled = table.counts > 0
        ax.plot(table.mean_confidence[filled], table.fraction_positive[filled], marker="o", label=name or "model")
    _unit_axes(ax, "mean predicted probability", "fraction positive", title)
    ax.legend(loc="upper left")
    return fig


def confidence_histogram(bins: Bins, title: str | None = None) -> Any:
    """Share of predictions per bin, with the mean confidence marked."""
    table = BinTable.from_dict(bins)
    fig = _figure()
    ax = fig.add_subplot()
    left, width = table.edges[:-1], np.diff(table.edges)
    total = max(int(table.counts.sum()), 1)
    ax.bar(
        left,
        table.counts / total,
        width=width,
        align="edge",
        color="tab:blue",
        edgecolor="black",
        linewidth=0.5,
        label="share of predictions",
    )
    filled = table.counts > 0
    if filled.any():
        mean = float(np.sum(table.weights[filled] * table.mean_confidence[filled]))
        ax.axvline(mean, color="tab:red", linestyle="--", label=f"mean confidence {mean:.3f}")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("confidence (predicted probability)")
    ax.set_ylabel("share of predictions")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center")
    return fig


def save_calibration_plots(
    bins: Bins, output_dir: str | os.PathLike[str], prefix: str = "", title: str | None = None, dpi: int = 120
) -> dict[str, str]:
    """Write ``reliability_diagram.png``, ``calibration_curve.png`` and ``confidence_histogram.png``.

    Returns ``{"reliability_diagram": path, ...}``; ``prefix`` is prepended to each file name and
    ``output_dir`` is created if needed.

    >>> import tempfile
    >>> from marginal_generate.calibration.metrics import reliability_table
    >>> paths = save_calibration_plots(reliability_table([0.2, 0.7], [0, 1], n_bins=4),
    ...     tempfile.mkdtemp(), prefix="raw_")
    >>> sorted(os.path.basename(p) for p in paths.values())
    ['raw_calibration_curve.png', 'raw_confidence_histogram.png', 'raw_reliability_diagram.png']
    """
    os.makedirs(output_dir, exist_ok=True)
    figures = {
        "reliability_diagram": reliability_diagram(bins, title=title),
        "calibration_curve": calibration_curve(bins, title=title),
        "confidence_histogram": confidence_histogram(bins, title=title),
    }
    paths = {}
    for name, fig in figures.items():
        path = os.path.join(os.fspath(output_dir), f"{prefix}{name}.png")
        fig.savefig(path, dpi=dpi, format="png")
        paths[name] = path
    return paths
