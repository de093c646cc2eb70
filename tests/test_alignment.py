"""Distribution alignment against soft references: hand-computed values, the Jensen–Shannon
divergence against scipy, identities of the soft NLL, the output layout, and every error message."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from marginal_generate import distribution_alignment as exported
from marginal_generate.calibration.alignment import (
    MEASURES,
    brier_score,
    distribution_alignment,
    jensen_shannon,
    l1_distance,
    soft_nll,
)
from marginal_generate.calibration.metrics import brier_score as hard_brier_score
from marginal_generate.calibration.metrics import negative_log_likelihood


def random_pair(seed: int, n: int = 300, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Random probabilities and soft references from 3 annotators (0, 1/3, 2/3, 1)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, k)), rng.integers(0, 4, (n, k)) / 3


def bernoulli_js_bits(p: float, r: float) -> float:
    """JS(Bern(p) || Bern(r)) in bits, written out term by term (0 log 0 = 0)."""

    def kl(a: float, b: float) -> float:
        return sum(x * math.log2(x / y) for x, y in ((a, b), (1 - a, 1 - b)) if x > 0)

    m = (p + r) / 2
    return (kl(p, m) + kl(r, m)) / 2


# ----------------------------------------------------------------------------- hand-computed values


def test_hand_computed_values():
    # p = [0.8, 0.2], r = [1.0, 0.5]
    out = distribution_alignment([0.8, 0.2], [1.0, 0.5])
    # L1 = (|0.8 - 1| + |0.2 - 0.5|) / 2 = (0.2 + 0.3) / 2 = 0.25
    assert out["l1"] == pytest.approx(0.25, abs=1e-15)
    # Brier = (0.2^2 + 0.3^2) / 2 = (0.04 + 0.09) / 2 = 0.065
    assert out["brier"] == pytest.approx(0.065, abs=1e-15)
    # NLL = (-(1 log 0.8 + 0 log 0.2) - (0.5 log 0.2 + 0.5 log 0.8)) / 2 = -(1.5 log 0.8 + 0.5 log 0.2) / 2
    #     = (0.334715 + 0.804719) / 2 = 0.569717
    assert out["nll"] == pytest.approx(-(1.5 * math.log(0.8) + 0.5 * math.log(0.2)) / 2, abs=1e-15)
    assert out["nll"] == pytest.approx(0.569717, abs=1e-6)
    # JSD, row 1: M = Bern(0.9); KL(Bern(0.8) || M) = 0.8 log2(0.8 / 0.9) + 0.2 log2(0.2 / 0.1) = 0.064060,
    #   KL(Bern(1) || M) = log2(1 / 0.9) = 0.152003 -> JS = (0.064060 + 0.152003) / 2 = 0.108032.
    # Row 2: M = Bern(0.35); KL(Bern(0.2) || M) = 0.2 log2(0.2 / 0.35) + 0.8 log2(0.8 / 0.65) = 0.078177,
    #   KL(Bern(0.5) || M) = 0.5 log2(0.5 / 0.35) + 0.5 log2(0.5 / 0.65) = 0.068031 -> JS = 0.073104.
    row1 = (0.8 * math.log2(0.8 / 0.9) + 0.2 * math.log2(0.2 / 0.1) + math.log2(1 / 0.9)) / 2
    row2 = (
        0.2 * math.log2(0.2 / 0.35)
        + 0.8 * math.log2(0.8 / 0.65)
        + 0.5 * math.log2(0.5 / 0.35)
        + 0.5 * math.log2(0.5 / 0.65)
    ) / 2
    assert row1 == pytest.approx(0.108032, abs=1e-6) and row2 == pytest.approx(0.073104, abs=1e-6)
    assert out["jsd"] == pytest.approx((row1 + row2) / 2, abs=1e-15)
    assert out["n_samples"] == 2 and list(out["per_label"]) == ["0"]
    assert out["per_label"]["0"] == {name: out[name] for name in MEASURES}


def test_macro_mean_over_labels_and_names():
    # label S1: p = [0.8, 0.2] vs r = [1, 0.5] (above); label S2: p = [0, 0.5] vs r = [1, 0.5]
    # S2: L1 = (1 + 0) / 2 = 0.5, Brier = (1 + 0) / 2 = 0.5, JSD = (1 bit + 0) / 2 = 0.5,
    #     NLL = (-log(1e-12) + log 2) / 2 = (27.631021 + 0.693147) / 2
    out = distribution_alignment([[0.8, 0.0], [0.2, 0.5]], [[1.0, 1.0], [0.5, 0.5]], labels=["S1", "S2"])
    s2 = out["per_label"]["S2"]
    assert s2["l1"] == 0.5 and s2["brier"] == 0.5 and s2["jsd"] == 0.5
    assert s2["nll"] == pytest.approx((-math.log(1e-12) + math.log(2)) / 2, abs=1e-12)
    assert list(out["per_label"]) == ["S1", "S2"]
    for name in MEASURES:
        assert out[name] == pytest.approx((out["per_label"]["S1"][name] + s2[name]) / 2, abs=1e-15)
    assert out["l1"] == pytest.approx(0.375)


def test_output_types_and_defaults():
    p, r = random_pair(0, n=20, k=3)
    out = distribution_alignment(p, r)
    assert sorted(out) == ["brier", "jsd", "l1", "n_samples", "nll", "per_label"]
    assert list(out["per_label"]) == ["0", "1", "2"] and out["n_samples"] == 20
    assert all(type(out[name]) is float for name in MEASURES) and type(out["n_samples"]) is int
    assert all(type(v) is float for row in out["per_label"].values() for v in row.values())
    assert exported is distribution_alignment


def test_per_label_functions_match_the_report():
    p, r = random_pair(1, k=4)
    out = distribution_alignment(p, r)
    for name, fn in (("l1", l1_distance), ("nll", soft_nll), ("brier", brier_score), ("jsd", jensen_shannon)):
        values = fn(p, r)
        assert values.shape == (4,)
        assert values.tolist() == [out["per_label"][str(j)][name] for j in range(4)]


def test_each_label_is_computed_alone():
    p, r = random_pair(2, k=3)
    out = distribution_alignment(p, r)
    for j in range(3):
        alone = distribution_alignment(p[:, j], r[:, j])["per_label"]["0"]
        assert alone == pytest.approx(out["per_label"][str(j)], abs=1e-15)  # summation order may differ


def test_hard_references_match_the_calibration_metrics():
    rng = np.random.default_rng(3)
    p, y = rng.random(500), (rng.random(500) < 0.4).astype(float)
    out = distribution_alignment(p, y)
    assert out["brier"] == pytest.approx(hard_brier_score(p, y), abs=1e-15)
    assert out["nll"] == pytest.approx(negative_log_likelihood(p, y), abs=1e-12)


def test_torch_input_and_inputs_untouched():
    torch = pytest.importorskip("torch")
    p, r = random_pair(4, n=10, k=2)
    copy = p.copy()
    assert distribution_alignment(torch.tensor(p), torch.tensor(r)) == distribution_alignment(p, r)
    np.testing.assert_array_equal(p, copy)


# ----------------------------------------------------------------------------- Jensen–Shannon


def test_jsd_of_certain_opposites_is_one_bit():
    assert jensen_shannon([0.0], [1.0]).tolist() == [1.0]
    assert jensen_shannon([1.0], [0.0]).tolist() == [1.0]


def test_jsd_is_zero_at_equality_and_never_negative_or_nan():
    p, _ = random_pair(5)
    assert jensen_shannon(p, p).tolist() == [0.0] * 5
    assert jensen_shannon([0.0, 1.0, 0.5], [0.0, 1.0, 0.5]).tolist() == [0.0]
    # one ulp apart: the divergence rounds to about -1e-16, where scipy's jensenshannon gives NaN
    near = np.nextafter(p, 1.0)
    values = jensen_shannon(p, near)
    assert np.all(values >= 0.0) and np.all(values < 1e-15)


def test_jsd_is_symmetric():
    p, r = random_pair(6)
    np.testing.assert_allclose(jensen_shannon(p, r), jensen_shannon(r, p), rtol=0, atol=1e-15)


@pytest.mark.parametrize("seed", [7, 8])
def test_jsd_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    p, r = rng.random((400, 6)), rng.random((400, 6))
    r[:50] = rng.integers(0, 2, (50, 6))  # 0/1 references, where 0 log 0 = 0 matters
    ours = jensen_shannon(p, r)
    # scipy returns the distance sqrt(JS) per row of the two-outcome distributions
    theirs = jensenshannon(np.stack([p, 1 - p], -1), np.stack([r, 1 - r], -1), base=2, axis=-1) ** 2
    np.testing.assert_allclose(ours, theirs.mean(axis=0), rtol=0, atol=1e-12)


def test_jsd_matches_the_written_out_formula():
    pairs = [(0.8, 1.0), (0.2, 0.5), (0.0, 0.3), (0.999, 0.001), (0.6, 0.6)]
    p, r = np.array(pairs).T
    ours = [float(jensen_shannon([a], [b])[0]) for a, b in pairs]
    assert ours == pytest.approx([bernoulli_js_bits(a, b) for a, b in pairs], abs=1e-15)
    assert np.all((0 <= jensen_shannon(p, r)) & (jensen_shannon(p, r) <= 1))


# ----------------------------------------------------------------------------- soft NLL


def test_soft_nll_is_entropy_plus_kl():
    p, r = random_pair(9, k=1)
    p, r = p[:, 0], r[:, 0]
    # cross-entropy H(r, p) = H(r) + KL(r || p), per sample, natural log
    expected = np.mean([entropy([b, 1 - b]) + entropy([b, 1 - b], [a, 1 - a]) for a, b in zip(p, r)])
    assert soft_nll(p, r)[0] == pytest.approx(expected, abs=1e-12)
    # at p = r only the entropy is left: log 2 for r = 0.5
    assert soft_nll([0.5, 0.5], [0.5, 0.5])[0] == pytest.approx(math.log(2), abs=1e-15)


@pytest.mark.parametrize("eps", [1e-12, 1e-6, 0.25])
def test_soft_nll_clips_at_eps(eps):
    # p = 0 against r = 1 costs -log(eps)
    assert soft_nll([0.0], [1.0], clip=eps)[0] == pytest.approx(-math.log(eps), rel=1e-15)
    assert distribution_alignment([0.0], [1.0], clip=eps)["nll"] == pytest.approx(-math.log(eps), rel=1e-15)
    # p = 1 against r = 0 costs -log(1 - (1 - eps)), which is -log(eps) up to the rounding of 1 - eps
    assert soft_nll([1.0], [0.0], clip=eps)[0] == pytest.approx(-math.log1p(-(1 - eps)), rel=1e-15)
    assert soft_nll([1.0], [0.0], clip=eps)[0] == pytest.approx(-math.log(eps), rel=1e-5)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "probs, references, kwargs, match",
    [
        ([0.2, 0.3, 0.4], [0.0, 1.0], {}, r"`probs` has 3 rows but `references` has 2; pass one reference per score"),
        (
            [[0.2, 0.3]],
            [[0.0, 1.0, 0.5]],
            {},
            r"`probs` has 2 labels per row but `references` has 3; pass one column per label",
        ),
        ([[0.2], [0.3]], [0.0, 1.0], {}, r"`probs` has shape \(2, 1\) but `references` has shape \(2,\)"),
        ([[[0.2]]], [[[0.2]]], {}, r"`probs` must have shape \[n\] or \[n, num_labels\]; got shape \(1, 1, 1\)"),
        ([], [], {}, r"`probs` is empty; pass at least one score"),
        ([0.2], [], {}, r"`references` is empty"),
        (None, [0.5], {}, r"`probs` is None; pass an array of numbers"),
        (
            [[0.2, np.nan, 0.1, np.nan], [0.3, 0.4, 0.1, np.nan]],
            [[0.0, 1.0, 0.5, 0.5], [1.0, 0.0, 0.5, 0.5]],
            {"labels": ["unsafe", "S1", "S2", "S3"]},
            (
                r"`probs` has NaN in label column\(s\) 1 \('S1'\), 3 \('S3'\), first at row 0\. Strategies such as "
                r"`first_token` give NaN for the categories they cannot score: drop those columns from both `probs` "
                r"and `references` \(and from `labels`\) before computing the alignment, e\.g\. "
                r"`keep = ~np\.isnan\(probs\)\.any\(axis=0\)`"
            ),
        ),
        ([0.2, np.nan], [0.0, 1.0], {}, r"`probs` has NaN in label column\(s\) 0 \('0'\), first at row 1\."),
        (
            [[0.2, 0.3]],
            [[0.5, np.nan]],
            {},
            (
                r"`references` has NaN in label column\(s\) 1 \('1'\), first at row 0\. Drop those columns \(or the "
                r"rows without annotations\) from both `probs` and `references`"
            ),
        ),
        ([0.2, np.inf], [0.0, 1.0], {}, r"`probs` must be finite; got inf at index 1"),
        (
            [0.2, 1.5],
            [0.0, 1.0],
            {},
            r"`probs` must hold probabilities in \[0, 1\]; got 1.5 at index 1\. Pass probabilities, not logits",
        ),
        (
            [[0.2, 0.3]],
            [[0.5, -0.5]],
            {},
            r"`references` must hold values in \[0, 1\] \(the fraction of annotators who chose the "
            r"label, or 0/1\); got -0.5 at index \(0, 1\)\. Divide annotator counts",
        ),
        (
            [[0.2, 0.3]],
            [[0.5, 0.5]],
            {"labels": ["S1"]},
            r"`labels` has 1 name\(s\) but `probs` has 2 label column\(s\); pass one name per column, in column order",
        ),
        ([0.2], [0.5], {"labels": ["S1", "S2"]}, r"`labels` has 2 name\(s\) but `probs` has 1 label column\(s\)"),
        (
            [[0.2, 0.3]],
            [[0.5, 0.5]],
            {"labels": "S1"},
            r"`labels` must be a sequence of label names such as \['S1', 'S2'\]; got 'S1'",
        ),
        ([[0.2, 0.3]], [[0.5, 0.5]], {"labels": [1, 2]}, r"`labels` must be a sequence of label names"),
        (
            [[0.2, 0.3]],
            [[0.5, 0.5]],
            {"labels": ["S1", "S1"]},
            r"`labels` repeats \['S1'\]; pass one distinct name per column",
        ),
        ([0.2], [0.5], {"clip": 0.0}, r"`clip` must be a number in \[2.22e-16, 0.5\); got 0.0\. The default is 1e-12"),
        ([0.2], [0.5], {"clip": 0.5}, r"`clip` must be a number in \[2.22e-16, 0.5\); got 0.5"),
        ([0.2], [0.5], {"clip": True}, r"`clip` must be a number"),
    ],
)
def test_errors(probs, references, kwargs, match):
    with pytest.raises(ValueError, match=match):
        distribution_alignment(probs, references, **kwargs)


@pytest.mark.parametrize("fn", [l1_distance, soft_nll, brier_score, jensen_shannon])
def test_per_label_functions_check_their_input(fn):
    with pytest.raises(ValueError, match=r"`references` must hold values in \[0, 1\]"):
        fn([0.2], [1.2])
    with pytest.raises(ValueError, match=r"`probs` has NaN in label column\(s\) 0"):
        fn([np.nan], [1.0])
