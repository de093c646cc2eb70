"""The confidence chart: a horizontal bar per label, the threshold dashed, sized to be read on a phone.

The PNG is ``CHART_WIDTH_IN`` inches at ``CHART_DPI`` (twice the pixels it is shown at, for sharp screens);
the page shows it at most ``CHART_CSS_WIDTH`` CSS pixels wide (the layout's CSS), narrower on a phone. Text is
``CHART_FONT_PT`` points, so it stands :func:`shown_font_px` CSS pixels tall on screen: 16.7 px at full width,
11.7 px in the 324 px a 390 px wide phone leaves the chart (measured in Chromium).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

from ..labels.taxonomy import Taxonomy, get_taxonomy  # noqa: F401 (the examples use get_taxonomy)
from .verdict import check_row, display_name

__all__ = ["CHART_CSS_WIDTH", "CHART_DPI", "CHART_FONT_PT", "CHART_WIDTH_IN", "bar_chart", "shown_font_px"]

CHART_WIDTH_IN = 4.6
CHART_DPI = 200
#: The widest the page shows the chart, in CSS pixels (100 per inch of the figure).
CHART_CSS_WIDTH = 460
CHART_FONT_PT = 12.0
#: Names longer than this many characters wrap onto a second line (the bars keep the width).
NAME_WIDTH = 18
ROW_IN = 0.46
UNDER, OVER = "#1f77b4", "#d62728"


def shown_font_px(points: float, shown_width: float) -> float:
    """How tall text of ``points`` stands on screen, in CSS pixels, with the chart shown ``shown_width`` wide.

    >>> round(shown_font_px(CHART_FONT_PT, CHART_CSS_WIDTH), 1), round(shown_font_px(CHART_FONT_PT, 324), 1)
    (16.7, 11.7)
    """
    return points / 72 * CHART_DPI * shown_width / (CHART_WIDTH_IN * CHART_DPI)


def bar_chart(
    labels: Sequence[str],
    probs: Sequence[float],
    threshold: float,
    taxonomy: Taxonomy,
    title: str = "",
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
) -> Any:
    """A horizontal bar per label (display names, label order top to bottom), the threshold as a
    dashed vertical line, bars at or over it in red; ``lower``/``upper`` draw the any_place bounds
    as error bars. Names over ``NAME_WIDTH`` characters wrap. Undefined (NaN) scores get no bar and
    "n/a". The values stand in a column right of the axis, the threshold's legend above it and the
    title above that, so no text lies on a bar, the line, an axis or another text. A
    ``matplotlib.figure.Figure`` built without pyplot (no global state: safe from the server's worker threads).

    >>> fig = bar_chart(["unsafe", "S1"], [0.7, 0.2], 0.5, get_taxonomy(3))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()], fig.axes[0].lines[0].get_xdata()[0]
    (['unsafe', 'S1 Violent Crimes'], 0.5)
    """
    from matplotlib.figure import Figure

    check_row(labels, probs)
    names = [display_name(label, taxonomy) for label in labels]
    values = [float(p) for p in probs]
    defined = [not math.isnan(v) for v in values]
    heights = [v if ok else 0.0 for v, ok in zip(values, defined)]
    colors = [OVER if ok and v >= threshold else UNDER for v, ok in zip(values, defined)]
    size = CHART_FONT_PT
    fig = Figure(figsize=(CHART_WIDTH_IN, ROW_IN * len(labels) + 1.6), dpi=CHART_DPI, layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(labels)))
    xerr = None
    if lower is not None and upper is not None:
        check_row(labels, lower)
        check_row(labels, upper)
        xerr = [
            [max(h - float(lo), 0.0) for h, lo in zip(heights, lower)],
            [max(float(up) - h, 0.0) for h, up in zip(heights, upper)],
        ]
    ax.barh(positions, heights, color=colors, xerr=xerr, ecolor="#555555", capsize=2)
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label=f"threshold {threshold:.2f}")
    for y, (v, ok) in enumerate(zip(values, defined)):  # a column of values right of the axis
        text = f"{v:.3f}" if ok else "n/a"
        ax.text(1.02, y, text, va="center", ha="left", fontsize=size, transform=ax.get_yaxis_transform())
    ax.set_yticks(positions, [textwrap.fill(n, NAME_WIDTH, break_on_hyphens=False) for n in names], fontsize=size)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xticks([0.0, 0.5, 1.0], ["0", "0.5", "1"], fontsize=size)
    ax.set_xlabel("probability", fontsize=size)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=size, frameon=False, borderaxespad=0.2)
    if title:  # above the legend, so the two never meet on a narrow chart
        fig.suptitle(title, x=0.01, ha="left", fontsize=size)
    return fig
