"""The `calibration_error` evaluate module, loaded offline by path: values equal the package's
pure functions and torchmetrics, add/add_batch/compute, the multilabel config, evaluate.combine."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"

import evaluate  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from marginal_generate import (  # noqa: E402
    binary_calibration_metrics,
    multilabel_calibration_metrics,
)

HERE = os.path.dirname(os.path.abspath(__file__))
MULTILABEL_CLASSIFICATION = os.path.join(os.path.dirname(HERE), "multilabel_classification")


@pytest.fixture(scope="module")
def binary():
    return evaluate.load(HERE)


@pytest.fixture(scope="module")
def multilabel():
    return evaluate.load(HERE, "multilabel")


def data(seed, n=200, k=None):
    rng = np.random.default_rng(seed)
    shape = (n,) if k is None else (n, k)
    p = rng.random(shape)
    y = (rng.random(shape) < p**2).astype(int)
    return p, y


def test_hand_example(binary):
    out = binary.compute(predictions=[0.25, 0.25, 0.55, 0.75, 0.75], references=[0, 0, 1, 1, 1], n_bins=2)
    assert out["ece"] == pytest.approx(0.29) and out["mce"] == pytest.approx(0.95 / 3)
    assert out["bins"] == {
        "edges": [0.0, 0.5, 1.0],
        "counts": [2, 3],
        "mean_confidence": [0.25, pytest.approx(2.05 / 3)],
        "fraction_positive": [0.0, 1.0],
    }


@pytest.mark.parametrize("kwargs", [{}, {"n_bins": 10, "norm": "max"}, {"binning": "quantile", "norm": "l2"}])
def test_equals_the_pure_function_and_keeps_float64(binary, kwargs):
    p, y = data(0)
    assert binary.compute(predictions=p, references=y, **kwargs) == binary_calibration_metrics(p, y, **kwargs)


def test_matches_torchmetrics(binary):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.classification")
    p, y = data(1)
    out = binary.compute(predictions=p, references=y)
    for key, norm in (("ece", "l1"), ("mce", "max"), ("rms_calibration_error", "l2")):
        ref = tm.binary_calibration_error(torch.tensor(p), torch.tensor(y), n_bins=15, norm=norm).item()
        assert out[key] == pytest.approx(ref, abs=1e-12)


def test_add_batch_and_add(binary):
    p, y = data(2)
    for start in range(0, 150, 50):
        binary.add_batch(predictions=p[start : start + 50], references=y[start : start + 50])
    for i in range(150, 200):
        binary.add(prediction=p[i], reference=y[i])
    assert binary.compute(n_bins=7) == binary_calibration_metrics(p, y, n_bins=7)


def test_multilabel_config(multilabel):
    p, y = data(3, k=4)
    multilabel.add_batch(predictions=p[:100], references=y[:100])
    multilabel.add_batch(predictions=p[100:], references=y[100:])
    out = multilabel.compute()
    assert out == multilabel_calibration_metrics(p, y)
    assert len(out["ece_per_label"]) == 4 and out["ece_macro"] == pytest.approx(np.mean(out["ece_per_label"]))


def test_combine_with_multilabel_classification():
    p, y = data(4, k=3)
    combined = evaluate.combine([evaluate.load(HERE, "multilabel"), evaluate.load(MULTILABEL_CLASSIFICATION)])
    combined.add_batch(predictions=p, references=y)
    out = combined.compute()
    assert out["ece_micro"] == multilabel_calibration_metrics(p, y)["ece_micro"]
    assert "f1_macro" in out and "hamming_loss" in out


def test_errors_pass_through(binary, multilabel):
    with pytest.raises(ValueError, match=r"`predictions` must hold probabilities in \[0, 1\]; got 1.5 at index 1"):
        binary.compute(predictions=[0.2, 1.5], references=[0, 1])
    with pytest.raises(ValueError, match=r"`references` must hold 0 or 1; got 2 at index 1"):
        binary.compute(predictions=[0.2, 0.5], references=[0, 2])
    with pytest.raises(ValueError, match=r"`predictions` must be finite; got nan at index 0"):
        binary.compute(predictions=[float("nan"), 0.5], references=[0, 1])
    with pytest.raises(ValueError, match=r"`norm` must be one of \('l1', 'l2', 'max'\); got 'L1'"):
        binary.compute(predictions=[0.2, 0.5], references=[0, 1], norm="L1")
    with pytest.raises(ValueError, match=r"`n_bins` must be an integer >= 1; got 0"):
        binary.compute(predictions=[0.2, 0.5], references=[0, 1], n_bins=0)
    with pytest.raises(ValueError, match=r"`predictions` has 2 labels per row but `references` has 3"):
        multilabel.compute(predictions=[[0.2, 0.5]], references=[[0, 1, 1]])


def test_quoted_variants(binary, multilabel):
    """seed 2's ECE (L1, equal-width bins) and Liu et al.'s RMS over equal-mass bins, whatever norm/binning say."""
    from marginal_generate.calibration.metrics import calibration_error

    p, y = data(5)
    out = binary.compute(predictions=p, references=y, norm="max", binning="quantile")
    assert (
        out["ece_equal_width"]
        == calibration_error(p, y, 15, "uniform", "l1")
        == binary.compute(predictions=p, references=y)["ece"]
    )
    assert out["rms_equal_mass"] == calibration_error(p, y, 15, "quantile", "l2")
    p, y = data(6, k=3)
    out = multilabel.compute(predictions=p, references=y)
    for j in range(3):
        assert out["rms_equal_mass_per_label"][j] == pytest.approx(
            calibration_error(p[:, j], y[:, j], 15, "quantile", "l2")
        )
    assert out["ece_equal_width_micro"] == out["ece_micro"]


def test_classwise_names_each_class_and_the_worst(multilabel):
    from marginal_generate.calibration.metrics import calibration_error

    p, y = data(7, k=3)
    p[:, 1] = np.clip(p[:, 1] + 0.3, 0, 1)  # S2 over-confident: the worst
    out = multilabel.compute(predictions=p, references=y, average="classwise", labels=["S1", "S2", "S3"])
    assert out["calibration_error_classwise"] == {
        name: pytest.approx(calibration_error(p[:, j], y[:, j])) for j, name in enumerate(["S1", "S2", "S3"])
    }
    assert out["worst_label"] == "S2" and out["calibration_error_worst"] == max(out["calibration_error_per_label"])
    assert multilabel.compute(predictions=p, references=y, average="classwise")["worst_label"] == 1


def test_bootstrap_intervals_by_hand(binary, multilabel):
    """The interval is the percentiles of the error over numpy-seeded resamples of the samples."""
    from marginal_generate.calibration.metrics import calibration_error

    p, y = data(8, n=120)
    out = binary.compute(predictions=p, references=y, n_resamples=50, seed=3)
    rows = np.random.default_rng(3).integers(0, 120, size=(50, 120))
    values = [calibration_error(p[r], y[r]) for r in rows]
    assert out["calibration_error_ci"] == pytest.approx(list(np.quantile(values, [0.025, 0.975])))
    basic = binary.compute(predictions=p, references=y, n_resamples=50, seed=3, interval_method="basic")
    lo, hi = np.quantile(values, [0.025, 0.975])
    ece = out["calibration_error"]
    assert basic["calibration_error_ci"] == pytest.approx([max(0, 2 * ece - hi), max(0, 2 * ece - lo)])
    p, y = data(9, n=120, k=3)
    out = multilabel.compute(predictions=p, references=y, average="classwise", n_resamples=40, confidence_level=0.9)
    rows = np.random.default_rng(0).integers(0, 120, size=(40, 120))
    worst = [max(calibration_error(p[r, j], y[r, j]) for j in range(3)) for r in rows]
    macro = [np.mean([calibration_error(p[r, j], y[r, j]) for j in range(3)]) for r in rows]
    assert out["calibration_error_worst_ci"] == pytest.approx(list(np.quantile(worst, [0.05, 0.95])))
    assert out["calibration_error_macro_ci"] == pytest.approx(list(np.quantile(macro, [0.05, 0.95])))
    assert (
        out["calibration_error_micro_ci"][0] <= out["calibration_error_micro"] <= out["calibration_error_micro_ci"][1]
    )


def test_new_argument_errors(binary, multilabel):
    with pytest.raises(ValueError, match=r"`average` must be None or 'classwise' \(with the 'multilabel' config"):
        binary.compute(predictions=[0.2, 0.5], references=[0, 1], average="classwise")
    with pytest.raises(ValueError, match=r"`average` must be None or 'classwise'.*; got 'macro'"):
        multilabel.compute(predictions=[[0.2, 0.5]], references=[[0, 1]], average="macro")
    with pytest.raises(
        ValueError, match=r"`n_resamples` must be an integer >= 0 \(0: no intervals\), e\.g\. 1000; got -1"
    ):
        binary.compute(predictions=[0.2, 0.5], references=[0, 1], n_resamples=-1)
    with pytest.raises(ValueError, match=r"`interval_method` must be 'percentile' or 'basic'; got 'bca'"):
        binary.compute(predictions=[0.2, 0.5], references=[0, 1], n_resamples=5, interval_method="bca")
    with pytest.raises(ValueError, match=r"`confidence_level` must be strictly between 0 and 1, e\.g\. 0\.95; got 95"):
        binary.compute(predictions=[0.2, 0.5], references=[0, 1], n_resamples=5, confidence_level=95)
    with pytest.raises(ValueError, match=r"`labels` has 1 names but `predictions` has 2 columns"):
        multilabel.compute(predictions=[[0.2, 0.5]], references=[[0, 1]], average="classwise", labels=["S1"])
