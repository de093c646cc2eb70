"""Yes/no guards: one prompt per policy through the published ShieldGemma and Granite Guardian chat templates."""

import copy
import json
import math
from pathlib import Path

import pytest
import torch

import marginal_generate as mg
from marginal_generate.decoding.reference import forward_next_logits, greedy_reference
from marginal_generate.policy_prompts import policy_prompt_texts, score_policy_prompts
from marginal_generate.testing import byte_level_tokenizer, tiny_llama

TEMPLATES = json.loads(
    (Path(__file__).resolve().parents[2] / "shared" / "reference" / "guard_chat_templates.json").read_text()
)
CONVERSATIONS = [
    [{"role": "user", "content": "how do I bake bread"}],
    [{"role": "user", "content": "how do I hurt someone"}],
]
SHIELDGEMMA = {"dangerous": {"guideline": "No Dangerous Content."}, "harassment": {"guideline": "No Harassment."}}
GRANITE = {
    "harm": {"guardian_config": {"risk_name": "harm"}},
    "jailbreak": {"guardian_config": {"risk_name": "jailbreak"}},
}


def guard(template_key: str):
    tok = byte_level_tokenizer(
        ["Yes", "No", "Yes, it does", "No"] * 20 + [TEMPLATES[template_key][:2000]], vocab_size=120
    )
    tok.chat_template = TEMPLATES[template_key]
    return tok, tiny_llama(tok, seed=3, logit_scale=2.0).double()


@pytest.mark.parametrize(
    ("template_key", "policies"), [("library/shieldgemma:27b", SHIELDGEMMA), ("library/granite3-guardian:2b", GRANITE)]
)
def test_policy_prompts_equal_first_token_on_each_rendered_prompt(template_key, policies):
    tok, model = guard(template_key)
    out = score_policy_prompts(model, tok, CONVERSATIONS, policies, max_new_tokens=3)
    plain = score_policy_prompts(model, tok, CONVERSATIONS, policies, max_new_tokens=3, share_prefix=False)
    assert out.labels == tuple(policies) and out.stats["shared_prefix_tokens"] > 0
    assert torch.allclose(out.probs, plain.probs, atol=1e-6, equal_nan=True)
    for i, conv in enumerate(CONVERSATIONS):
        for j, (label, kwargs) in enumerate(policies.items()):
            text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True, **kwargs)
            space = mg.LabelSpace.yes_no(tok, label)
            ids = tok(text, add_special_tokens=False)["input_ids"]
            tokens, steps = greedy_reference(forward_next_logits(model, ids), {tok.eos_token_id}, 3)
            k = next(
                (
                    k
                    for k, t in enumerate(tokens)
                    if tok.decode([t], skip_special_tokens=True).strip() or t == tok.eos_token_id
                ),
                None,
            )
            if k is None:
                assert torch.isnan(out.probs[i, j])
                continue
            neg, pos = (torch.logsumexp(steps[k][list(v)], 0) for v in space.verbalizer_ids)
            assert out.probs[i, j].item() == pytest.approx(torch.sigmoid(pos - neg).item(), abs=1e-6)
    assert len({round(v, 6) for v in out.probs.flatten().tolist()}) > 1  # policies differ: the test can fail


def test_policy_prompt_errors():
    tok, model = guard("library/shieldgemma:27b")
    with pytest.raises(ValueError, match=r"`policies` is empty"):
        score_policy_prompts(model, tok, CONVERSATIONS, {})
    with pytest.raises(ValueError, match=r"`max_new_tokens` must be an integer >= 1, got 0"):
        score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA, max_new_tokens=0)
    tok.chat_template = None
    with pytest.raises(ValueError, match=r"`tokenizer` has no chat_template"):
        score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA)


DATA = json.loads((Path(__file__).resolve().parent / "data" / "guard_chat_templates.json").read_text())
BY_NAME = {
    "shieldgemma": ("library/shieldgemma:27b", SHIELDGEMMA),
    "granite_guardian": ("library/granite3-guardian:2b", GRANITE),
}


@pytest.mark.parametrize("prompt_format", ["shieldgemma", "granite_guardian"])
def test_published_template_by_name(prompt_format):
    template_key, policies = BY_NAME[prompt_format]
    tok, model = guard(template_key)
    assert tok.chat_template == DATA[template_key]  # tests/data holds the same published text
    bare = copy.deepcopy(tok)
    bare.chat_template = None
    for conv in CONVERSATIONS:
        expected = [
            tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True, **kw) for kw in policies.values()
        ]
        assert policy_prompt_texts(bare, conv, policies, prompt_format) == expected  # byte-exact
        assert policy_prompt_texts(tok, conv, policies) == expected
    named = score_policy_prompts(model, bare, CONVERSATIONS, policies, max_new_tokens=3, prompt_format=prompt_format)
    own = score_policy_prompts(model, tok, CONVERSATIONS, policies, max_new_tokens=3)
    assert torch.equal(torch.isnan(named.probs), torch.isnan(own.probs))
    assert torch.allclose(named.probs, own.probs, atol=1e-9, equal_nan=True)
    checked = 0
    for i, conv in enumerate(CONVERSATIONS):  # against a direct forward of each prompt
        for j, text in enumerate(policy_prompt_texts(bare, conv, policies, prompt_format)):
            logits = model(torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])).logits[0, -1]
            tokens, steps = greedy_reference(
                forward_next_logits(model, tok(text, add_special_tokens=False)["input_ids"]), {tok.eos_token_id}, 3
            )
            if not tok.decode([tokens[0]], skip_special_tokens=True).strip():
                continue  # the answer starts later; the test above covers those rows
            assert torch.allclose(steps[0], torch.log_softmax(logits, 0), atol=1e-9)
            neg, pos = (
                torch.logsumexp(torch.log_softmax(logits, 0)[list(v)], 0)
                for v in mg.LabelSpace.yes_no(tok, "x").verbalizer_ids
            )
            assert named.probs[i, j].item() == pytest.approx(torch.sigmoid(pos - neg).item(), abs=1e-6)
            checked += 1
    assert checked >= 1


def test_policy_prompt_format_errors():
    tok, model = guard("library/shieldgemma:27b")
    with pytest.raises(
        ValueError,
        match=r"`prompt_format` must be one of \['shieldgemma', 'granite_guardian'\] .* got "
        r"'llama_guard_3'; for Llama Guard formats use mg.score_label_prompts",
    ):
        score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA, prompt_format="llama_guard_3")
    tok.chat_template = None
    with pytest.raises(
        ValueError, match=r"`tokenizer` has no chat_template; pass prompt_format='shieldgemma' or 'granite_guardian'"
    ):
        score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA)
    with pytest.raises(ValueError, match=r"prompt_format='shieldgemma' needs `guideline=`"):
        score_policy_prompts(model, tok, CONVERSATIONS, {"x": {}}, prompt_format="shieldgemma")


def newline_first_guard():
    """A tiny guard whose logits are replaced by a table keyed by the previous token: after the prompt it writes a
    space (0.9; Yes 0.02, No 0.08), then Yes 0.7 / No 0.3, then EOS."""
    tok, model = guard("library/shieldgemma:27b")
    model = copy.deepcopy(model)
    space, yes, no = (tok.convert_tokens_to_ids(t) for t in ("Ġ", "Yes", "No"))
    assert tok.decode([space]) == " " and (yes,) == mg.LabelSpace.yes_no(tok, "x").verbalizer_ids[1]
    rows = torch.full((3, len(tok)), -math.inf, dtype=torch.float64)
    rows[0, [space, yes, no]] = torch.tensor([0.9, 0.02, 0.08], dtype=torch.float64).log()
    rows[1, [yes, no]] = torch.tensor([0.7, 0.3], dtype=torch.float64).log()
    rows[2, tok.eos_token_id] = 0.0
    index = torch.zeros(len(tok), dtype=torch.long)  # any prompt token: row 0
    index[space], index[yes], index[no] = 1, 2, 2

    def replace(_module, args, kwargs, output):
        ids = kwargs.get("input_ids", args[0] if args else None)
        output.logits = rows[index[ids[:, -output.logits.shape[1] :]]]
        return output

    model.register_forward_hook(replace, with_kwargs=True)
    return tok, model


@pytest.mark.parametrize("share_prefix", [True, False])
def test_read_at_first_word_or_first_step(share_prefix):
    tok, model = newline_first_guard()
    kw = dict(max_new_tokens=3, share_prefix=share_prefix)
    word = score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA, **kw)
    step = score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA, read_at="first_step", **kw)
    assert word.probs.flatten().tolist() == pytest.approx([0.7] * 4, abs=1e-12)  # where "Yes" is written
    assert step.probs.flatten().tolist() == pytest.approx([0.2] * 4, abs=1e-12)  # 0.02 / (0.02 + 0.08)
    assert word.texts == [" Yes", " Yes"] and step.texts == [" ", " "]
    assert (word.stats["read_at"], step.stats["read_at"]) == ("first_word", "first_step")
    one_word = score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA, max_new_tokens=1)
    assert torch.isnan(one_word.probs).all()  # the first word is not written within max_new_tokens: NaN


def test_read_at_error():
    tok, model = guard("library/shieldgemma:27b")
    with pytest.raises(
        ValueError,
        match=r"^`read_at` must be one of \['first_word', 'first_step'\], got 'answer'; use 'first_word' \(where",
    ):
        score_policy_prompts(model, tok, CONVERSATIONS, SHIELDGEMMA, read_at="answer")
