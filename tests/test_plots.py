"""Calibration plots: figures from the per-bin table (BinTable or the metric's dict), PNG files."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from marginal_generate.calibration.metrics import binary_calibration_metrics, reliability_table
from marginal_generate.calibration.plots import (
    calibration_curve,
    confidence_histogram,
    reliability_diagram,
    save_calibration_plots,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bins_dict():
    rng = np.random.default_rng(0)
    p = rng.beta(0.5, 0.5, 400)
    y = (rng.random(400) < p**2).astype(int)
    p[:5] = 0.0  # exact 0, and (with 10 bins of beta(0.5, 0.5)) no empty bins needed
    return binary_calibration_metrics(p, y, n_bins=10)["bins"]


def test_save_writes_three_pngs(tmp_path, bins_dict):
    paths = save_calibration_plots(bins_dict, tmp_path / "plots", prefix="raw_", title="raw")
    assert set(paths) == {"reliability_diagram", "calibration_curve", "confidence_histogram"}
    for name, path in paths.items():
        data = open(path, "rb").read()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000, name
        assert path.endswith(f"raw_{name}.png")


def test_reliability_diagram_draws_one_bar_per_filled_bin():
    table = reliability_table([0.05, 0.1, 0.9, 0.95], [0, 1, 1, 1], n_bins=10)  # bins 0 and 8/9 filled
    fig = reliability_diagram(table.to_dict(), title="t")
    ax = fig.axes[0]
    filled = int((table.counts > 0).sum())
    assert len(ax.patches) == 2 * filled  # an output bar and a gap bar per non-empty bin
    assert ax.get_title() == "t" and ax.get_xlim() == (0.0, 1.0)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches[:filled])
    assert heights == sorted(round(v, 6) for v in table.fraction_positive[table.counts > 0])
    assert any("ECE = " in t.get_text() for t in ax.texts)


def test_calibration_curve_one_line_per_table(bins_dict):
    single = calibration_curve(bins_dict)
    assert len(single.axes[0].lines) == 2  # diagonal + model
    other = reliability_table([0.2, 0.4, 0.6], [0, 1, 1], n_bins=5)
    multi = calibration_curve({"raw": bins_dict, "+TS": other})
    labels = [t.get_text() for t in multi.axes[0].get_legend().get_texts()]
    assert labels == ["perfect calibration", "raw", "+TS"]
    x, y = multi.axes[0].lines[2].get_data()
    np.testing.assert_allclose(x, other.mean_confidence[other.counts > 0])
    np.testing.assert_allclose(y, other.fraction_positive[other.counts > 0])


def test_confidence_histogram_shares_sum_to_one(bins_dict):
    fig = confidence_histogram(bins_dict)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert len(heights) == len(bins_dict["counts"])
    assert sum(heights) == pytest.approx(1.0)


def test_plot_errors():
    with pytest.raises(ValueError, match=r"`bins` must be a BinTable or a dict"):
        reliability_diagram([0.1, 0.2])
    with pytest.raises(ValueError, match=r"`bins` lacks \['counts', 'mean_confidence', 'fraction_positive'\]"):
        confidence_histogram({"edges": [0.0, 1.0]})
    with pytest.raises(ValueError, match=r"`bins` is an empty mapping"):
        calibration_curve({})
