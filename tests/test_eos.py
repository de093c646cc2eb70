"""Where the end-of-sequence ids come from (``marginal_generate.decoding.eos``), and the errors when none does."""

import os
from types import SimpleNamespace as NS

import pytest
import torch
from toy_models import PROMPTS, guard_model, tokenizer_of

import marginal_generate as mg
from marginal_generate.decoding.eos import eos_ids

MODEL = NS(generation_config=NS(eos_token_id=[1, 2]))
TOKENIZER = NS(eos_token_id=3)


def test_order_explicit_then_call_config_then_model_then_tokenizer():
    assert eos_ids([4, 5], generation_config=NS(eos_token_id=6), model=MODEL, tokenizer=TOKENIZER) == {4, 5}
    assert eos_ids(generation_config=NS(eos_token_id=6), model=MODEL, tokenizer=TOKENIZER) == {6}
    assert eos_ids(generation_config=NS(eos_token_id=None), model=MODEL, tokenizer=TOKENIZER) == {1, 2}
    assert eos_ids(model=NS(generation_config=NS(eos_token_id=None)), tokenizer=TOKENIZER) == {3}
    assert eos_ids(torch.tensor([7, 8])) == {7, 8}
    assert eos_ids(torch.tensor(9)) == {9}
    assert eos_ids({10}) == {10}


def test_no_id_anywhere_says_where_it_looked_and_what_to_set():
    empty_model = NS(generation_config=NS(eos_token_id=None))
    with pytest.raises(
        ValueError,
        match=r"^no end-of-sequence id \(model\.generation_config\.eos_token_id and tokenizer\.eos_token_id are "
        r"None\), so a completion could never end; set model\.generation_config\.eos_token_id \(e\.g\. to "
        r"tokenizer\.eos_token_id\) or pass eos_token_id=\.$",
    ):
        eos_ids(model=empty_model, tokenizer=NS(eos_token_id=None))
    with pytest.raises(ValueError, match=r"^no end-of-sequence id \(none given\)"):
        eos_ids()
    with pytest.raises(ValueError, match=r"\(model\.generation_config\.eos_token_id is None\)"):
        eos_ids(model=NS())


@pytest.mark.parametrize("bad", [-1, [], [1, -2], "2", [1.0], True, [None]])
def test_bad_ids_are_named(bad):
    with pytest.raises(ValueError, match=r"^`eos_token_id` must be a token id >= 0 or a list of them, got "):
        eos_ids(bad)
    with pytest.raises(ValueError, match=r"^`tokenizer\.eos_token_id` must be a token id >= 0"):
        eos_ids(tokenizer=NS(eos_token_id=bad))


# ---- the callers: each message names the caller's own argument ---------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture()
def no_eos_model():
    """The toy guard with no EOS in its generation config (restored after the test)."""
    model = guard_model("byte", dtype=torch.float32)
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None
    yield model
    model.generation_config.eos_token_id = saved


def test_score_names_eos_token_ids(no_eos_model):
    tok = tokenizer_of("byte")
    space, inputs = mg.LabelSpace.llama_guard(tok), tok(PROMPTS[:1], return_tensors="pt")
    with pytest.raises(ValueError, match=r"^`eos_token_ids` must be a token id >= 0 or a list of them, got \[-1\]\.$"):
        mg.score(no_eos_model, inputs.input_ids, inputs.attention_mask, space, ["greedy"], eos_token_ids=[-1])
    with pytest.raises(
        ValueError, match=r"model\.generation_config\.eos_token_id is None\).*or pass eos_token_ids=\.$"
    ):
        mg.score(no_eos_model, inputs.input_ids, inputs.attention_mask, space, ["greedy"])


def test_processor_names_eos_token_id():
    space = mg.LabelSpace.llama_guard(tokenizer_of("byte"))
    with pytest.raises(
        ValueError, match=r"^`eos_token_id` must be a token id >= 0 or a list of them, got \[3, -2\]\.$"
    ):
        mg.LabelScoresProcessor(space, eos_token_id=[3, -2])


def test_hub_layout_takes_the_tokenizers_eos_through_the_same_lookup(no_eos_model):
    tok = tokenizer_of("byte")
    inputs = tok(PROMPTS[:2], return_tensors="pt", padding=True)
    kw = dict(strategy="greedy", max_new_tokens=6)
    out = no_eos_model.generate(**inputs, custom_generate=ROOT, trust_remote_code=True, tokenizer=tok, **kw)
    want = mg.score(
        no_eos_model,
        inputs.input_ids,
        inputs.attention_mask,
        mg.LabelSpace.llama_guard(tok),
        ["greedy"],
        max_new_tokens=6,
        eos_token_ids={tok.eos_token_id},
    )["greedy"]
    assert out.texts == want.texts and torch.equal(out.probs, want.probs)
    assert no_eos_model.generation_config.eos_token_id is None  # filled in the method's copy only
    space = mg.LabelSpace.llama_guard(tok)
    with pytest.raises(
        ValueError,
        match=r"^no end-of-sequence id \(generation_config\.eos_token_id is None\).*"
        r"or pass eos_token_id=\.$",
    ):
        no_eos_model.generate(**inputs, custom_generate=ROOT, trust_remote_code=True, label_space=space, **kw)
