"""The three calibrators: recovery of planted miscalibration, hand-computed values, JSON round
trips, the calibration report, and every error message."""

import json

import numpy as np
import pytest

from marginal_generate.calibration import (
    CONTENT_FREE_INPUTS,
    BatchCalibration,
    Calibrator,
    ContextualCalibration,
    TemperatureScaling,
    load_calibrator,
    logit,
    sigmoid,
)
from marginal_generate.calibration.metrics import binary_classification_metrics, calibration_error
from marginal_generate.calibration.report import COLUMNS, calibration_table


def true_logits(seed: int, n: int, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a calibrated model and references drawn from it."""
    rng = np.random.default_rng(seed)
    shape = (n,) if k is None else (n, k)
    z = rng.normal(0.0, 2.0, shape)
    y = (rng.random(shape) < sigmoid(z)).astype(np.int64)
    return z, y


# ----------------------------------------------------------------------------- temperature


def test_temperature_scaling_by_hand():
    ts = TemperatureScaling()
    ts.temperature_, ts.num_labels_ = 2.0, None
    # logit(0.9) = log 9; / 2 = log 3; sigmoid(log 3) = 3 / 4
    assert ts.transform([0.9, 0.5, 0.1]).tolist() == pytest.approx([0.75, 0.5, 0.25], abs=1e-15)


@pytest.mark.parametrize("true_t", [0.5, 3.0, 6.1])
def test_temperature_scaling_recovers_a_known_temperature(true_t):
    z, y = true_logits(0, 20000)
    scores = sigmoid(z / true_t)  # the model's logits are the calibrated ones divided by true_t
    ts = TemperatureScaling().fit(scores, y)
    assert ts.temperature_ == pytest.approx(1 / true_t, rel=0.05)
    assert calibration_error(ts.transform(scores), y) < 0.02 < calibration_error(scores, y)


def test_temperature_scaling_per_label_is_independent():
    z, y = true_logits(1, 10000, k=2)
    scores = sigmoid(z * np.array([3.0, 0.5]))  # over-confident label 0, under-confident label 1
    ts = TemperatureScaling().fit(scores, y)
    assert ts.num_labels_ == 2
    assert ts.temperature_ == pytest.approx([3.0, 0.5], rel=0.05)
    for j in range(2):
        alone = TemperatureScaling().fit(scores[:, j], y[:, j])
        assert alone.temperature_ == pytest.approx(ts.temperature_[j], rel=1e-9)
        np.testing.assert_allclose(ts.transform(scores)[:, j], alone.transform(scores[:, j]))


def test_temperature_scaling_keeps_decisions_and_bounds():
    z, y = true_logits(2, 2000)
    scores = sigmoid(z * 100)  # wildly over-confident, including exact 0 and 1
    ts = TemperatureScaling(bounds=(0.1, 20.0)).fit(scores, y)
    assert 0.1 <= ts.temperature_ <= 20.0
    assert ts.temperature_ > 19.0  # clamped near the upper bound
    np.testing.assert_array_equal(ts.transform(scores) >= 0.5, scores >= 0.5)


# ----------------------------------------------------------------------------- contextual


def test_content_free_inputs_constant():
    assert CONTENT_FREE_INPUTS == ("N/A", "", " ")
    assert ContextualCalibration().content_free_inputs == CONTENT_FREE_INPUTS


def test_contextual_calibration_by_hand():
    cc = ContextualCalibration().fit_content_free([0.8, 0.7, 0.9])
    assert cc.bias_ == pytest.approx(0.8)
    # W = diag(1/0.2, 1/0.8): p=0.5 -> (0.5/0.8) / (0.5/0.8 + 0.5/0.2) = 0.2
    assert cc.transform([0.8, 0.5]).tolist() == pytest.approx([0.5, 0.2])


def test_contextual_calibration_removes_a_planted_bias():
    z, y = true_logits(3, 5000)
    bias = 2.0  # the prompt pushes every logit toward "unsafe"
    scores = sigmoid(z + bias)
    content_free = np.full(3, sigmoid(np.array([bias]))[0])  # what the model says about "N/A", "", " "
    cc = ContextualCalibration().fit(content_free)
    np.testing.assert_allclose(cc.transform(scores), sigmoid(z), atol=1e-12)
    before = binary_classification_metrics(scores, y)["accuracy"]
    after = binary_classification_metrics(cc.transform(scores), y)["accuracy"]
    assert after > before + 0.05


def test_contextual_calibration_per_label():
    cc = ContextualCalibration(content_free_inputs=["N/A"]).fit_content_free([[0.9, 0.1], [0.7, 0.3]])
    assert cc.bias_ == pytest.approx([0.8, 0.2]) and cc.num_labels_ == 2
    np.testing.assert_allclose(cc.transform(np.array([[0.8, 0.2]])), [[0.5, 0.5]])


# ----------------------------------------------------------------------------- batch


def test_batch_calibration_by_hand():
    bc = BatchCalibration(prior="validation")
    bc.gamma_, bc.prior_, bc.num_labels_ = 1.0, 0.8, None
    assert bc.transform([0.8, 0.5]).tolist() == pytest.approx([0.5, 0.2])
    bc.gamma_ = 0.0
    assert bc.transform([0.8, 0.5]).tolist() == pytest.approx([0.8, 0.5])
    batch = BatchCalibration(prior="batch")
    batch.gamma_, batch.prior_, batch.num_labels_ = 1.0, 0.8, None
    # batch mean is 0.5 -> no shift, whatever the stored prior
    assert batch.transform([0.9, 0.1]).tolist() == pytest.approx([0.9, 0.1])


@pytest.mark.parametrize("metric", ["accuracy", "f1"])
@pytest.mark.parametrize("prior", ["batch", "validation"])
def test_batch_calibration_removes_a_planted_bias(metric, prior):
    z, y = true_logits(4, 6000)
    scores = sigmoid(z - 2.5)  # the model under-reports "unsafe"
    val, test = slice(0, 3000), slice(3000, None)
    bc = BatchCalibration(metric=metric, prior=prior).fit(scores[val], y[val])
    assert bc.gamma_ > 0
    assert bc.prior_ == pytest.approx(scores[val].mean())
    calibrated = bc.transform(scores[test])
    raw = binary_classification_metrics(scores[test], y[test])
    fixed = binary_classification_metrics(calibrated, y[test])
    oracle = binary_classification_metrics(sigmoid(z[test]), y[test])
    assert fixed[metric] > raw[metric] + 0.05
    assert fixed[metric] == pytest.approx(oracle[metric], abs=0.02)
    if metric == "accuracy":  # the bias is gone: the mean calibrated score is near the base rate
        assert abs(calibrated.mean() - y[test].mean()) < 0.05


def test_batch_calibration_per_label_and_grid():
    z, y = true_logits(5, 4000, k=2)
    scores = sigmoid(z + np.array([-2.0, 2.0]))
    bc = BatchCalibration(gammas=[-1.0, 0.0, 1.0, 2.0]).fit(scores, y)
    assert bc.num_labels_ == 2 and all(g in (-1.0, 0.0, 1.0, 2.0) for g in bc.gamma_)
    for j in range(2):
        alone = BatchCalibration(gammas=[-1.0, 0.0, 1.0, 2.0]).fit(scores[:, j], y[:, j])
        assert alone.gamma_ == bc.gamma_[j]
        np.testing.assert_allclose(bc.transform(scores)[:, j], alone.transform(scores[:, j]))


def test_default_gamma_grid():
    grid = BatchCalibration().gammas
    assert len(grid) == 201 and grid[0] == -10.0 and grid[-1] == 10.0 and 7.0 in grid and -1.1 in grid


# ----------------------------------------------------------------------------- shared behaviour


def fitted_calibrators(k: int | None = None) -> list[Calibrator]:
    z, y = true_logits(6, 500, k)
    scores = sigmoid(z + 1.0)
    cf = np.full((3,) if k is None else (3, k), 0.7)
    return [
        TemperatureScaling().fit(scores, y),
        ContextualCalibration().fit_content_free(cf),
        BatchCalibration(metric="f1", prior="validation").fit(scores, y),
    ]


@pytest.mark.parametrize("k", [None, 3])
def test_json_round_trip(tmp_path, k):
    z, _ = true_logits(7, 50, k)
    scores = sigmoid(z)
    for cal in fitted_calibrators(k):
        path = tmp_path / f"{type(cal).__name__}.json"
        cal.save(path)
        data = json.loads(path.read_text())
        assert data["calibrator"] == type(cal).__name__ and data["num_labels"] == k
        for loaded in (load_calibrator(path), type(cal).load(path), Calibrator.from_dict(data)):
            assert type(loaded) is type(cal)
            assert repr(loaded) == repr(cal)
            np.testing.assert_array_equal(loaded.transform(scores), cal.transform(scores))


def test_transform_keeps_torch_type_and_leaves_input_untouched():
    torch = pytest.importorskip("torch")
    for cal in fitted_calibrators():
        scores = torch.tensor([0.2, 0.9, 1.0], dtype=torch.float64)
        copy = scores.clone()
        out = cal.transform(scores)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
        assert torch.equal(scores, copy)
        np.testing.assert_allclose(out.numpy(), cal.transform(scores.numpy()))
    arr = np.array([0.2, 0.9])
    out = fitted_calibrators()[0].transform(arr)
    assert out is not arr and arr.tolist() == [0.2, 0.9]


def test_fit_transform():
    z, y = true_logits(8, 300)
    scores = sigmoid(3 * z)
    ts = TemperatureScaling()
    np.testing.assert_array_equal(ts.fit_transform(scores, y), ts.transform(scores))


def test_logit_sigmoid_round_trip():
    p = np.array([0.0, 1e-300, 0.3, 0.5, 1.0])
    back = sigmoid(logit(p))
    assert np.all(np.isfinite(logit(p)))
    np.testing.assert_allclose(back[2:4], p[2:4])


# ----------------------------------------------------------------------------- errors

SUPERVISED = [TemperatureScaling, BatchCalibration]


@pytest.mark.parametrize("klass", SUPERVISED)
@pytest.mark.parametrize(
    "scores, references, match",
    [
        ([0.2, float("nan"), 0.4], [0, 1, 1], r"`scores` must be finite; got nan at index 1"),
        ([0.2, 0.3, float("-inf")], [0, 1, 1], r"`scores` must be finite; got -inf at index 2"),
        ([0.2, 1.5, 0.4], [0, 1, 1], r"`scores` must hold probabilities in \[0, 1\]; got 1.5 at index 1"),
        ([0.2, 0.3, 0.4], [0, 1, 3], r"`references` must hold 0 or 1; got 3 at index 2"),
        ([0.2, 0.3, 0.4], [0, 1], r"`scores` has 3 rows but `references` has 2"),
        ([[0.2, 0.3]], [[0, 1, 1]], r"`scores` has 2 labels per row but `references` has 3"),
        ([[0.2], [0.3]], [0, 1], r"`scores` has shape \(2, 1\) but `references` has shape \(2,\)"),
        ([], [], r"`scores` is empty"),
        ([0.2, 0.3, 0.4], [1, 1, 1], r"`references` has only one class \(1\); a validation set needs both 0 and 1"),
        ([[0.2, 0.3], [0.4, 0.5]], [[0, 1], [1, 1]], r"`references` has only one class \(1\) for label 1"),
    ],
)
def test_fit_errors(klass, scores, references, match):
    with pytest.raises(ValueError, match=match):
        klass().fit(scores, references)


@pytest.mark.parametrize("cal", fitted_calibrators(), ids=lambda c: type(c).__name__)
def test_transform_errors(cal):
    name = type(cal).__name__
    with pytest.raises(ValueError, match=rf"`scores` has shape \(1, 2\) but this {name} was fitted on binary scores"):
        cal.transform([[0.1, 0.2]])
    with pytest.raises(ValueError, match=r"`scores` must hold probabilities in \[0, 1\]; got -0.1 at index 0"):
        cal.transform([-0.1])
    with pytest.raises(ValueError, match=r"`scores` must be finite; got nan at index 1"):
        cal.transform([0.1, np.nan])
    with pytest.raises(ValueError, match=r"`scores` is empty"):
        cal.transform([])


@pytest.mark.parametrize("cal", fitted_calibrators(k=3), ids=lambda c: type(c).__name__)
def test_transform_label_count_errors(cal):
    with pytest.raises(ValueError, match=r"`scores` has shape \(1, 2\) but this .* was fitted on 3 labels"):
        cal.transform([[0.1, 0.2]])
    with pytest.raises(ValueError, match=r"`scores` has shape \(2,\) but this .* was fitted on 3 labels"):
        cal.transform([0.1, 0.2])


@pytest.mark.parametrize("klass", [TemperatureScaling, ContextualCalibration, BatchCalibration])
def test_not_fitted(klass):
    with pytest.raises(ValueError, match=rf"This {klass.__name__} is not fitted yet; call `fit`"):
        klass().transform([0.5])
    with pytest.raises(ValueError, match=rf"This {klass.__name__} is not fitted yet"):
        klass().to_dict()


def test_contextual_errors():
    cc = ContextualCalibration()
    with pytest.raises(
        ValueError,
        match=r"`references` must be None: ContextualCalibration is fitted from the model's "
        r"scores on content-free inputs \('N/A', '', ' '\)",
    ):
        cc.fit([0.5, 0.6], [0, 1])
    with pytest.raises(
        ValueError, match=r"call `fit_content_free\(content_free_scores\)` and then `transform\(scores\)`"
    ):
        cc.fit_transform([0.5, 0.6])
    with pytest.raises(
        ValueError, match=r"`content_free_scores` must hold probabilities in \[0, 1\]; got 2.0 at index 1"
    ):
        cc.fit_content_free([0.5, 2.0])
    with pytest.raises(ValueError, match=r"`content_free_scores` is empty"):
        cc.fit_content_free([])
    with pytest.raises(ValueError, match=r"`content_free_inputs` must be a sequence of strings"):
        ContextualCalibration(content_free_inputs="N/A")
    with pytest.raises(ValueError, match=r"`content_free_inputs` is empty"):
        ContextualCalibration(content_free_inputs=[])


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"`bounds` must be \(low, high\) with 0 < low < high; got \(20.0, 0.1\)"):
        TemperatureScaling(bounds=(20.0, 0.1))
    with pytest.raises(ValueError, match=r"`bounds` must be \(low, high\)"):
        TemperatureScaling(bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"`metric` must be one of \('accuracy', 'f1'\); got 'auc'"):
        BatchCalibration(metric="auc")
    with pytest.raises(ValueError, match=r"`prior` must be one of \('batch', 'validation'\); got 'test'"):
        BatchCalibration(prior="test")
    with pytest.raises(ValueError, match=r"`gammas` must be a non-empty sequence of finite numbers"):
        BatchCalibration(gammas=[])
    with pytest.raises(ValueError, match=r"`gammas` must be a non-empty sequence of finite numbers"):
        BatchCalibration(gammas=[0.0, float("nan")])


def test_load_errors(tmp_path):
    data = fitted_calibrators()[0].to_dict()
    with pytest.raises(
        ValueError, match=r"`data` describes a 'TemperatureScaling' calibrator, which is not a BatchCalibration"
    ):
        BatchCalibration.from_dict(data)
    with pytest.raises(ValueError, match=r"`data` describes a 'Platt' calibrator"):
        Calibrator.from_dict({**data, "calibrator": "Platt"})
    with pytest.raises(ValueError, match=r"`data` must be a dict from `Calibrator.to_dict`"):
        Calibrator.from_dict([1])
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match=r"`path` '.*bad.json' is not a calibrator JSON file"):
        load_calibrator(bad)


# ----------------------------------------------------------------------------- seed 2's table


def biased_model(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    z, y = true_logits(seed, n)
    return sigmoid(4.0 * z - 3.0), y  # over-confident and biased toward "safe"


def test_calibration_table():
    val_p, val_y = biased_model(10, 3000)
    test_p, test_y = biased_model(11, 3000)
    table = calibration_table(val_p, val_y, test_p, test_y, content_free_scores=sigmoid(np.array([-3.0, -3.0, -3.0])))
    assert list(table.index) == ["raw", "+CC", "+BC", "+TS"] and tuple(table.columns) == COLUMNS
    raw, ts, bc, cc = (table.loc[r] for r in ("raw", "+TS", "+BC", "+CC"))
    # temperature scaling never changes the decisions nor the ranking
    for col in ("F1", "Precision", "Recall", "Accuracy", "AUPRC"):
        assert ts[col] == raw[col]
    assert bc["AUPRC"] == pytest.approx(raw["AUPRC"]) and cc["AUPRC"] == pytest.approx(raw["AUPRC"])
    assert ts["NLL"] < raw["NLL"] and ts["ECE"] < raw["ECE"]
    assert bc["F1"] > raw["F1"] and cc["F1"] > raw["F1"]
    assert table.attrs["params"]["+TS"]["temperature"] > 2.0  # softens the over-confident model
    assert table.attrs["params"]["+CC"]["bias"] == pytest.approx(sigmoid(np.array([-3.0]))[0])
    # the row values are exactly those of the metric functions
    expected = binary_classification_metrics(test_p, test_y)
    assert raw["F1"] == expected["f1"] and raw["ECE"] == calibration_error(test_p, test_y)


def test_calibration_table_options():
    val_p, val_y = biased_model(12, 500)
    test_p, test_y = biased_model(13, 500)
    rows = calibration_table(val_p, val_y, test_p, test_y, as_frame=False, percent=True)
    assert [r["row"] for r in rows] == ["raw", "+BC", "+TS"]
    assert rows[0]["F1"] == pytest.approx(100 * binary_classification_metrics(test_p, test_y)["f1"])
    assert rows[0]["ECE"] <= 1.0
    assert set(rows[2]["params"]) == {"temperature"}


def test_calibration_table_errors():
    p, y = biased_model(14, 100)
    with pytest.raises(ValueError, match=r"`validation_scores` must be finite; got nan at index 0"):
        calibration_table(np.r_[np.nan, p[1:]], y, p, y)
    with pytest.raises(ValueError, match=r"`test_references` must hold 0 or 1; got 2 at index 0"):
        calibration_table(p, y, p, np.r_[2, y[1:]])
    with pytest.raises(ValueError, match=r"`test_scores` has 100 rows but `test_references` has 99"):
        calibration_table(p, y, p, y[1:])
    with pytest.raises(
        ValueError, match=r"`content_free_scores` must hold probabilities in \[0, 1\]; got 1.5 at index 0"
    ):
        calibration_table(p, y, p, y, content_free_scores=[1.5])
    with pytest.raises(ValueError, match=r"`references` has only one class \(0\)"):
        calibration_table(p, np.zeros_like(y), p, y)
    with pytest.raises(ValueError, match=r"`validation_scores` must have shape \[n\]"):
        calibration_table(np.c_[p, p], np.c_[y, y], p, y)
