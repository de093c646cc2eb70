"""The `distribution_alignment` evaluate module, loaded offline by path: values equal the package's
pure function (float64 kept), add/add_batch/compute, the multilabel config, label names, errors."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"

import evaluate  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from marginal_generate import distribution_alignment  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def binary():
    return evaluate.load(HERE)


@pytest.fixture(scope="module")
def multilabel():
    return evaluate.load(HERE, "multilabel")


def data(seed, n=200, k=None):
    """Probabilities and soft references from 3 annotators (0, 1/3, 2/3, 1)."""
    rng = np.random.default_rng(seed)
    shape = (n,) if k is None else (n, k)
    return rng.random(shape), rng.integers(0, 4, shape) / 3


def test_hand_example(binary, multilabel):
    # p = [0.8, 0.2], r = [1.0, 0.5]: L1 = (0.2 + 0.3) / 2 = 0.25, Brier = (0.04 + 0.09) / 2 = 0.065
    out = binary.compute(predictions=[0.8, 0.2], references=[1.0, 0.5])
    assert out["l1"] == pytest.approx(0.25) and out["brier"] == pytest.approx(0.065) and out["n_samples"] == 2
    # S1: JS(Bern(0) || Bern(1)) = JS(Bern(1) || Bern(0)) = 1 bit; S2: p = r, so 0
    out = multilabel.compute(
        predictions=[[0.0, 0.5], [1.0, 0.5]], references=[[1.0, 0.5], [0.0, 0.5]], labels=["S1", "S2"]
    )
    assert out["per_label"]["S1"]["jsd"] == 1.0 and out["per_label"]["S2"]["jsd"] == 0.0 and out["jsd"] == 0.5
    assert out["per_label"]["S2"]["l1"] == 0.0 and out["per_label"]["S2"]["nll"] == pytest.approx(np.log(2))


@pytest.mark.parametrize("eps", [1e-12, 1e-6])
def test_binary_equals_the_pure_function(binary, eps):
    p, r = data(0)
    assert binary.compute(predictions=p, references=r, clip=eps) == distribution_alignment(p, r, clip=eps)


def test_multilabel_equals_the_pure_function_with_labels(multilabel):
    p, r = data(1, k=4)
    labels = ["S1", "S2", "S10", "unsafe"]
    out = multilabel.compute(predictions=p, references=r, labels=labels)
    assert out == distribution_alignment(p, r, labels=labels)
    assert list(out["per_label"]) == labels and out["n_samples"] == 200


def test_add_batch_and_add(binary, multilabel):
    p, r = data(2, k=3)
    multilabel.add_batch(predictions=p[:120], references=r[:120])
    for i in range(120, 200):
        multilabel.add(prediction=p[i], reference=r[i])
    assert multilabel.compute() == distribution_alignment(p, r)
    for start in range(0, 200, 50):
        binary.add_batch(predictions=p[start : start + 50, 0], references=r[start : start + 50, 0])
    assert binary.compute() == distribution_alignment(p[:, 0], r[:, 0])


def test_hard_references(multilabel):
    p, r = data(3, k=2)
    y = (r >= 0.5).astype(int)
    assert multilabel.compute(predictions=p, references=y) == distribution_alignment(p, y)


def test_errors_pass_through_with_the_module_argument_names(binary, multilabel):
    with pytest.raises(ValueError, match=r"`predictions` must hold probabilities in \[0, 1\]; got 1.5 at index 1"):
        binary.compute(predictions=[0.2, 1.5], references=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"`references` must hold values in \[0, 1\] \(the fraction of annotators"):
        binary.compute(predictions=[0.2, 0.5], references=[0.0, 2.0])
    with pytest.raises(
        ValueError,
        match=r"`predictions` has NaN in label column\(s\) 1 \('S2'\), first at "
        r"row 0\. Strategies such as `first_token` "
        r"give NaN .* from both `predictions` and `references`",
    ):
        multilabel.compute(predictions=[[0.2, float("nan")]], references=[[0.0, 1.0]], labels=["S1", "S2"])
    with pytest.raises(ValueError, match=r"`predictions` has 2 labels per row but `references` has 3"):
        multilabel.compute(predictions=[[0.2, 0.5]], references=[[0.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match=r"`labels` has 3 name\(s\) but `predictions` has 2 label column\(s\)"):
        multilabel.compute(predictions=[[0.2, 0.5]], references=[[0.0, 1.0]], labels=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"`clip` must be a number in \[2.22e-16, 0.5\); got 1"):
        binary.compute(predictions=[0.2], references=[0.0], clip=1)
