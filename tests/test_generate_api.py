"""The public boundary: model.generate with custom_generate, the flag form, the mixin, and bad input."""

import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of
from transformers import LlamaForCausalLM

import marginal_generate as mg

KW = dict(eps=0.01, top_p=0.99, max_new_tokens=6)


@pytest.fixture(scope="module")
def setup():
    tok = tokenizer_of("byte")
    model = guard_model("byte", dtype=torch.float32)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    return tok, model, space_of("byte"), inputs


@pytest.mark.parametrize("strategy", mg.STRATEGIES)
def test_callable_form_equals_score(setup, strategy):
    tok, model, space, inputs = setup
    out = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, strategy=strategy, **KW)
    direct = mg.score(
        model,
        inputs.input_ids,
        inputs.attention_mask,
        space,
        [strategy],
        max_new_tokens=6,
        eps=0.01,
        top_p=0.99,
        eos_token_ids={tok.eos_token_id},
    )[strategy]
    assert isinstance(out, mg.LabelScores) and out.labels == space.labels and out.strategy == strategy
    assert out.probs.shape == (len(PROMPTS), 15)
    assert torch.allclose(out.probs, direct.probs, equal_nan=True)
    assert out.texts == direct.texts


def test_texts_are_the_greedy_generate_output(setup):
    tok, model, space, inputs = setup
    plain = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    texts = tok.batch_decode(plain[:, inputs.input_ids.shape[1] :], skip_special_tokens=True)
    out = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, strategy="any_place", **KW)
    assert out.texts == texts


def test_flag_form_equals_callable_and_leaves_plain_generate_alone(setup):
    tok, model, space, inputs = setup
    before = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    callable_form = model.generate(
        **inputs, custom_generate=mg.marginalize, label_space=space, strategy="any_place", **KW
    )
    mg.enable(model)
    try:
        flag_form = model.generate(**inputs, marginalize="any_place", label_space=space, **KW)
        after = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        assert torch.equal(before, after)
        assert torch.allclose(flag_form.probs, callable_form.probs)
        assert torch.allclose(flag_form.upper, callable_form.upper)
        with pytest.raises(ValueError, match="either `marginalize=` or `custom_generate=`"):
            model.generate(**inputs, marginalize="greedy", custom_generate=mg.marginalize, label_space=space)
        with pytest.raises(ValueError, match="`strategy` must be one of"):
            model.generate(**inputs, marginalize="sample", label_space=space)
    finally:
        del model.generate
        model._marginal_generate_enabled = False


def test_mixin_model_class(setup):
    tok, model, space, inputs = setup

    class GuardModel(mg.MarginalGenerationMixin, LlamaForCausalLM):
        pass

    mixed = GuardModel(model.config)
    mixed.load_state_dict(model.state_dict())
    mixed.generation_config = model.generation_config
    mixed.eval()
    out = mixed.generate(**inputs, marginalize="fixed_place", label_space=space, **KW)
    ref = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, strategy="fixed_place", **KW)
    assert torch.allclose(out.probs, ref.probs)
    assert torch.equal(mixed.generate(**inputs, max_new_tokens=4), model.generate(**inputs, max_new_tokens=4))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(strategy="beam"), r"`strategy` must be one of .* got 'beam'"),
        (dict(eps=1.5), r"`eps` must be a number in \[0, 1\), got 1.5"),
        (dict(eps=-0.1), r"`eps` must be a number in \[0, 1\), got -0.1"),
        (dict(label_normalization="softmax"), r"`label_normalization` must be one of"),
        (dict(label_space="S1"), r"`label_space` must be a marginal_generate.LabelSpace, got str"),
        (dict(estimate="upper"), r"`estimate` must be one of \['best', 'lower'\], got 'upper'; use 'best'"),
    ],
)
def test_bad_arguments(setup, kwargs, match):
    tok, model, space, inputs = setup
    args = dict(label_space=space, max_new_tokens=4) | kwargs
    with pytest.raises(ValueError, match=match):
        model.generate(**inputs, custom_generate=mg.marginalize, **args)


def test_bad_top_p_and_max_new_tokens(setup):
    tok, model, space, inputs = setup
    with pytest.raises(ValueError, match=r"`top_p`"):
        model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, top_p=1.5, max_new_tokens=4)
    with pytest.raises(ValueError, match=r"`max_new_tokens`"):
        model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, max_new_tokens=0)
    with pytest.raises(ValueError, match=r"`max_new_tokens` must be an integer >= 1"):
        mg.score(model, inputs.input_ids, inputs.attention_mask, space, max_new_tokens=0, eos_token_ids={2})
    with pytest.raises(ValueError, match=r"`top_p` must be a number in \(0, 1\], got 0"):
        mg.score(model, inputs.input_ids, inputs.attention_mask, space, top_p=0, eos_token_ids={2})


def test_max_length_without_room(setup):
    tok, model, space, inputs = setup
    with pytest.raises(ValueError, match=r"`max_length` is set to 3.*setting `max_new_tokens`"):  # generate's own check
        model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, max_length=3)


def test_missing_label_space(setup):
    tok, model, space, inputs = setup
    with pytest.raises(ValueError, match=r"marginalize needs `label_space=`"):
        model.generate(**inputs, custom_generate=mg.marginalize, max_new_tokens=4)


def test_model_without_eos(setup):
    tok, model, space, inputs = setup
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None
    try:
        with pytest.raises(ValueError, match=r"end-of-sequence id \(model\.generation_config\.eos_token_id is None\)"):
            mg.score(model, inputs.input_ids, inputs.attention_mask, space, max_new_tokens=4)
    finally:
        model.generation_config.eos_token_id = saved


def test_estimate_selects_what_probs_holds(setup):
    tok, model, space, inputs = setup
    best = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, strategy="any_place", **KW)
    lower = model.generate(
        **inputs, custom_generate=mg.marginalize, label_space=space, strategy="any_place", estimate="lower", **KW
    )
    assert (best.estimate, lower.estimate) == ("best", "lower")
    assert torch.equal(lower.probs, lower.lower) and torch.equal(best.lower, lower.lower)
    assert ((best.lower <= best.probs) & (best.probs <= best.upper)).all()
    assert (best.probs > best.lower + 1e-6).any()  # the cut dropped mass, and the estimate placed some of it
    assert (
        best.to_dict()["estimate"] == "best"
        and "estimate"
        not in mg.score(
            model, inputs.input_ids, inputs.attention_mask, space, ["greedy"], max_new_tokens=4, eos_token_ids={2}
        )["greedy"].to_dict()
    )
