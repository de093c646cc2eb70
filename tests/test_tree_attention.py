"""Tree attention (one sequence per prompt, tree mask) against the batched cache and the per-node reference."""

import copy
import re

import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of

import marginal_generate as mg
from marginal_generate.decoding.reference import forward_next_logits, tree_search_reference
from marginal_generate.decoding.tree_stepper import TreeAttentionStepper, _rank_within_group, supports_tree_attention


def run(model, kind, attention, **kw):
    tok, space = tokenizer_of(kind), space_of(kind)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)  # as the references encode them
    return mg.score(
        model,
        inputs.input_ids,
        inputs.attention_mask,
        space,
        list(mg.STRATEGIES),
        eos_token_ids={tok.eos_token_id},
        attention=attention,
        **kw,
    )


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_tree_equals_batched_cache_and_reference(tokenizer_kind, implementation):
    model = copy.deepcopy(guard_model(tokenizer_kind, dtype=torch.float32))
    model.set_attn_implementation(implementation)
    kw = dict(max_new_tokens=8, eps=0.001, top_p=0.99)
    tree, batched = run(model, tokenizer_kind, "tree", **kw), run(model, tokenizer_kind, "batched", **kw)
    assert tree["any_place"].stats["attention"] == "tree" and batched["any_place"].stats["attention"] == "batched"
    assert max(tree["any_place"].stats["frontier_widths"]) > len(PROMPTS)  # the tree branched
    for s in mg.STRATEGIES:
        assert tree[s].texts == batched[s].texts
        assert torch.allclose(tree[s].probs, batched[s].probs, atol=1e-6, equal_nan=True), s
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    for i, prompt in enumerate(PROMPTS):
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        lower, upper, _ = tree_search_reference(
            forward_next_logits(model, ids), space, {tok.eos_token_id}, 8, top_p=0.99, eps=0.001
        )
        assert (tree["any_place"].lower[i] - lower).abs().max() <= 2e-6
        assert (tree["any_place"].upper[i] - upper).abs().max() <= 2e-6


def test_tree_float64_matches_reference_exactly():
    model = guard_model("sentencepiece")  # float64, sdpa
    tok, space = tokenizer_of("sentencepiece"), space_of("sentencepiece")
    out = run(model, "sentencepiece", "tree", max_new_tokens=8, eps=0.0005, top_p=0.995)["any_place"]
    for i, prompt in enumerate(PROMPTS):
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        lower, upper, _ = tree_search_reference(
            forward_next_logits(model, ids), space, {tok.eos_token_id}, 8, top_p=0.995, eps=0.0005
        )
        assert (out.lower[i] - lower).abs().max() <= 1e-9
        assert (out.upper[i] - upper).abs().max() <= 1e-9


def test_dead_branches_are_dropped_from_the_cache():
    model = guard_model("word")
    tok, space = tokenizer_of("word"), space_of("word")
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    stepper = TreeAttentionStepper(model, inputs.input_ids, inputs.attention_mask)
    from marginal_generate.decoding.greedy_path import GreedyRecorder
    from marginal_generate.decoding.search import TreeParams, run_search

    recorder = GreedyRecorder(space, len(PROMPTS), {tok.eos_token_id})
    with torch.no_grad():
        result = run_search(stepper, space, {tok.eos_token_id}, 8, TreeParams(0.99, 0.001), recorder)
    assert stepper.compactions >= 1
    # the cache holds one row per prompt: prompt + live slots, never one copy per branch
    keys = stepper.cache.layers[0].keys
    assert keys.shape[0] == len(PROMPTS)
    assert keys.shape[2] < inputs.input_ids.shape[1] + sum(result.frontier_widths)


def test_rank_within_group():
    assert _rank_within_group(torch.tensor([2, 2, 0, 2, 0]), 3).tolist() == [0, 1, 0, 2, 1]


def test_support_and_errors():
    model = copy.deepcopy(guard_model("byte", dtype=torch.float32))
    assert supports_tree_attention(model)
    model.config.sliding_window = 4
    assert not supports_tree_attention(model)
    tok, space = tokenizer_of("byte"), space_of("byte")
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    with pytest.raises(ValueError, match=r"`attention='tree'` needs sdpa or eager attention"):
        mg.score(model, inputs.input_ids, inputs.attention_mask, space, attention="tree", eos_token_ids={2})
    with pytest.raises(ValueError, match=r"`attention` must be one of \['auto', 'tree', 'batched'\], got 'flash'"):
        mg.score(model, inputs.input_ids, inputs.attention_mask, space, attention="flash", eos_token_ids={2})
    out = mg.score(model, inputs.input_ids, inputs.attention_mask, space, eos_token_ids={2}, max_new_tokens=4)
    assert out["any_place"].stats["attention"] == "batched"  # auto falls back (and is batched on a CPU anyway)


def search_with_tree(model, kind, **stepper_kw):
    """run_search over PROMPTS with a TreeAttentionStepper; also the shape of every tree mask the model received."""
    from marginal_generate.decoding.greedy_path import GreedyRecorder
    from marginal_generate.decoding.search import TreeParams, run_search

    tok, space = tokenizer_of(kind), space_of(kind)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    stepper = TreeAttentionStepper(model, inputs.input_ids, inputs.attention_mask, **stepper_kw)
    masks = []

    def record(module, args, kwargs):
        if kwargs["attention_mask"].ndim == 4:
            masks.append(tuple(kwargs["attention_mask"].shape))

    hook = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with torch.no_grad():
            recorder = GreedyRecorder(space, len(PROMPTS), {tok.eos_token_id})
            result = run_search(stepper, space, {tok.eos_token_id}, 8, TreeParams(0.99, 0.001), recorder)
    finally:
        hook.remove()
    return stepper, result, masks


def test_a_wide_frontier_goes_in_chunks_that_keep_the_mask_under_its_bound():
    model = guard_model("byte")  # float64
    whole, expected, whole_masks = search_with_tree(model, "byte")
    assert whole.chunked_steps == 0 and len(whole_masks) == whole.forward_passes - 1  # one forward per depth
    widest = max(shape[2] * whole.query_bytes(shape[3]) for shape in whole_masks)
    bound = widest // 3  # the widest depth needs at least three forwards
    chunked, result, masks = search_with_tree(model, "byte", attention_bytes=bound)
    assert chunked.chunked_steps >= 1 and chunked.most_chunks >= 3
    assert len(masks) == chunked.forward_passes - 1 > len(whole_masks)
    for batch, _, queries, keys in masks:
        assert batch == len(PROMPTS) and queries * chunked.query_bytes(keys) <= bound
    assert result.frontier_widths == expected.frontier_widths
    assert torch.allclose(result.lower, expected.lower, rtol=0, atol=1e-12)
    assert torch.allclose(result.upper, expected.upper, rtol=0, atol=1e-12)
    assert [[(t, round(p, 12), c) for t, p, c in row] for row in result.completions] == [
        [(t, round(p, 12), c) for t, p, c in row] for row in expected.completions
    ]


def test_chunked_tree_attention_is_noted_and_equals_the_batched_cache(monkeypatch):
    from marginal_generate.decoding import tree_stepper

    model = guard_model("byte")
    monkeypatch.setattr(tree_stepper, "ATTENTION_BYTES", 20_000)  # a few queries a forward
    kw = dict(max_new_tokens=8, eps=0.001, top_p=0.99)
    tree, batched = run(model, "byte", "tree", **kw)["any_place"], run(model, "byte", "batched", **kw)["any_place"]
    assert re.fullmatch(
        r"tree attention fed \d+ depths? in up to \d+ forwards each, to keep a forward's mask and attention scores "
        r"under 2e-05 GB",
        tree.stats["attention_note"],
    )
    assert "attention_note" not in batched.stats
    assert tree.stats["forward_passes"] > batched.stats["forward_passes"]
    assert torch.allclose(tree.lower, batched.lower, rtol=0, atol=1e-12)
    assert torch.allclose(tree.upper, batched.upper, rtol=0, atol=1e-12)
    assert torch.allclose(tree.probs, batched.probs, rtol=0, atol=1e-12)
