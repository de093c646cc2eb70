"""Greedy-path strategies against their definitions, computed by full forwards in float64."""

import math

import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of

import marginal_generate as mg
from marginal_generate.decoding.greedy_path import GreedyRecorder
from marginal_generate.decoding.reference import forward_next_logits, greedy_reference
from marginal_generate.decoding.search import Node

DEPTH = 8


def reference(kind: str, prompt: str):
    tok, space = tokenizer_of(kind), space_of(kind)
    model = guard_model(kind)
    next_logits = forward_next_logits(model, tok(prompt, add_special_tokens=False)["input_ids"])
    tokens, steps = greedy_reference(next_logits, {tok.eos_token_id}, DEPTH)
    return tok, space, next_logits, tokens, steps


def char_spans(tok, tokens):
    """Token spans by decoding token by token (labels are ASCII, so the pieces add up)."""
    spans, at = [], 0
    for t in tokens:
        piece = tok.decode([t], skip_special_tokens=True)
        spans.append((at, at + len(piece)))
        at += len(piece)
    return spans


@pytest.fixture(scope="module")
def scored(tokenizer_kind):
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    return {
        norm: mg.score(
            guard_model(tokenizer_kind),
            inputs.input_ids,
            inputs.attention_mask,
            space,
            list(mg.STRATEGIES),
            max_new_tokens=DEPTH,
            eps=0.01,
            top_p=0.99,
            label_normalization=norm,
            eos_token_ids={tok.eos_token_id},
        )
        for norm in ("label_tokens", "vocab")
    }


def test_greedy_token_level_strategies(tokenizer_kind, scored):
    out = scored["label_tokens"]
    labelled = 0
    for i, prompt in enumerate(PROMPTS):
        tok, space, _, tokens, steps = reference(tokenizer_kind, prompt)
        text = tok.decode(tokens, skip_special_tokens=True)
        assert out["greedy"].texts[i] == text
        assert out["greedy"].probs[i].tolist() == space.one_hot(space.parse(text))
        chosen = [float(step[t]) for step, t in zip(steps, tokens)]
        spans = char_spans(tok, tokens)
        expected_tp = [0.0] * len(space.labels)
        expected_fp = [0.0] * len(space.labels)
        for label in space.parser.spans(text):
            covering = [k for k, (a, b) in enumerate(spans) if a < label.end and b > label.start]
            expected_tp[space.index[label.label]] = math.exp(sum(chosen[k] for k in covering))
            expected_fp[space.index[label.label]] = math.exp(sum(chosen[: covering[-1] + 1]))
            labelled += 1
        assert out["token_probability"].probs[i].tolist() == pytest.approx(expected_tp, abs=1e-6)
        assert out["fixed_place"].probs[i].tolist() == pytest.approx(expected_fp, abs=1e-6)
    assert labelled >= 3  # the toy guard writes labels: the comparison is not vacuous


def test_first_token(tokenizer_kind, scored):
    out = scored["label_tokens"]["first_token"]
    for i, prompt in enumerate(PROMPTS):
        tok, space, _, tokens, steps = reference(tokenizer_kind, prompt)
        k = next(
            k
            for k, t in enumerate(tokens)
            if tok.decode([t], skip_special_tokens=True).strip() or t == tok.eos_token_id
        )
        neg, pos = (torch.logsumexp(steps[k][list(ids)], 0) for ids in space.verbalizer_ids)
        assert out.probs[i, 0].item() == pytest.approx(torch.sigmoid(pos - neg).item(), abs=1e-6)
        assert torch.isnan(out.probs[i, 1:]).all()


def category_positions(tok, space, tokens):
    """Steps k at which the greedy text written so far ends with an open item's shared leading text."""
    common_text = tok.decode(list(space.branch[0]))
    out = []
    for k in range(len(tokens)):
        text = tok.decode(tokens[:k], skip_special_tokens=True)
        lines = text.lstrip().split("\n")
        if len(lines) == 2 and lines[0].strip() == "unsafe" and lines[1].split(",")[-1].lstrip() == common_text:
            out.append(k)
    return out


def test_max_over_generations_restricted_softmax(tokenizer_kind, scored):
    out = scored["label_tokens"]
    seen = 0
    for i, prompt in enumerate(PROMPTS):
        tok, space, _, tokens, steps = reference(tokenizer_kind, prompt)
        branch = space.branch[1]
        ids = sorted(set(branch.values()))
        best = [0.0] * len(space.categories)
        first = None
        for k in category_positions(tok, space, tokens):
            restricted = torch.softmax(steps[k][ids], 0)
            row = [float(restricted[ids.index(branch[c])]) for c in space.categories]
            first = first or row
            best = [max(a, b) for a, b in zip(best, row)]
            seen += 1
        assert out["max_over_generations"].probs[i, 1:].tolist() == pytest.approx(best, abs=1e-6)
        assert out["first_generation"].probs[i, 1:].tolist() == pytest.approx(first or [0.0] * 14, abs=1e-6)
    assert seen >= 2


def test_max_over_generations_vocab_lookahead(tokenizer_kind, scored):
    out = scored["vocab"]["max_over_generations"]
    for i, prompt in enumerate(PROMPTS):
        tok, space, next_logits, tokens, _ = reference(tokenizer_kind, prompt)
        delimiters = space.delimiter_mask.clone()
        delimiters[tok.eos_token_id] = True
        common = len(space.branch[0])
        best = [0.0] * len(space.categories)
        for k in category_positions(tok, space, tokens):
            for j, c in enumerate(space.categories):
                rest = list(space.category_token_ids[c][common:])
                logp = 0.0
                for m, t in enumerate(rest):
                    logp += float(torch.log_softmax(next_logits(tokens[:k] + rest[:m]), 0)[t])
                after = torch.log_softmax(next_logits(tokens[:k] + rest), 0)
                logp += float(torch.logsumexp(after[delimiters[: after.shape[0]]], 0))
                best[j] = max(best[j], math.exp(logp))
        assert out.probs[i, 1:].tolist() == pytest.approx(best, abs=1e-6)


def test_any_place_alone_records_the_greedy_tokens_only(tokenizer_kind, scored):
    """With no greedy-path strategy asked for, the recorder keeps the greedy tokens (the texts) and reads no
    next-token row: the search makes none for the greedy path, and any_place is the same bit for bit."""
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    model, eos = guard_model(tokenizer_kind), {tok.eos_token_id}
    alone = mg.score(
        model, inputs.input_ids, inputs.attention_mask, space, ["any_place"], max_new_tokens=DEPTH, eos_token_ids=eos
    )["any_place"]
    every = scored["label_tokens"]
    assert alone.texts == every["greedy"].texts
    for attr in ("lower", "upper", "probs"):
        assert torch.equal(getattr(alone, attr), getattr(every["any_place"], attr)), attr
    recorder = GreedyRecorder(space, 1, eos, strategies=["any_place", "greedy"])
    assert not recorder.reads_rows
    assert recorder.observe(Node(row=0, tokens=(), state=None), 0, None, 5) == [] and recorder.tokens == [[5]]
    with pytest.raises(ValueError, match=r"`strategy` 'token_probability' was not recorded: .* \['greedy'\] read"):
        recorder.read("token_probability")
