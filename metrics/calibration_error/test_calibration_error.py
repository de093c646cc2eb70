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
