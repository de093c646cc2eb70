"""any_place against the definition: exhaustive enumeration, the per-node reference search, bounds, batching."""

import random

import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of

import marginal_generate as mg
from marginal_generate.decoding.reference import enumerate_label_probs, forward_next_logits, tree_search_reference
from marginal_generate.testing import plant_guard_bias, tiny_llama, word_level_tokenizer


def run_any_place(model, tok, space, prompts, **kw):
    inputs = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)  # as the references encode them
    return mg.score(
        model, inputs.input_ids, inputs.attention_mask, space, ["any_place"], eos_token_ids={tok.eos_token_id}, **kw
    )["any_place"]


def prompt_ids(tok, prompt):
    return tok(prompt, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(("seed", "depth"), [(0, 5), (1, 4), (2, 4)])
def test_exact_search_equals_enumerating_every_completion(seed, depth):
    tok = word_level_tokenizer(["safe", "unsafe", "S1", "S10", ","])  # 12 tokens
    space = mg.LabelSpace(tok, categories=["S1", "S10"])
    model = tiny_llama(tok, seed=seed, logit_scale=0.5, dtype=torch.float64)  # flat: every label has mass
    out = run_any_place(model, tok, space, ["unsafe"], max_new_tokens=depth, eps=0.0, top_p=1.0)
    exact = enumerate_label_probs(model, prompt_ids(tok, "unsafe"), space, {tok.eos_token_id}, depth)
    assert exact.min() > 1e-4  # every label carries mass: the test can fail
    assert torch.allclose(out.lower[0], exact, atol=1e-9)
    assert torch.allclose(out.upper[0], exact, atol=1e-9)
    assert out.estimate == "best" and torch.allclose(
        out.probs[0], exact, atol=1e-9
    )  # nothing dropped: the estimate is exact
    assert out.stats["rollouts"] == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_per_node_reference_for_random_cuts(tokenizer_kind, seed):
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    model = guard_model(tokenizer_kind, seed=seed)
    rng = random.Random(seed)
    for _ in range(2):
        eps, top_p = rng.choice([0.0, 1e-3, 0.02, 0.1]), rng.choice([0.5, 0.9, 0.99, 1.0])
        depth = rng.randint(3, 6) if eps > 0 else 3
        out = run_any_place(model, tok, space, PROMPTS, max_new_tokens=depth, eps=eps, top_p=top_p)
        for i, prompt in enumerate(PROMPTS):
            lower, upper, _ = tree_search_reference(
                forward_next_logits(model, prompt_ids(tok, prompt)),
                space,
                {tok.eos_token_id},
                depth,
                top_p=top_p,
                eps=eps,
            )
            assert (out.lower[i] - lower).abs().max() <= 1e-6, (eps, top_p, depth, prompt)
            assert (out.upper[i] - upper).abs().max() <= 1e-6, (eps, top_p, depth, prompt)


def test_bounds_contain_the_exact_value(tokenizer_kind):
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    model = guard_model(tokenizer_kind)
    exact = run_any_place(model, tok, space, PROMPTS, max_new_tokens=4, eps=0.0, top_p=1.0)
    assert torch.allclose(exact.lower, exact.upper, atol=1e-9)
    assert exact.lower[:, 0].max() > 0.1  # some prompt may be unsafe (0.96 here; 0.18 the least over seeds 0-5)
    rng = random.Random(7)
    for _ in range(4):
        eps, top_p = rng.uniform(0, 0.2), rng.uniform(0.3, 1.0)
        cut = run_any_place(model, tok, space, PROMPTS, max_new_tokens=4, eps=eps, top_p=top_p)
        assert (cut.lower <= exact.lower + 1e-9).all() and (exact.lower <= cut.upper + 1e-9).all()
        assert ((cut.lower <= cut.probs) & (cut.probs <= cut.upper)).all()


def test_batch_equals_one_prompt_at_a_time(tokenizer_kind):
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    model = guard_model(tokenizer_kind, dtype=torch.float32)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    assert (inputs.attention_mask == 0).any()  # really left-padded
    kw = dict(max_new_tokens=6, eps=0.01, top_p=0.99, eos_token_ids={tok.eos_token_id})
    batch = mg.score(model, inputs.input_ids, inputs.attention_mask, space, list(mg.STRATEGIES), **kw)
    for i, prompt in enumerate(PROMPTS):
        one = tok([prompt], return_tensors="pt")
        single = mg.score(model, one.input_ids, one.attention_mask, space, list(mg.STRATEGIES), **kw)
        for s in mg.STRATEGIES:
            assert batch[s].texts[i] == single[s].texts[0]
            assert torch.allclose(batch[s].probs[i], single[s].probs[0], atol=1e-5, equal_nan=True), s
        assert torch.allclose(batch["any_place"].upper[i], single["any_place"].upper[0], atol=1e-5)


def test_bf16_model_accumulates_in_float64():
    tok, space = tokenizer_of("byte"), space_of("byte")
    model = guard_model("byte", dtype=torch.bfloat16)
    out = run_any_place(model, tok, space, PROMPTS, max_new_tokens=6, eps=0.01, top_p=0.99)
    assert out.probs.dtype == torch.float64
    assert ((out.lower >= 0) & (out.lower <= out.upper) & (out.upper <= 1)).all()


def test_frontier_is_one_batched_forward_per_depth():
    tok, space = tokenizer_of("word"), space_of("word")
    out = run_any_place(guard_model("word"), tok, space, PROMPTS, max_new_tokens=6, eps=0.01, top_p=0.99)
    assert out.stats["forward_passes"] == len(out.stats["frontier_widths"]) <= 6
    assert max(out.stats["frontier_widths"]) > len(PROMPTS)  # the tree did branch


@pytest.mark.parametrize("eps", [0.02, 0.05])
def test_estimate_is_closer_to_the_exact_value_than_the_lower_bound(eps):
    """A statistical claim, checked where it holds with room: three random models with the guard bigrams planted
    (guard-like trees, the model's own logits as noise), the errors pooled. Pooled ratio 0.24 (eps 0.02) and 0.36
    (eps 0.05) for seeds 0-2; 0.15-0.17 and 0.09-0.17 for seeds 3-5, 6-8, 9-11. On one toy guard trained here it held
    for seed 0 by luck: over seeds 0-5 a model's ratio ranged 0.12 to 1.31 (byte) and 0.25 to 6.2 (SentencePiece)."""
    tok, space = tokenizer_of("byte"), space_of("byte")
    lower_error = estimate_error = 0.0
    for seed in range(3):
        model = tiny_llama(tok, seed=seed, logit_scale=2.0, dtype=torch.float64)
        plant_guard_bias(model, tok)
        exact = run_any_place(model, tok, space, PROMPTS, max_new_tokens=4, eps=0.0, top_p=1.0).probs
        cut = run_any_place(model, tok, space, PROMPTS, max_new_tokens=4, eps=eps, top_p=0.99)
        lower_error += (cut.lower - exact).abs().mean().item()
        estimate_error += (cut.probs - exact).abs().mean().item()
    assert lower_error > 1e-3  # the cut dropped mass (0.0035 and 0.0063): the test can fail
    assert estimate_error < 0.7 * lower_error
