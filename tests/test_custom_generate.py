"""The Hub layout: model.generate(custom_generate=<repository root>, trust_remote_code=True, ...) equals
mg.marginalize."""

import os
import sys

import pytest
import torch
from toy_models import PROMPTS, guard_model, tokenizer_of
from transformers.dynamic_module_utils import get_imports

import marginal_generate as mg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KW = {"eps": 0.01, "top_p": 0.99, "max_new_tokens": 6}


@pytest.fixture(scope="module")
def setup():
    tok = tokenizer_of("byte")
    return tok, guard_model("byte", dtype=torch.float32), tok(PROMPTS, return_tensors="pt", padding=True)


@pytest.mark.parametrize("strategy", ["any_place", "fixed_place", "first_token"])
def test_hub_layout_equals_marginalize(setup, strategy):
    tok, model, inputs = setup
    out = model.generate(**inputs, custom_generate=ROOT, trust_remote_code=True, tokenizer=tok, strategy=strategy, **KW)
    want = model.generate(
        **inputs, custom_generate=mg.marginalize, label_space=mg.LabelSpace.llama_guard(tok), strategy=strategy, **KW
    )
    assert type(out).__name__ == "LabelScores" and out.strategy == strategy and out.labels == want.labels
    assert out.texts == want.texts
    assert torch.equal(out.probs.isnan(), want.probs.isnan())
    assert torch.equal(out.probs.nan_to_num(), want.probs.nan_to_num())
    assert (out.probs[:, 0] > 0.5).sum() >= 1  # the toy guard flags some prompts (4 here; 2 to 6 over seeds 0-5)
    if strategy == "any_place":
        assert torch.equal(out.upper, want.upper) and out.completions == want.completions


def test_label_space_wins_over_the_tokenizer(setup):
    tok, model, inputs = setup
    space = mg.LabelSpace.llama_guard(tok, categories=["S1", "S2"])
    out = model.generate(
        **inputs,
        custom_generate=ROOT,
        trust_remote_code=True,
        tokenizer=tok,
        label_space=space,
        strategy="any_place",
        **KW,
    )
    want = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, strategy="any_place", **KW)
    assert out.labels == ("unsafe", "S1", "S2")
    assert torch.equal(out.probs, want.probs)


def test_generation_config_fields_update_a_copy(setup):
    tok, model, inputs = setup
    short = model.generate(
        **inputs, custom_generate=ROOT, trust_remote_code=True, tokenizer=tok, strategy="greedy", max_new_tokens=1
    )
    assert short.texts[2:] == ["unsafe"] * 4  # one new token: the first word only
    assert model.generation_config.max_new_tokens is None  # the model's own config is left alone


def test_errors(setup):
    tok, model, inputs = setup
    with pytest.raises(
        ValueError,
        match=r"needs `tokenizer=` \(it then builds mg.LabelSpace.llama_guard\(tokenizer\)\) or `label_space=`",
    ):
        model.generate(**inputs, custom_generate=ROOT, trust_remote_code=True, strategy="any_place", **KW)
    with pytest.raises(ValueError, match=r"`assistant_model` is not supported by marginal-generate's custom_generate"):
        model.generate(
            **inputs, custom_generate=ROOT, trust_remote_code=True, tokenizer=tok, assistant_model=model, **KW
        )
    with pytest.raises(ValueError, match=r"`strategy` must be one of"):
        model.generate(**inputs, custom_generate=ROOT, trust_remote_code=True, tokenizer=tok, strategy="beam", **KW)
    with pytest.raises(ValueError, match=r"trust_remote_code"):  # transformers refuses to run it unasked
        model.generate(**inputs, custom_generate=ROOT, tokenizer=tok, **KW)


def test_the_hub_file_needs_only_the_installed_package():
    path = os.path.join(ROOT, "custom_generate", "generate.py")
    third_party = set(get_imports(path)) - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == {"marginal_generate", "transformers"}
    with open(os.path.join(ROOT, "custom_generate", "requirements.txt")) as f:
        names = [line.split(">")[0].split("=")[0].strip() for line in f if line.strip() and not line.startswith("#")]
    assert names[0] == "marginal-generate" and "transformers" in names
