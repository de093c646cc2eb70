"""An engine behind the search from the public API: mg.score(..., backend=factory), marginalize and the Hub layout.

The reference engine (testing/engine_backend.TopKEngineBackend: top-k and the mass left out only) at a k that covers
the cuts gives mg.score's HF results bit for bit; at a small k the bounds widen around the exact values; what a
top-k backend cannot give, and what belongs to the HF steppers, is refused in one line before any forward."""

import os

import pytest
import torch
from transformers import LogitsProcessorList

import marginal_generate as mg
from marginal_generate.decoding.reference import enumerate_label_probs
from marginal_generate.testing import tiny_llama, word_level_tokenizer
from marginal_generate.testing.engine_backend import TopKEngineBackend

TOK = word_level_tokenizer(["safe", "unsafe", "S1", "S10", ","])  # 12 tokens
SPACE = mg.LabelSpace(TOK, categories=["S1", "S10"])
PROMPTS = ["unsafe", "safe , S1", "S10"]
STRATEGIES = ["any_place", "greedy", "token_probability", "fixed_place"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model(seed: int = 0):
    return tiny_llama(TOK, seed=seed, logit_scale=0.5, dtype=torch.float64)  # flat: every token has mass


def inputs():
    return TOK(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)


def score(m, strategies=STRATEGIES, **kw):
    batch = inputs()
    kw = {"max_new_tokens": 5, "eps": 0.01, "top_p": 0.99, **kw}
    return mg.score(m, batch.input_ids, batch.attention_mask, SPACE, strategies, **kw)


def recording(m, max_k):
    """A factory of the reference engine that keeps what it built (to count its forwards)."""
    built = []

    def factory(input_ids, attention_mask):
        built.append(TopKEngineBackend(m, input_ids, attention_mask, max_k=max_k))
        return built[-1]

    return factory, built


def assert_same(got: mg.LabelScores, want: mg.LabelScores) -> None:
    assert got.labels == want.labels and got.texts == want.texts
    assert torch.equal(got.probs, want.probs)
    if want.strategy == "any_place":
        assert torch.equal(got.lower, want.lower) and torch.equal(got.upper, want.upper)
        assert got.completions == want.completions and got.label_sets == want.label_sets
        assert got.estimate == want.estimate


@pytest.mark.parametrize(
    ("max_k", "kw"),
    [
        (12, {}),  # the whole vocabulary: the estimate's dropped children too
        (20, {"eps": 0.05, "estimate": "lower"}),  # at most 1 / eps = 20 children of a node weigh eps or more
    ],
)
def test_an_engine_whose_k_covers_the_cut_gives_score_bit_for_bit(max_k, kw):
    m = model()
    want = score(m, **kw)
    got = score(m, backend=TopKEngineBackend.factory(m, max_k=max_k), **kw)
    assert max(want["any_place"].stats["frontier_widths"]) > len(PROMPTS)  # the tree branched
    assert (want["any_place"].upper - want["any_place"].lower).max() > 1e-4  # cut mass: the estimate is at work
    for strategy in STRATEGIES:
        assert_same(got[strategy], want[strategy])
        assert got[strategy].stats["backend"] == f"TopKEngineBackend(max_k={max_k})"
        assert "attention" not in got[strategy].stats and want[strategy].stats["attention"] == "batched"
        assert "backend" not in want[strategy].stats
    assert got["any_place"].stats["forward_passes"] == want["any_place"].stats["forward_passes"]
    assert got["any_place"].stats["frontier_widths"] == want["any_place"].stats["frontier_widths"]


def test_a_small_k_widens_the_bounds_around_the_exact_values():
    m, depth = model(), 4
    exact = torch.stack(
        [
            enumerate_label_probs(m, TOK(p, add_special_tokens=False)["input_ids"], SPACE, {TOK.eos_token_id}, depth)
            for p in PROMPTS
        ]
    )
    assert exact.min() > 1e-4  # every label carries mass: the containment can fail
    for max_k, cut in [(2, {"eps": 0.0, "top_p": 1.0}), (3, {"eps": 0.01, "top_p": 0.99})]:
        whole = score(m, ["any_place"], max_new_tokens=depth, **cut)["any_place"]
        engine = score(m, ["any_place"], max_new_tokens=depth, backend=TopKEngineBackend.factory(m, max_k), **cut)
        engine = engine["any_place"]
        assert (engine.lower <= exact + 1e-12).all() and (exact <= engine.upper + 1e-12).all(), max_k
        assert ((engine.lower <= engine.probs) & (engine.probs <= engine.upper)).all()
        assert (engine.upper - engine.lower).min() > 1e-3, max_k  # k of 12 tokens shown: the rest is cut
        assert (engine.upper - engine.lower >= whole.upper - whole.lower - 1e-12).all()
        assert (engine.upper - engine.lower).sum() > (whole.upper - whole.lower).sum()
    whole = score(m, ["any_place"], max_new_tokens=depth, eps=0.0, top_p=1.0)["any_place"]
    assert torch.allclose(whole.lower, exact, atol=1e-9) and torch.allclose(whole.upper, exact, atol=1e-9)


@pytest.mark.parametrize("strategy", ["first_token", "max_over_generations", "first_generation"])
def test_a_top_k_engine_refuses_whole_row_strategies_before_any_forward(strategy):
    factory, built = recording(model(), 5)
    with pytest.raises(
        ValueError,
        match=rf"^strategy '{strategy}' reads the greedy path's whole next-token distribution, and backend "
        r"TopKEngineBackend\(max_k=5\) gives only the top 5 next-token log-probabilities of a row: leave "
        rf"'{strategy}' out, or use a backend with whole rows \(StepperBackend\)\.$",
    ):
        score(model(), ["any_place", strategy], backend=factory)
    assert len(built) == 1 and built[0].forward_passes == 0


def test_a_top_k_engine_refuses_vocab_normalization_before_any_forward():
    factory, built = recording(model(), 5)
    with pytest.raises(ValueError, match=r"^label_normalization='vocab' looks ahead .* TopKEngineBackend\(max_k=5\)"):
        score(model(), ["any_place"], label_normalization="vocab", backend=factory)
    assert built[0].forward_passes == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"backend": "vllm"},
            r"^`backend` must be a callable \(input_ids, attention_mask\) -> NextTokenBackend, got str; pass e\.g\. "
            r"TopKEngineBackend\.factory\(model, max_k=20\), or None for the HF steppers\.$",
        ),
        (
            {"backend": lambda ids, mask: object()},
            r"^`backend` returned object, not a NextTokenBackend \(no prefill, expand, name, batch_size, "
            r"forward_passes, max_k, whole_rows\); the factory must return e\.g\. a StepperBackend or a "
            r"TopKEngineBackend over the input_ids it is given\.$",
        ),
        (
            {"backend": lambda ids, mask: TopKEngineBackend(model(), ids[:1], mask[:1])},
            r"^`backend` returned TopKEngineBackend\(max_k=20\) over 1 prompts for a batch of 3; the factory must "
            r"build it over the input_ids it is given\.$",
        ),
        (
            {"attention": "tree"},
            r"^`attention='tree'` picks how the HF steppers share the prompt cache, and `backend` replaces them: "
            r"leave attention='auto' with a backend, or pass backend=None\.$",
        ),
        (
            {"logits_processor": LogitsProcessorList([lambda ids, scores: scores * 2])},
            r"^`logits_processor` runs on the HF steppers' whole rows, and `backend` replaces them: leave it out, "
            r"or build it into the backend \(StepperBackend\(stepper, logits_processor\) has whole rows\)\.$",
        ),
        (
            {"model_kwargs": {"pixel_values": torch.zeros(1)}},
            r"^model inputs \['pixel_values'\] go to the HF steppers, and `backend` replaces them: give them to the "
            r"backend's factory, or pass backend=None\.$",
        ),
    ],
    ids=["not-callable", "not-a-backend", "other-batch", "attention", "logits-processor", "model-kwargs"],
)
def test_backend_is_checked_at_the_boundary(kw, message):
    factory, built = recording(model(), 12)
    kw = {"backend": factory, **kw}
    with pytest.raises(ValueError, match=message):
        score(model(), **kw)
    assert all(b.forward_passes == 0 for b in built)


def test_the_engine_factory_checks_max_k_at_once():
    with pytest.raises(ValueError, match=r"^`max_k` must be an integer >= 1 \(.*\), got 0\.$"):
        TopKEngineBackend.factory(model(), max_k=0)


def test_generate_takes_the_backend_through_marginalize_and_the_hub_layout():
    m, batch = model(), inputs()
    kw = {"label_space": SPACE, "strategy": "any_place", "eps": 0.01, "top_p": 0.99, "max_new_tokens": 5}
    want = m.generate(**batch, custom_generate=mg.marginalize, **kw)
    for custom in (mg.marginalize, ROOT):
        trust = {"trust_remote_code": True} if custom == ROOT else {}
        got = m.generate(**batch, custom_generate=custom, backend=TopKEngineBackend.factory(m, 12), **trust, **kw)
        assert got.stats["backend"] == "TopKEngineBackend(max_k=12)", custom
        assert_same(got, want)
    with pytest.raises(ValueError, match=r"^strategy 'first_token' reads the greedy path's whole next-token"):
        m.generate(
            **batch,
            custom_generate=mg.marginalize,
            backend=TopKEngineBackend.factory(m, 5),
            **kw | {"strategy": "first_token"},
        )
