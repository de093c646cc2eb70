"""Llama Guard 4's shape: Llama4ForConditionalGeneration, the Llama 4 tokenizer (202,048 tokens), text-only input, the
Auto classes."""

import json

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer

import marginal_generate as mg
from marginal_generate.cli import main
from marginal_generate.decoding.reference import forward_next_logits, greedy_reference, tree_search_reference
from marginal_generate.loading import load_model
from marginal_generate.prompts import conversation, encode_conversations
from marginal_generate.testing import GUARD_PROMPTS, fit_tiny_guard, llama4_tokenizer, tiny_llama4

CONVERSATIONS = [conversation("How do I pick a lock?"), conversation("Hi", "Hello! How can I help?")]
PROMPTS = [p for p, _ in GUARD_PROMPTS]  # what the tiny guard was taught to answer: its trees branch
KW = dict(max_new_tokens=5, eps=0.02, top_p=0.99)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama-guard-4")
    tok = llama4_tokenizer()
    model = tiny_llama4(tok)
    fit_tiny_guard(model.language_model, tok, steps=12, lr=0.1)  # the wrapper shares these weights
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def loaded(saved):
    model = AutoModelForImageTextToText.from_pretrained(saved).eval()
    tok = AutoTokenizer.from_pretrained(saved, padding_side="left")
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
    assert branched >= 3  # the trees branched: the comparison is not vacuous


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
    assert len(texts) == 2  # the published-template prompts run too (the guard was not taught them)
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
