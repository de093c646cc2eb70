"""The pure calibration/classification metric functions: hand-computed values, parity with
torchmetrics (ECE, MCE, RMS) and scikit-learn (everything else), and every error message."""

import numpy as np
import pytest
from sklearn import metrics as skm

from marginal_generate.calibration.metrics import (
    BinTable,
    apply_threshold,
    bin_edges,
    bin_indices,
    binary_calibration_metrics,
    binary_classification_metrics,
    brier_score,
    calibration_error,
    multilabel_calibration_metrics,
    multilabel_classification_metrics,
    negative_log_likelihood,
    reliability_table,
)

torch = pytest.importorskip("torch")
tm = pytest.importorskip("torchmetrics.functional.classification")


def random_binary(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 0.6, n)  # mass near 0 and 1, like a guard model
    y = (rng.random(n) < p**1.5).astype(np.int64)  # miscalibrated on purpose
    return p, y


def random_multilabel(seed: int, n: int = 300, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random((n, k)) ** rng.uniform(0.5, 3.0, k)
    y = (rng.random((n, k)) < np.clip(p + rng.normal(0, 0.2, (n, k)), 0, 1)).astype(np.int64)
    return p, y


# ----------------------------------------------------------------------------- hand-computed


def test_torchmetrics_docstring_example_exactly():
    p, y = [0.25, 0.25, 0.55, 0.75, 0.75], [0, 0, 1, 1, 1]
    out = binary_calibration_metrics(p, y, n_bins=2)
    # bin 0: {0.25, 0.25}, frac 0, conf 0.25; bin 1: {0.55, 0.75, 0.75}, frac 1, conf 0.68333
    assert out["bins"]["counts"] == [2, 3]
    assert out["ece"] == pytest.approx(2 / 5 * 0.25 + 3 / 5 * (1 - 2.05 / 3), abs=1e-15)
    assert out["mce"] == pytest.approx(1 - 2.05 / 3, abs=1e-15)
    assert out["rms_calibration_error"] == pytest.approx(np.sqrt(2 / 5 * 0.25**2 + 3 / 5 * (1 - 2.05 / 3) ** 2))
    assert out["calibration_error"] == out["ece"]
    assert binary_calibration_metrics(p, y, n_bins=2, norm="max")["calibration_error"] == out["mce"]
    assert out["brier"] == pytest.approx((0.25**2 * 2 + 0.45**2 + 0.25**2 * 2) / 5)


@pytest.mark.parametrize(
    "value, expected_bin",
    [(0.0, 0), (1e-12, 0), (0.25, 0), (0.2500001, 1), (0.5, 1), (0.75, 2), (0.76, 3), (1.0, 3)],
)
def test_bins_are_left_open_right_closed_with_zero_in_the_first(value, expected_bin):
    edges = bin_edges(None, n_bins=4)
    assert edges.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert bin_indices(np.array([value]), edges).tolist() == [expected_bin]


def test_predictions_of_exactly_zero_and_one_are_valid():
    out = binary_calibration_metrics([0.0, 1.0, 1.0, 0.0], [0, 1, 0, 1], n_bins=15)
    assert out["bins"]["counts"][0] == 2 and out["bins"]["counts"][-1] == 2
    assert out["ece"] == 0.5 and out["mce"] == 0.5
    assert out["nll"] == pytest.approx(-np.log(np.finfo(float).eps) / 2)
    assert np.isfinite(out["nll"])


def test_empty_bins_are_none_in_the_table_and_skipped_by_mce():
    out = binary_calibration_metrics([0.05, 0.95], [0, 1], n_bins=10)
    bins = out["bins"]
    assert bins["counts"] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert bins["mean_confidence"][1] is None and bins["fraction_positive"][5] is None
    assert out["mce"] == pytest.approx(0.05)
    assert out["ece"] == pytest.approx(0.05)


def test_quantile_binning_is_equal_mass():
    p = np.arange(1, 101) / 101.0
    y = (np.arange(100) % 2).astype(int)
    table = reliability_table(p, y, n_bins=4, binning="quantile")
    assert table.counts.tolist() == [25, 25, 25, 25]
    assert table.edges[0] == 0.0 and table.edges[-1] == 1.0


def test_quantile_rms_by_hand():
    p = [0.1, 0.2, 0.3, 0.9]
    y = [0, 1, 0, 1]
    # edges [0, 0.25, 1]: bin 0 = {0.1, 0.2} (conf 0.15, frac 0.5), bin 1 = {0.3, 0.9} (conf 0.6, frac 0.5)
    assert bin_edges(p, n_bins=2, binning="quantile").tolist() == [0.0, 0.25, 1.0]
    rms = calibration_error(p, y, n_bins=2, binning="quantile", norm="l2")
    assert rms == pytest.approx(np.sqrt(0.5 * 0.35**2 + 0.5 * 0.1**2))


def test_quantile_binning_with_ties_keeps_n_bins():
    table = reliability_table([0.5] * 10, [0, 1] * 5, n_bins=4, binning="quantile")
    assert table.n_bins == 4 and table.counts.sum() == 10
    assert np.all(np.diff(table.edges) >= 0)


def test_multilabel_by_hand():
    out = multilabel_calibration_metrics([[0.9, 0.2], [0.1, 0.4]], [[1, 0], [0, 1]], n_bins=2)
    assert out["ece_per_label"] == pytest.approx([0.1, 0.2])
    assert out["ece_macro"] == pytest.approx(0.15)
    # pooled: bin 0 {0.2, 0.1, 0.4} conf 0.2333 frac 1/3; bin 1 {0.9} conf 0.9 frac 1
    assert out["ece_micro"] == pytest.approx(3 / 4 * (1 / 3 - 0.7 / 3) + 1 / 4 * 0.1)
    assert out["bins_micro"]["counts"] == [3, 1]
    assert len(out["bins_per_label"]) == 2


def test_bin_table_round_trip():
    table = reliability_table([0.1, 0.9, 0.95], [0, 1, 1], n_bins=5)
    back = BinTable.from_dict(table.to_dict())
    np.testing.assert_array_equal(back.counts, table.counts)
    np.testing.assert_array_equal(back.mean_confidence, table.mean_confidence)  # NaN == NaN here
    assert BinTable.from_dict(table) is table


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [1, 5, 10, 15, 23])
@pytest.mark.parametrize("norm", ["l1", "max", "l2"])
def test_matches_torchmetrics_binary_calibration_error(seed, n_bins, norm):
    p, y = random_binary(seed)
    expected = tm.binary_calibration_error(torch.tensor(p), torch.tensor(y), n_bins=n_bins, norm=norm).item()
    assert calibration_error(p, y, n_bins=n_bins, norm=norm) == pytest.approx(expected, abs=1e-12)


def test_matches_torchmetrics_per_label_and_pooled():
    p, y = random_multilabel(3)
    out = multilabel_calibration_metrics(p, y, n_bins=15)
    for j in range(p.shape[1]):
        ref = tm.binary_calibration_error(torch.tensor(p[:, j]), torch.tensor(y[:, j]), n_bins=15, norm="l1")
        assert out["ece_per_label"][j] == pytest.approx(ref.item(), abs=1e-12)
        ref = tm.binary_calibration_error(torch.tensor(p[:, j]), torch.tensor(y[:, j]), n_bins=15, norm="max")
        assert out["mce_per_label"][j] == pytest.approx(ref.item(), abs=1e-12)
    pooled = tm.binary_calibration_error(torch.tensor(p.ravel()), torch.tensor(y.ravel()), n_bins=15, norm="l1")
    assert out["ece_micro"] == pytest.approx(pooled.item(), abs=1e-12)
    assert out["ece_macro"] == pytest.approx(np.mean(out["ece_per_label"]))


@pytest.mark.parametrize("seed", [0, 1])
def test_nll_and_brier_match_scikit_learn(seed):
    p, y = random_binary(seed)
    p[:3] = [0.0, 1.0, 0.5]
    assert negative_log_likelihood(p, y) == pytest.approx(skm.log_loss(y, p, labels=[0, 1]), rel=1e-12)
    assert brier_score(p, y) == pytest.approx(skm.brier_score_loss(y, p), rel=1e-12)


def test_multilabel_nll_brier_micro_macro():
    p, y = random_multilabel(4)
    out = multilabel_calibration_metrics(p, y)
    per = [skm.log_loss(y[:, j], p[:, j], labels=[0, 1]) for j in range(p.shape[1])]
    assert out["nll_per_label"] == pytest.approx(per, rel=1e-12)
    assert out["nll_macro"] == pytest.approx(np.mean(per), rel=1e-12)
    assert out["nll_micro"] == pytest.approx(skm.log_loss(y.ravel(), p.ravel(), labels=[0, 1]), rel=1e-12)
    assert out["brier_micro"] == pytest.approx(skm.brier_score_loss(y.ravel(), p.ravel()), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_binary_classification_matches_scikit_learn(seed):
    p, y = random_binary(seed)
    out = binary_classification_metrics(p, y, threshold=0.4)
    pred = (p >= 0.4).astype(int)
    assert out["f1"] == skm.f1_score(y, pred)
    assert out["precision"] == skm.precision_score(y, pred)
    assert out["recall"] == skm.recall_score(y, pred)
    assert out["accuracy"] == skm.accuracy_score(y, pred)
    assert out["roc_auc"] == skm.roc_auc_score(y, p)
    assert out["auprc"] == skm.average_precision_score(y, p)


def test_threshold_is_inclusive():
    assert binary_classification_metrics([0.5], [1])["recall"] == 1.0
    assert apply_threshold(np.array([0.5, 0.49]), 0.5).tolist() == [1, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.5, [0.3, 0.5, 0.6, 0.2, 0.9]])
def test_multilabel_classification_matches_scikit_learn(seed, threshold):
    p, y = random_multilabel(seed)
    out = multilabel_classification_metrics(p, y, threshold=threshold)
    pred = (p >= np.asarray(threshold)).astype(int)
    for name, fn in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        for avg in ("micro", "macro"):
            assert out[f"{name}_{avg}"] == fn(y, pred, average=avg, zero_division=0)
        assert out[f"{name}_per_label"] == fn(y, pred, average=None, zero_division=0).tolist()
    assert out["subset_accuracy"] == skm.accuracy_score(y, pred)
    assert out["hamming_loss"] == skm.hamming_loss(y, pred)
    for name, fn in (("roc_auc", skm.roc_auc_score), ("auprc", skm.average_precision_score)):
        assert out[f"{name}_micro"] == fn(y, p, average="micro")
        assert out[f"{name}_macro"] == fn(y, p, average="macro")
        assert out[f"{name}_per_label"] == fn(y, p, average=None).tolist()


def test_multilabel_classification_from_labels_matches_scikit_learn():
    p, y = random_multilabel(5)
    pred = (p >= 0.5).astype(int)
    out = multilabel_classification_metrics(pred, y, prediction_type="labels")
    assert out["f1_macro"] == skm.f1_score(y, pred, average="macro", zero_division=0)
    assert out["hamming_loss"] == skm.hamming_loss(y, pred)
    assert out["roc_auc_micro"] is None and out["auprc_per_label"] is None
    same = multilabel_classification_metrics(p, y)
    assert {k: v for k, v in out.items() if "roc" not in k and "auprc" not in k} == {
        k: v for k, v in same.items() if "roc" not in k and "auprc" not in k
    }


def test_label_with_one_class_has_no_auc_and_is_left_out_of_the_macro():
    p, y = random_multilabel(6, k=3)
    y[:, 1] = 0
    out = multilabel_classification_metrics(p, y)
    assert out["roc_auc_per_label"][1] is None and out["auprc_per_label"][1] is None
    kept = [skm.roc_auc_score(y[:, j], p[:, j]) for j in (0, 2)]
    assert out["roc_auc_macro"] == pytest.approx(np.mean(kept))
    assert out["roc_auc_micro"] == skm.roc_auc_score(y, p, average="micro")
    assert binary_classification_metrics([0.2, 0.8], [0, 0])["roc_auc"] is None


def test_multilabel_hand_example():
    out = multilabel_classification_metrics([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]], [[1, 0], [0, 1], [0, 1]])
    # label 0: pred [1, 1, 0] vs [1, 0, 0] -> P 1/2, R 1, F1 2/3; label 1: pred [0, 1, 1] vs [0, 1, 1] -> all 1
    assert out["precision_per_label"] == [0.5, 1.0]
    assert out["f1_per_label"] == pytest.approx([2 / 3, 1.0])
    assert out["precision_micro"] == pytest.approx(3 / 4)  # tp 3, fp 1
    assert out["subset_accuracy"] == pytest.approx(2 / 3)
    assert out["hamming_loss"] == pytest.approx(1 / 6)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "predictions, references, match",
    [
        ([0.1, float("nan"), 0.3], [0, 1, 0], r"`predictions` must be finite; got nan at index 1"),
        ([0.1, 0.2, float("inf")], [0, 1, 0], r"`predictions` must be finite; got inf at index 2"),
        ([0.1, 1.2, -0.1], [0, 1, 0], r"`predictions` must hold probabilities in \[0, 1\]; got 1.2 at index 1"),
        ([0.1, 0.2, 0.3], [0, 2, 1], r"`references` must hold 0 or 1; got 2 at index 1"),
        ([0.1, 0.2, 0.3], [0, 1, 0.5], r"`references` must hold 0 or 1; got 0.5 at index 2"),
        ([0.1, 0.2, 0.3], [0, 1], r"`predictions` has 3 rows but `references` has 2"),
        ([], [], r"`predictions` is empty"),
        ([[0.1, 0.2]], [[0, 1]], r"`predictions` must have shape \[n\]; got shape \(1, 2\)"),
        (None, [1], r"`predictions` is None"),
        (["a"], [1], r"`predictions` must be numbers"),
    ],
)
def test_binary_calibration_errors(predictions, references, match):
    with pytest.raises(ValueError, match=match):
        binary_calibration_metrics(predictions, references)


@pytest.mark.parametrize(
    "predictions, references, match",
    [
        (
            [[0.1, 0.2], [0.3, 0.4]],
            [[0, 1, 1], [1, 0, 0]],
            r"`predictions` has 2 labels per row but `references` has 3",
        ),
        ([[0.1, 0.2], [0.3, 1.4]], [[0, 1], [1, 0]], r"got 1.4 at index \(1, 1\)"),
        ([[0.1, 0.2], [0.3, 0.4]], [[0, 1], [-1, 0]], r"`references` must hold 0 or 1; got -1 at index \(1, 0\)"),
        ([0.1, 0.2], [0, 1], r"`predictions` must have shape \[n, num_labels\]"),
    ],
)
def test_multilabel_errors(predictions, references, match):
    with pytest.raises(ValueError, match=match):
        multilabel_calibration_metrics(predictions, references)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_bins": 0}, r"`n_bins` must be an integer >= 1; got 0"),
        ({"n_bins": 2.5}, r"`n_bins` must be an integer >= 1; got 2.5"),
        ({"n_bins": True}, r"`n_bins` must be an integer >= 1; got True"),
        ({"norm": "l3"}, r"`norm` must be one of \('l1', 'l2', 'max'\); got 'l3'"),
        ({"binning": "equal"}, r"`binning` must be one of \('uniform', 'quantile'\); got 'equal'"),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        binary_calibration_metrics([0.1, 0.9], [0, 1], **kwargs)
    with pytest.raises(ValueError, match=match):
        multilabel_calibration_metrics([[0.1], [0.9]], [[0], [1]], **kwargs)


def test_classification_errors():
    p = [[0.1, 0.9], [0.8, 0.2]]
    y = [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match=r"`threshold` has 3 values but `predictions` has 2 label\(s\)"):
        multilabel_classification_metrics(p, y, threshold=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"`threshold` must hold probabilities in \[0, 1\]; got 1.5 at index 0"):
        multilabel_classification_metrics(p, y, threshold=1.5)
    with pytest.raises(
        ValueError, match=r"`prediction_type` must be one of \('probabilities', 'labels'\); got 'probs'"
    ):
        multilabel_classification_metrics(p, y, prediction_type="probs")
    with pytest.raises(ValueError, match=r"`predictions` must hold 0 or 1; got 0.1 at index \(0, 0\)"):
        multilabel_classification_metrics(p, y, prediction_type="labels")
    with pytest.raises(ValueError, match=r"`predictions` has 2 rows but `references` has 1"):
        binary_classification_metrics([0.2, 0.3], [1])


def test_bin_table_errors():
    with pytest.raises(ValueError, match=r"`bins` must be a BinTable or a dict"):
        BinTable.from_dict([1, 2])
    with pytest.raises(ValueError, match=r"`bins` lacks \['fraction_positive'\]"):
        BinTable.from_dict({"edges": [0, 1], "counts": [1], "mean_confidence": [0.5]})
    with pytest.raises(ValueError, match=r"`bins` needs len\(edges\) == len\(counts\) \+ 1"):
        BinTable.from_dict({"edges": [0, 1], "counts": [1, 2], "mean_confidence": [0.5], "fraction_positive": [1]})
