"""Platt scaling on soft references: recovery of planted (a, b), the soft cross-entropy it minimizes,
the none-score feature, constant references, JSON round trips, and every error message."""

import json
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

import marginal_generate
from marginal_generate.calibration import (
    BatchCalibration,
    Calibrator,
    PlattScaling,
    TemperatureScaling,
    load_calibrator,
    logit,
    sigmoid,
)
from marginal_generate.calibration.alignment import soft_nll


def planted(seed: int, a: float, b: float, n: int = 2000, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``sigmoid(z)`` and the exact soft references ``sigmoid(a z + b)``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n,) if k is None else (n, k))
    return sigmoid(z), sigmoid(a * z + b)


# ----------------------------------------------------------------------------- fitting


def test_transform_by_hand():
    platt = PlattScaling()
    platt.slope_, platt.intercept_, platt.uses_none_scores_, platt.num_labels_ = 2.0, -1.0, False, None
    # logit(0.75) = log 3; 2 log 3 - 1 = log(9 / e); sigmoid = 9 / (9 + e)
    assert platt.transform([0.75, 0.5]).tolist() == pytest.approx([9 / (9 + np.e), 1 / (1 + np.e)], abs=1e-15)


@pytest.mark.parametrize("a, b", [(2.0, -1.0), (0.5, 0.3), (-1.5, 2.0), (1.0, 0.0)])
def test_recovers_planted_parameters_from_soft_references(a, b):
    scores, soft = planted(0, a, b)
    platt = PlattScaling().fit(scores, soft)
    # soft references are exact, so the fit is exact up to the optimizer
    assert platt.slope_ == pytest.approx(a, abs=1e-3) and platt.intercept_ == pytest.approx(b, abs=1e-3)
    np.testing.assert_allclose(platt.transform(scores), soft, atol=1e-3)


def test_recovers_planted_parameters_per_label():
    a, b = np.array([2.0, 0.5, -1.0]), np.array([-1.0, 0.0, 1.5])
    scores, soft = planted(1, a, b, k=3)
    platt = PlattScaling().fit(scores, soft)
    assert platt.num_labels_ == 3
    np.testing.assert_allclose(platt.slope_, a, atol=1e-3)
    np.testing.assert_allclose(platt.intercept_, b, atol=1e-3)
    for j in range(3):
        alone = PlattScaling().fit(scores[:, j], soft[:, j])
        assert alone.slope_ == pytest.approx(platt.slope_[j], abs=1e-9)
        np.testing.assert_allclose(platt.transform(scores)[:, j], alone.transform(scores[:, j]), atol=1e-9)


def test_minimizes_the_soft_cross_entropy():
    # the two weighted copies per sample are exactly the soft-target cross-entropy: compare with a direct fit
    rng = np.random.default_rng(2)
    scores, soft = rng.random(300), rng.integers(0, 4, 300) / 3
    z = logit(scores)
    direct = minimize(
        lambda ab: soft_nll(sigmoid(ab[0] * z + ab[1]), soft)[0],
        x0=[1.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 10_000},
    ).x
    platt = PlattScaling().fit(scores, soft)
    assert [platt.slope_, platt.intercept_] == pytest.approx(direct.tolist(), abs=1e-5)


def test_hard_references_equal_plain_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    scores = rng.random(500)
    y = (rng.random(500) < scores**2).astype(int)
    platt = PlattScaling().fit(scores, y)
    reference = LogisticRegression(C=1e6, tol=1e-10, max_iter=10_000).fit(logit(scores)[:, None], y)
    assert platt.slope_ == pytest.approx(reference.coef_[0, 0], abs=1e-6)
    assert platt.intercept_ == pytest.approx(reference.intercept_[0], abs=1e-6)


def test_none_scores_equal_fitting_on_the_difference():
    rng = np.random.default_rng(4)
    scores, none = rng.uniform(0.01, 0.99, (400, 2)), rng.uniform(0.01, 0.99, 400)
    diff = logit(scores) - logit(none)[:, None]
    soft = sigmoid(np.array([1.5, -0.5]) * diff + np.array([0.2, 1.0]))
    with_none = PlattScaling().fit(scores, soft, none_scores=none)
    on_diff = PlattScaling().fit(sigmoid(diff), soft)
    assert with_none.uses_none_scores_ is True and on_diff.uses_none_scores_ is False
    np.testing.assert_allclose(with_none.slope_, on_diff.slope_, atol=1e-6)
    np.testing.assert_allclose(with_none.intercept_, on_diff.intercept_, atol=1e-6)
    np.testing.assert_allclose(with_none.slope_, [1.5, -0.5], atol=1e-3)
    np.testing.assert_allclose(
        with_none.transform(scores, none_scores=none), on_diff.transform(sigmoid(diff)), atol=1e-6
    )
    np.testing.assert_array_equal(with_none.fit_transform(scores, soft, none), with_none.transform(scores, none))


def test_guard_model_none_is_p_safe():
    # binary: none = p(safe) = 1 - p(unsafe), so z = 2 logit(p(unsafe))
    scores, soft = planted(5, 0.5, 0.0)
    platt = PlattScaling().fit(scores, soft, none_scores=1 - scores)
    assert platt.slope_ == pytest.approx(0.25, abs=1e-3) and platt.intercept_ == pytest.approx(0.0, abs=1e-3)


def test_constant_references_do_not_crash():
    scores, soft = planted(6, 2.0, 0.0, n=200, k=3)
    soft[:, 1] = 0.0  # a category nobody chose
    soft[:, 2] = 1.0  # and one everybody chose
    with pytest.warns(UserWarning) as record:
        platt = PlattScaling().fit(scores, soft)
    assert [str(w.message) for w in record] == [
        f"`references` are all {value} for label {label}, so Platt scaling has no finite fit; using a = 1, b = 0 "
        "(p = sigmoid(z)). Add examples of the other class or drop the label."
        for value, label in ((0, 1), (1, 2))
    ]
    assert all(w.filename == __file__ for w in record)  # the warning points at the caller
    assert platt.slope_[1:] == [1.0, 1.0] and platt.intercept_[1:] == [0.0, 0.0]
    assert platt.slope_[0] == pytest.approx(2.0, abs=1e-3)
    np.testing.assert_allclose(platt.transform(scores)[:, 1:], scores[:, 1:], atol=1e-12)  # p = sigmoid(logit(p))
    with pytest.warns(UserWarning, match=r"`references` are all 1, so Platt scaling has no finite fit"):
        PlattScaling().fit(scores[:, 0], np.ones(200))


def test_constant_soft_references_are_fitted():
    scores, _ = planted(7, 1.0, 0.0, n=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        platt = PlattScaling().fit(scores, np.full(300, 0.3))
    assert platt.slope_ == pytest.approx(0.0, abs=1e-4) and platt.intercept_ == pytest.approx(
        logit(np.array(0.3)), abs=1e-4
    )


def test_transform_keeps_torch_type_and_leaves_input_untouched():
    torch = pytest.importorskip("torch")
    scores, soft = planted(8, 2.0, -1.0, n=100)
    platt = PlattScaling().fit(scores, soft)
    tensor = torch.tensor(scores[:5], dtype=torch.float32)
    copy = tensor.clone()
    out = platt.transform(tensor)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and torch.equal(tensor, copy)
    np.testing.assert_allclose(out.numpy(), platt.transform(tensor.double().numpy()), rtol=1e-6)


# ----------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("with_none", [False, True])
def test_json_round_trip(tmp_path, k, with_none):
    scores, soft = planted(9, 1.5, -0.5, n=200, k=k)
    none = 1 - (scores if k is None else scores.max(axis=1)) if with_none else None
    platt = PlattScaling(C=1e4).fit(scores, soft, none_scores=none)
    path = tmp_path / "platt.json"
    platt.save(path)
    data = json.loads(path.read_text())
    assert data["calibrator"] == "PlattScaling" and data["num_labels"] == k and data["config"] == {"C": 1e4}
    assert data["params"]["uses_none_scores_"] is with_none
    for loaded in (load_calibrator(path), PlattScaling.load(path), Calibrator.from_dict(data)):
        assert type(loaded) is PlattScaling and repr(loaded) == "PlattScaling(C=10000.0)"
        assert loaded.slope_ == platt.slope_ and loaded.intercept_ == platt.intercept_
        np.testing.assert_array_equal(
            loaded.transform(scores, none_scores=none), platt.transform(scores, none_scores=none)
        )


def test_exported_and_registered():
    assert marginal_generate.PlattScaling is PlattScaling
    assert "PlattScaling" in marginal_generate.__all__ and "distribution_alignment" in marginal_generate.__all__
    data = PlattScaling().fit([0.2, 0.8], [0.25, 0.75]).to_dict()
    with pytest.raises(
        ValueError, match=r"`data` describes a 'PlattScaling' calibrator, which is not a BatchCalibration"
    ):
        BatchCalibration.from_dict(data)


# ----------------------------------------------------------------------------- errors


def test_other_calibrators_still_demand_hard_references():
    with pytest.raises(ValueError, match=r"`references` must hold 0 or 1; got 0.5 at index 1"):
        TemperatureScaling().fit([0.2, 0.8], [0.0, 0.5])


def test_not_fitted():
    with pytest.raises(
        ValueError, match=r"This PlattScaling is not fitted yet; call `fit` \(or `load`\) before `transform`"
    ):
        PlattScaling().transform([0.5])
    with pytest.raises(ValueError, match=r"This PlattScaling is not fitted yet"):
        PlattScaling().to_dict()


@pytest.mark.parametrize(
    "scores, references, none_scores, match",
    [
        (
            [0.2, 0.8],
            [0.0, 1.5],
            None,
            r"`references` must hold values in \[0, 1\] \(the fraction of annotators "
            r"who chose the label, or 0/1\); got 1.5 at index 1",
        ),
        ([0.2, 0.8], [0.0, float("nan")], None, r"`references` must be finite; got nan at index 1"),
        ([0.2, float("nan")], [0.0, 1.0], None, r"`scores` must be finite; got nan at index 1"),
        ([0.2, 1.8], [0.0, 1.0], None, r"`scores` must hold probabilities in \[0, 1\]; got 1.8 at index 1"),
        ([0.2, 0.8, 0.5], [0.0, 1.0], None, r"`scores` has 3 rows but `references` has 2"),
        ([[0.2, 0.8]], [[0.0, 1.0, 0.5]], None, r"`scores` has 2 labels per row but `references` has 3"),
        ([], [], None, r"`scores` is empty"),
        (
            [0.2, 0.8],
            [0.0, 1.0],
            [0.5],
            r"`none_scores` has 1 values but `scores` has 2 rows; pass one 'none' probability "
            r"per sample \(for a guard model p\(safe\) = 1 - p\(unsafe\)\)",
        ),
        ([0.2, 0.8], [0.0, 1.0], [[0.5], [0.5]], r"`none_scores` must have shape \[n\]; got shape \(2, 1\)"),
        ([0.2, 0.8], [0.0, 1.0], [0.5, 1.5], r"`none_scores` must hold probabilities in \[0, 1\]; got 1.5 at index 1"),
    ],
)
def test_fit_errors(scores, references, none_scores, match):
    with pytest.raises(ValueError, match=match):
        PlattScaling().fit(scores, references, none_scores=none_scores)


def test_transform_errors():
    plain = PlattScaling().fit([0.2, 0.8, 0.4], [0.0, 1.0, 0.5])
    with_none = PlattScaling().fit([0.2, 0.8, 0.4], [0.0, 1.0, 0.5], none_scores=[0.7, 0.1, 0.5])
    with pytest.raises(
        ValueError, match=r"This PlattScaling was fitted without `none_scores`; call `transform\(scores\)` without them"
    ):
        plain.transform([0.5], none_scores=[0.5])
    with pytest.raises(
        ValueError, match=r"This PlattScaling was fitted on logit\(score\) - logit\(none\); pass `none_scores`"
    ):
        with_none.transform([0.5])
    with pytest.raises(ValueError, match=r"`none_scores` has 2 values but `scores` has 1 rows"):
        with_none.transform([0.5], none_scores=[0.5, 0.5])
    with pytest.raises(
        ValueError, match=r"`scores` has shape \(1, 2\) but this PlattScaling was fitted on binary scores"
    ):
        plain.transform([[0.1, 0.2]])
    multi = PlattScaling().fit([[0.2, 0.3], [0.8, 0.6]], [[0.0, 0.5], [1.0, 0.5]])
    with pytest.raises(ValueError, match=r"`scores` has shape \(1, 3\) but this PlattScaling was fitted on 2 labels"):
        multi.transform([[0.1, 0.2, 0.3]])


@pytest.mark.parametrize("C", [0, -1.0, float("inf"), float("nan"), "big", True])
def test_constructor_errors(C):
    with pytest.raises(
        ValueError, match=r"`C` must be a positive finite number \(the inverse L2 penalty; large is negligible\)"
    ):
        PlattScaling(C=C)
