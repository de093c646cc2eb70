"""The uncertainty baselines against a direct computation: one full forward of prompt + forced answer per prompt."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of

from marginal_generate.uncertainty import (
    UNCERTAINTY_METHODS,
    forced_answer,
    logtoku,
    select_threshold,
    uncertainty_scores,
)


def left_pad(tok, prompts):
    batch = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def direct(model, tok, space, prompt, lead):
    """p(unsafe), the restricted distribution, and the three measures from one uncached forward, no padding."""
    fa = forced_answer(space, lead)
    ids = tok(prompt, add_special_tokens=False)["input_ids"] + list(fa.tokens)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    start = len(ids) - len(fa.tokens)
    verdict = torch.log_softmax(logits[start + fa.verbalizer_position - 1], -1)
    negative, positive = space.verbalizer_ids
    pos, neg = (float(torch.logsumexp(verdict[list(ids_)], -1)) for ids_ in (positive, negative))
    p_unsafe = 1 / (1 + np.exp(neg - pos))
    branch_ids = fa.branch_ids
    z = logits[-1, branch_ids].numpy()
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    alpha = np.clip(z, 0, None)
    a0 = alpha.sum()
    from scipy.special import digamma

    share = alpha / a0 if a0 > 0 else np.full_like(alpha, 1 / len(alpha))
    au = -np.sum(share * (digamma(alpha + 1) - digamma(a0 + 1)))
    eu = len(alpha) / (a0 + len(alpha))
    probs = {c: p[branch_ids.index(t)] for c, t in fa.branch.items()}
    return (
        p_unsafe,
        probs,
        {
            "probability_uncertainty": 1 - p.max(),
            "entropy_uncertainty": -(p * np.log(p)).sum(),
            "logtoku": au,
            "logtoku_epistemic": eu,
        },
    )


@pytest.mark.parametrize("lead", ["", "\n\n"])
def test_batched_forced_pass_matches_direct_computation(tokenizer_kind, lead):
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    model = guard_model(tokenizer_kind, dtype=torch.float64)
    input_ids, attention_mask = left_pad(tok, PROMPTS)
    got = uncertainty_scores(model, input_ids, attention_mask, space, lead=lead)
    assert got.leads == [lead] * len(PROMPTS)
    for i, prompt in enumerate(PROMPTS):
        p_unsafe, probs, measures = direct(model, tok, space, prompt, lead)
        assert float(got.p_unsafe[i]) == pytest.approx(p_unsafe, abs=1e-9)
        for k, c in enumerate(space.categories):
            assert float(got.category_probs[i, k]) == pytest.approx(probs[c], abs=1e-9)
        for name, value in measures.items():
            assert float(got.uncertainty[name][i]) == pytest.approx(value, abs=1e-9), name
        ranked = sorted(set(probs.values()), reverse=True)
        assert {c for c, v in zip(space.categories, got.top1[i].tolist()) if v} == {
            c for c, q in probs.items() if q == ranked[0]
        }
        assert {c for c, v in zip(space.categories, got.top2[i].tolist()) if v} == {
            c for c, q in probs.items() if q in ranked[:2]
        }


def test_auto_lead_picks_the_models_own_and_matches_explicit():
    tok, space = tokenizer_of("byte"), space_of("byte")
    model = guard_model("byte", dtype=torch.float64)
    input_ids, attention_mask = left_pad(tok, PROMPTS)
    auto = uncertainty_scores(model, input_ids, attention_mask, space, lead="auto")
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, -1].double().log_softmax(-1)
    for i, lead in enumerate(auto.leads):
        single = uncertainty_scores(model, input_ids[i : i + 1], attention_mask[i : i + 1], space, lead=lead)
        assert float(single.uncertainty["logtoku"][0]) == pytest.approx(float(auto.uncertainty["logtoku"][i]), abs=1e-9)
        first = forced_answer(space, lead).tokens[0]
        others = [forced_answer(space, other).tokens[0] for other in ("\n\n", "")]
        assert logits[i, first] >= max(logits[i, t] for t in others) - 1e-12


def test_embedded_model_forces_blank_line_then_unsafe():
    from marginal_generate.default_model import load_default

    _, tok = load_default()
    from marginal_generate import LabelSpace

    fa = forced_answer(LabelSpace.llama_guard(tok), "\n\n")
    assert [tok.decode([t]) for t in fa.tokens] == ["\n\n", "unsafe", "\n", "S"]
    assert tok.decode([fa.branch["S10"]]) == "10" and tok.decode([fa.branch["S1"]]) == "1"


def test_logtoku_formula():
    au, eu = logtoku(torch.tensor([[2.0, 1.0, -3.0]]))
    from scipy.special import digamma

    alpha = np.array([2.0, 1.0, 0.0])
    assert float(au[0]) == pytest.approx(-np.sum(alpha / 3 * (digamma(alpha + 1) - digamma(4))))
    assert float(eu[0]) == pytest.approx(3 / 6)


def test_predict_and_threshold_selection_match_brute_force():
    rng = np.random.default_rng(0)
    n, k = 40, 5
    u = rng.random(n)
    top1 = np.eye(k, dtype=int)[rng.integers(0, k, n)]
    top2 = np.clip(top1 + np.eye(k, dtype=int)[rng.integers(0, k, n)], 0, 1)
    p_unsafe = rng.random(n)
    y = (rng.random((n, k)) < 0.3).astype(int)
    t, f1 = select_threshold(u, top1, top2, p_unsafe, y)

    def micro_f1(threshold):
        pred = np.where((u > threshold)[:, None], top2, top1) * (p_unsafe >= 0.5)[:, None]
        tp = (pred & y).sum()
        return 2 * tp / (pred.sum() + y.sum())

    best = max(micro_f1(c) for c in [-1.0, *u])
    assert f1 == pytest.approx(best) and micro_f1(t) == pytest.approx(best)
    assert all(micro_f1(c) < best - 1e-12 for c in u if c > t)  # ties go to the largest threshold


def test_predict_gates_on_unsafe_and_errors():
    tok, space = tokenizer_of("word"), space_of("word")
    model = guard_model("word", dtype=torch.float64)
    input_ids, attention_mask = left_pad(tok, PROMPTS)
    got = uncertainty_scores(model, input_ids, attention_mask, space, lead="")
    for method, threshold in itertools.product(UNCERTAINTY_METHODS, (-1.0, 1e9)):
        pred = got.predict(method, threshold)
        safe = got.p_unsafe < 0.5
        assert pred[safe].sum() == 0
        expected = got.top2 if threshold < 0 else got.top1
        assert torch.equal(pred[~safe, 1:], expected[~safe])
    scores = got.to_label_scores("logtoku")
    assert torch.allclose(scores.probs[:, 1:].sum(1), got.p_unsafe, atol=1e-9)
    with pytest.raises(ValueError, match=r"`method` must be one of"):
        got.predict("beam", 0.5)
    with pytest.raises(ValueError, match=r"`top_k` must be None or an integer >= 1, got 0"):
        uncertainty_scores(model, input_ids, attention_mask, space, top_k=0)
    with pytest.raises(ValueError, match=r"`lead` 'xyz'"):
        forced_answer(space, "xyz")
