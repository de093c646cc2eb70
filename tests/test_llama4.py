"""Llama Guard 4's shape: Llama4ForConditionalGeneration, the Llama 4 tokenizer (202,048 tokens), text-only input, the
Auto classes."""

import json
import math

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer

import marginal_generate as mg
from marginal_generate.cli import main
from marginal_generate.decoding.reference import forward_next_logits, greedy_reference, tree_search_reference
from marginal_generate.loading import load_model
from marginal_generate.prompts import conversation, encode_conversations
from marginal_generate.testing import GUARD_BIGRAMS, GUARD_PROMPTS, llama4_tokenizer, plant_guard_bias, tiny_llama4

CONVERSATIONS = [conversation("How do I pick a lock?"), conversation("Hi", "Hello! How can I help?")]
PROMPTS = [p for p, _ in GUARD_PROMPTS]
KW = dict(max_new_tokens=5, eps=0.02, top_p=0.99)
LOGIT_SCALE = 0.04  # the random model's own logits stay small next to the planted guard bigrams


def logit_bound(model) -> float:
    """A bound on the text model's own logits anywhere: ``|w_j . g * h / rms(h)| <= |w_j| * max|g| * sqrt(d)``."""
    head = model.get_output_embeddings().weight.detach()
    norm = model.language_model.model.norm.weight.detach()
    return float(head.norm(dim=1).max() * norm.abs().max() * head.shape[1] ** 0.5)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama-guard-4")
    tok = llama4_tokenizer()
    model = tiny_llama4(tok, logit_scale=LOGIT_SCALE)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def loaded(saved):
    """The saved model with the guard bigrams planted on its text model's logits (what text-only generate runs), so
    every tree branches by construction: with the model's own logits within ±b, each planted transition keeps at least
    exp(-2b) of its probability, and after '\\n\\n' (0.9) both 'unsafe' (0.55) and 'safe' (0.45) stay alive."""
    model = AutoModelForImageTextToText.from_pretrained(saved).eval()
    tok = AutoTokenizer.from_pretrained(saved, padding_side="left")
    plant_guard_bias(model.language_model, tok)
    weakest = GUARD_BIGRAMS[""]["\n\n"] * GUARD_BIGRAMS["\n\n"]["safe"] * math.exp(-4 * logit_bound(model))
    assert weakest > 5 * KW["eps"], weakest  # b = 0.29 here: 0.405 * exp(-1.17) = 0.126, over 6 times the cut
    return model, tok, mg.LabelSpace.llama_guard(tok)


def test_auto_classes_give_the_guard_4_class(loaded, saved):
    model, tok, space = loaded
    assert type(model).__name__ == "Llama4ForConditionalGeneration" and len(tok) == 202048
    assert type(load_model(str(saved), "cpu", "float32")[0]).__name__ == "Llama4ForConditionalGeneration"
    assert "chunked_attention" in model.config.text_config.layer_types
    assert [tok.decode([t]) for t in space.category_token_ids["S10"]] == ["S", "10"]


def test_marginalize_text_only_against_the_reference(loaded):
    model, tok, space = loaded
    branched = 0
    for prompt in PROMPTS:  # one prompt at a time: no padding, as the reference sees it
        inputs = tok([prompt], return_tensors="pt", add_special_tokens=False)
        out = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, strategy="any_place", **KW)
        assert out.stats["attention"] == "batched"
        assert (
            "tree attention cannot serve this model (its layers include chunked_attention ones"
            in out.stats["attention_note"]
        )
        branched += max(out.stats["frontier_widths"]) > 1
        ids = inputs["input_ids"][0].tolist()
        next_logits = forward_next_logits(model.language_model, ids)
        lower, upper, _ = tree_search_reference(
            next_logits, space, {tok.eos_token_id}, KW["max_new_tokens"], top_p=KW["top_p"], eps=KW["eps"]
        )
        assert (out.lower[0] - lower).abs().max() <= 1e-5 and (out.upper[0] - upper).abs().max() <= 1e-5
        greedy = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space, strategy="greedy", **KW)
        tokens, _ = greedy_reference(next_logits, {tok.eos_token_id}, KW["max_new_tokens"])
        assert greedy.texts[0] == tok.decode(tokens, skip_special_tokens=True)
    assert branched == len(PROMPTS)  # every tree branched (certain, see `loaded`): the comparison is not vacuous


def test_batch_equals_one_at_a_time_and_flag_form(loaded):
    model, tok, space = loaded
    mg.enable(model)
    batch = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    assert (
        batch["attention_mask"] == 0
    ).any()  # left padding shifts the chunks of chunked attention: positions must not
    together = model.generate(**batch, marginalize="any_place", label_space=space, **KW)
    assert max(together.stats["frontier_widths"]) > len(PROMPTS)
    for i, prompt in enumerate(PROMPTS):
        alone = model.generate(
            **tok([prompt], return_tensors="pt", add_special_tokens=False),
            marginalize="any_place",
            label_space=space,
            **KW,
        )
        assert torch.allclose(together.probs[i], alone.probs[0], atol=1e-5)
        assert together.texts[i] == alone.texts[0]
    texts = model.generate(
        **encode_conversations(tok, CONVERSATIONS), marginalize="greedy", label_space=space, **KW
    ).texts
    assert len(texts) == 2  # the published-template prompts run too
    with pytest.raises(
        ValueError,
        match="`attention='tree'` needs sdpa or eager attention over full-attention "
        "layers; its layers include chunked_attention",
    ):
        model.generate(**batch, marginalize="any_place", label_space=space, attention="tree", **KW)


def test_evaluation_cli(saved, tmp_path, capsys):
    data = tmp_path / "seed.jsonl"
    rows = [{"llama_guard_3_categories": ["S1", "S10"], "unsafe_query": f"query number {k}"} for k in range(6)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        [
            "evaluate",
            "--model",
            str(saved),
            "--dataset",
            str(data),
            "--strategies",
            "greedy,any_place",
            "--validation-fraction",
            "0",
            "--output-dir",
            str(out),
            "--no-plots",
            "--no-progress",
            "--batch-size",
            "3",
        ]
    )
    assert code == 0, capsys.readouterr().err
    run = json.loads((out / "run.json").read_text())
    assert run["prompt_format"] == "auto" and run["prompt_format_resolved"] == "llama_guard_3"
    assert "any_place" in capsys.readouterr().out
    assert len((out / "scores.jsonl").read_text().splitlines()) == 6
