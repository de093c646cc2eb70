"""The `multilabel_classification` evaluate module, loaded offline by path: every number equals
scikit-learn; add/add_batch/compute, 0/1 predictions, per-label thresholds, evaluate.combine."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"

import evaluate  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from marginal_generate import multilabel_classification_metrics  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CALIBRATION_ERROR = os.path.join(os.path.dirname(HERE), "calibration_error")


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(HERE)


def data(seed, n=200, k=4):
    rng = np.random.default_rng(seed)
    p = rng.random((n, k))
    y = (rng.random((n, k)) < p).astype(int)
    return p, y


def test_hand_example(metric):
    out = metric.compute(predictions=[[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]], references=[[1, 0], [0, 1], [0, 1]])
    assert out["precision_per_label"] == [0.5, 1.0] and out["recall_per_label"] == [1.0, 1.0]
    assert out["f1_macro"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["subset_accuracy"] == pytest.approx(2 / 3) and out["hamming_loss"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("threshold", [0.5, 0.3, [0.2, 0.4, 0.6, 0.8]])
def test_every_number_matches_scikit_learn(metric, threshold):
    p, y = data(0)
    out = metric.compute(predictions=p, references=y, threshold=threshold)
    pred = (p >= np.asarray(threshold)).astype(int)
    for name, fn in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        for avg in ("micro", "macro"):
            assert out[f"{name}_{avg}"] == fn(y, pred, average=avg, zero_division=0)
        assert out[f"{name}_per_label"] == fn(y, pred, average=None, zero_division=0).tolist()
    assert out["subset_accuracy"] == skm.accuracy_score(y, pred)
    assert out["hamming_loss"] == skm.hamming_loss(y, pred)
    for avg in ("micro", "macro"):
        assert out[f"roc_auc_{avg}"] == skm.roc_auc_score(y, p, average=avg)
        assert out[f"auprc_{avg}"] == skm.average_precision_score(y, p, average=avg)


def test_from_labels(metric):
    p, y = data(1)
    pred = (p >= 0.5).astype(int)
    out = metric.compute(predictions=pred, references=y, prediction_type="labels")
    assert out["f1_micro"] == skm.f1_score(y, pred, average="micro")
    assert out["roc_auc_macro"] is None and out["auprc_micro"] is None


def test_add_batch_and_add(metric):
    p, y = data(2)
    metric.add_batch(predictions=p[:120], references=y[:120])
    for i in range(120, 200):
        metric.add(prediction=p[i], reference=y[i])
    assert metric.compute() == multilabel_classification_metrics(p, y)


def test_combine():
    p, y = data(3)
    combined = evaluate.combine([evaluate.load(HERE), evaluate.load(CALIBRATION_ERROR, "multilabel")])
    out = combined.compute(predictions=p, references=y)
    assert out["roc_auc_macro"] == skm.roc_auc_score(y, p, average="macro")
    assert "ece_macro" in out


def test_errors_pass_through(metric):
    with pytest.raises(ValueError, match=r"`threshold` has 3 values but `predictions` has 2 label\(s\)"):
        metric.compute(predictions=[[0.1, 0.9]], references=[[0, 1]], threshold=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"`predictions` must hold 0 or 1; got 0.1 at index \(0, 0\)"):
        metric.compute(predictions=[[0.1, 0.9]], references=[[0, 1]], prediction_type="labels")
    with pytest.raises(ValueError, match=r"`references` must hold 0 or 1; got 5 at index \(0, 1\)"):
        metric.compute(predictions=[[0.1, 0.9]], references=[[0, 5]])
