"""Every output grammar under every strategy, against brute force and the definitions.

Grammars: label lists (Ma et al.), yes/no (ShieldGemma, Granite Guardian), fields (WildGuard,
Qwen3Guard); tokenizers: byte-level BPE (Llama 3's pre-tokenizer) and SentencePiece-style BPE,
trained on each grammar's answers (see grammar_models.py).
"""

import math
import random

import pytest
import torch
from grammar_models import EMOTIONS, PAIRS, PROMPTS, QWEN_FIELDS, model, space, tokenizer

import marginal_generate as mg
from marginal_generate.decoding.reference import (
    enumerate_label_probs,
    forward_next_logits,
    greedy_reference,
    tree_search_reference,
)
from marginal_generate.labels.fields import WILDGUARD_FIELDS, Field, FieldsParser
from marginal_generate.labels.label_list import LabelListParser
from marginal_generate.labels.yes_no import YesNoParser
from marginal_generate.testing import word_level_tokenizer

KINDS = ["byte", "sentencepiece"]
GRAMMARS = ["label_list", "yes_no", "wildguard", "qwen3guard"]
DEPTH = {"label_list": 8, "yes_no": 4, "wildguard": 16, "qwen3guard": 12}


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


# ---- the grammars themselves: prefix states agree with the parse of every continuation -------------
PIECES = {
    "label_list": [
        "joy",
        "anger",
        "an",
        "ticipation",
        "anticipation",
        "sad",
        "ness",
        "sadness",
        "none",
        "x",
        ",",
        " ",
        "\n",
        "Joy",
    ],
    "yes_no": ["Yes", "Ye", "s", "No", "terday", " ", "\n", ",", "."],
    "wildguard": [
        "Harmful request",
        "Harmful response",
        "Response refusal",
        ":",
        " ",
        "yes",
        "no",
        "\n",
        "x",
        "Harmful request: ",
        "Response refusal: ",
        "Harmful response: ",
        "yes\n",
        "Harmful request: no\n",
        "Response refusal: yes\n",
        "Harmful response: no\n",
    ],
    "qwen3guard": [
        "Safety",
        "Categories",
        ":",
        " ",
        "Safe",
        "Un",
        "safe",
        "Violent",
        "Jailbreak",
        "None",
        ",",
        "\n",
        "Safety: ",
        "Categories: ",
        "Controversial",
        "Unsafe\n",
        "Controversial\n",
        "Categories: Violent,",
    ],
}
PARSERS = {
    "label_list": LabelListParser(EMOTIONS),
    "yes_no": YesNoParser("violence"),
    "wildguard": FieldsParser(WILDGUARD_FIELDS),
    "qwen3guard": FieldsParser(QWEN_FIELDS),
}


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_prefix_states_agree_with_every_continuation(grammar):
    parser, pieces, rng = PARSERS[grammar], PIECES[grammar], random.Random(0)
    seen_labels, finals = set(), 0
    covering = [a for _, a in PAIRS[grammar]] + ["Safety: Safe\nCategories: Jailbreak"]
    randoms = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 9))) for _ in range(400)]
    for text in covering + randoms:
        full = parser.parse(text)
        seen_labels |= full
        for cut in range(len(text) + 1):
            state = parser.prefix_state(text[:cut], finished=False)
            assert state.confirmed <= full, (text, cut)
            assert full <= state.confirmed | state.possible, (text, cut)
            if state.final:
                finals += 1
                assert full == state.confirmed, (text, cut)
        end = parser.prefix_state(text, finished=True)
        assert end.confirmed == full and end.final
        for span in parser.spans(text):
            assert span.label.casefold().endswith(text[span.start : span.end].casefold()) or grammar == "yes_no"
    assert seen_labels == set(parser.labels)  # every label was read: the test can fail
    assert finals > 0


def test_label_list_reads_names_that_share_leading_text():
    p = LabelListParser(EMOTIONS)
    assert p.parse("sadness") == {"sadness"} and p.parse("sad") == {"sad"}
    assert p.parse(" anger ,anticipation\njoy") == {"anger", "anticipation"}  # later lines ignored
    assert p.parse("sad ness, angry, none") == frozenset()  # items that are no label count as none
    assert p.prefix_state("an", finished=False).possible == frozenset(EMOTIONS)
    assert p.prefix_state("sad", finished=True).confirmed == {"sad"}
    assert LabelListParser(EMOTIONS, case_sensitive=False).parse("Joy, SAD") == {"joy", "sad"}
    assert LabelListParser(EMOTIONS).parse("Joy") == frozenset()
    assert LabelListParser(EMOTIONS, separator=";").parse("joy; anger, sad") == {"joy"}


def test_fields_read_each_field_once():
    p = FieldsParser(QWEN_FIELDS)
    assert p.parse("Safety: Unsafe\nSafety: Safe") == {"Safety: Unsafe"}
    assert p.parse("Categories: None") == frozenset()
    assert p.prefix_state("Safety: Safe\nCategories: Violent, Jailbreak\n", finished=False).final
    w = FieldsParser(WILDGUARD_FIELDS)
    assert w.parse("Harmful request: no\nHarmful response: yes") == {"Harmful response: yes"}


# ---- any_place: exhaustive enumeration and the per-node reference ------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("grammar", ["label_list", "yes_no"])
def test_exact_any_place_equals_enumerating_every_completion(grammar, kind):
    tok, sp = tokenizer(grammar, kind), space(grammar, kind)
    m = model(grammar, kind, trained=False)
    depth = 3
    prompt = PROMPTS[grammar][0]
    exact = enumerate_label_probs(m, ids(tok, prompt), sp, {tok.eos_token_id}, depth)
    inputs = tok([prompt], return_tensors="pt", add_special_tokens=False)
    out = mg.score(
        m,
        inputs.input_ids,
        inputs.attention_mask,
        sp,
        ["any_place"],
        max_new_tokens=depth,
        eps=0.0,
        top_p=1.0,
        eos_token_ids={tok.eos_token_id},
    )["any_place"]
    assert exact.max() > 1e-4  # labels carry mass (0.002 to 0.009 over seeds 0-5): the test can fail
    assert torch.allclose(out.lower[0], exact, atol=1e-9)
    assert torch.allclose(out.upper[0], exact, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("grammar", GRAMMARS)
def test_any_place_matches_the_per_node_reference(grammar, kind):
    tok, sp, m = tokenizer(grammar, kind), space(grammar, kind), model(grammar, kind)
    depth = DEPTH[grammar]
    inputs = tok(PROMPTS[grammar], return_tensors="pt", padding=True, add_special_tokens=False)
    for eps, top_p in [(0.02, 0.99), (0.005, 0.9)]:
        out = mg.score(
            m,
            inputs.input_ids,
            inputs.attention_mask,
            sp,
            ["any_place"],
            max_new_tokens=depth,
            eps=eps,
            top_p=top_p,
            eos_token_ids={tok.eos_token_id},
        )["any_place"]
        for i, prompt in enumerate(PROMPTS[grammar]):
            lower, upper, _ = tree_search_reference(
                forward_next_logits(m, ids(tok, prompt)), sp, {tok.eos_token_id}, depth, top_p=top_p, eps=eps
            )
            assert (out.lower[i] - lower).abs().max() <= 1e-6, (eps, prompt)
            assert (out.upper[i] - upper).abs().max() <= 1e-6, (eps, prompt)
    assert out.lower.max() > 0.3  # the trained model writes labels


# ---- greedy-path strategies against their definitions ---------------------------------------------
def char_spans(tok, tokens):
    spans, at = [], 0
    for t in tokens:
        piece = tok.decode([t], skip_special_tokens=True)
        spans.append((at, at + len(piece)))
        at += len(piece)
    return spans


def label_steps(sp, tok, tokens):
    """Greedy steps where a slot's option starts, with the slot (the grammar's open item)."""
    out = []
    for k in range(len(tokens)):
        text = tok.decode(tokens[:k], skip_special_tokens=True)
        item = sp.grammar.open_item(text)
        if item is not None and text[item[1] :] == sp.slot_tokens[item[0]].common_text:
            out.append((k, item[0]))
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("grammar", GRAMMARS)
def test_greedy_path_strategies(grammar, kind):
    tok, sp, m = tokenizer(grammar, kind), space(grammar, kind), model(grammar, kind)
    depth = DEPTH[grammar]
    inputs = tok(PROMPTS[grammar], return_tensors="pt", padding=True, add_special_tokens=False)
    strategies = [s for s in mg.STRATEGIES if s != "any_place" and (s != "first_token" or sp.verbalizer)]
    kw = dict(max_new_tokens=depth, eos_token_ids={tok.eos_token_id})
    out = mg.score(m, inputs.input_ids, inputs.attention_mask, sp, strategies, **kw)
    vocab = mg.score(
        m, inputs.input_ids, inputs.attention_mask, sp, ["max_over_generations"], label_normalization="vocab", **kw
    )["max_over_generations"]
    labelled, steps_seen = 0, 0
    for i, prompt in enumerate(PROMPTS[grammar]):
        next_logits = forward_next_logits(m, ids(tok, prompt))
        tokens, steps = greedy_reference(next_logits, {tok.eos_token_id}, depth)
        text = tok.decode(tokens, skip_special_tokens=True)
        assert out["greedy"].texts[i] == text
        assert out["greedy"].probs[i].tolist() == sp.one_hot(sp.parse(text))
        chosen = [float(step[t]) for step, t in zip(steps, tokens)]
        spans = char_spans(tok, tokens)
        tp, fp = [0.0] * len(sp.labels), [0.0] * len(sp.labels)
        for label in sp.parser.spans(text):
            covering = [k for k, (a, b) in enumerate(spans) if a < label.end and b > label.start]
            tp[sp.index[label.label]] = math.exp(sum(chosen[k] for k in covering))
            fp[sp.index[label.label]] = math.exp(sum(chosen[: covering[-1] + 1]))
            labelled += 1
        assert out["token_probability"].probs[i].tolist() == pytest.approx(tp, abs=1e-6)
        assert out["fixed_place"].probs[i].tolist() == pytest.approx(fp, abs=1e-6)

        best, best_vocab = [0.0] * len(sp.labels), [0.0] * len(sp.labels)
        if sp.verbalizer is not None:
            k = next(
                k
                for k, t in enumerate(tokens)
                if tok.decode([t], skip_special_tokens=True).strip() or t == tok.eos_token_id
            )
            neg, pos = (torch.logsumexp(steps[k][list(v)], 0) for v in sp.verbalizer_ids)
            column = sp.index[sp.verbalizer.label]
            assert out["first_token"].probs[i, column].item() == pytest.approx(
                torch.sigmoid(pos - neg).item(), abs=1e-6
            )
            best[column] = torch.sigmoid(pos - neg).item()
            best_vocab[column] = math.exp(pos)
        for k, s in label_steps(sp, tok, tokens):
            slot = sp.slot_tokens[s]
            branch = slot.branch_ids
            restricted = dict(zip(branch, torch.softmax(steps[k][branch], 0).tolist()))
            mask = sp.slot_delimiter_mask(s).clone()
            mask[tok.eos_token_id] = True
            for option, label in slot.labels.items():
                if label is None:
                    continue
                p = sum(restricted[t] for t in slot.first[option])
                best[sp.index[label]] = max(best[sp.index[label]], p)
                rest = list(slot.ids[option][len(slot.common) :])
                logp = 0.0
                for n, t in enumerate(rest):
                    logp += float(torch.log_softmax(next_logits(tokens[:k] + rest[:n]), 0)[t])
                after = torch.log_softmax(next_logits(tokens[:k] + rest), 0)
                logp += float(torch.logsumexp(after[mask[: after.shape[0]]], 0))
                best_vocab[sp.index[label]] = max(best_vocab[sp.index[label]], math.exp(logp))
            steps_seen += 1
        assert out["max_over_generations"].probs[i].tolist() == pytest.approx(best, abs=1e-6)
        assert vocab.probs[i].tolist() == pytest.approx(best_vocab, abs=1e-6)
    assert labelled >= 1  # the greedy answers hold labels: the comparison is not vacuous
    assert steps_seen >= 2 or sp.verbalizer is not None


@pytest.mark.parametrize("kind", KINDS)
def test_first_generation_is_the_first_label_step(kind):
    grammar = "label_list"
    tok, sp, m = tokenizer(grammar, kind), space(grammar, kind), model(grammar, kind)
    inputs = tok(PROMPTS[grammar], return_tensors="pt", padding=True, add_special_tokens=False)
    out = mg.score(
        m,
        inputs.input_ids,
        inputs.attention_mask,
        sp,
        ["first_generation"],
        max_new_tokens=8,
        eos_token_ids={tok.eos_token_id},
    )["first_generation"]
    for i, prompt in enumerate(PROMPTS[grammar]):
        tokens, steps = greedy_reference(forward_next_logits(m, ids(tok, prompt)), {tok.eos_token_id}, 8)
        k = 0  # a label list's first item starts at the first step
        assert label_steps(sp, tok, tokens)[0] == (0, 0)
        slot = sp.slot_tokens[0]
        restricted = dict(zip(slot.branch_ids, torch.softmax(steps[k][slot.branch_ids], 0).tolist()))
        expected = [sum(restricted[t] for t in slot.first[label]) for label in sp.labels]
        assert out.probs[i].tolist() == pytest.approx(expected, abs=1e-6)


def test_label_tokens_that_share_a_first_token_share_its_probability():
    sp = space("label_list", "sentencepiece")
    tok = tokenizer("label_list", "sentencepiece")
    first = sp.slot_tokens[0].first
    assert first["sad"] == first["sadness"] and tok.decode(list(first["sad"])) == "sad"
    assert all(label.startswith(tok.decode([t]).strip()) for label in EMOTIONS for t in first[label])


def test_yes_no_max_over_generations_is_the_verbalizer():
    grammar, kind = "yes_no", "byte"
    tok, sp, m = tokenizer(grammar, kind), space(grammar, kind), model(grammar, kind)
    inputs = tok(PROMPTS[grammar], return_tensors="pt", padding=True, add_special_tokens=False)
    out = mg.score(
        m,
        inputs.input_ids,
        inputs.attention_mask,
        sp,
        ["first_token", "max_over_generations", "any_place"],
        max_new_tokens=4,
        eos_token_ids={tok.eos_token_id},
        eps=0.0,
        top_p=1.0,
    )
    assert torch.allclose(out["first_token"].probs, out["max_over_generations"].probs)
    assert out["first_token"].probs[:, 0].tolist() != pytest.approx(out["any_place"].probs[:, 0].tolist(), abs=1e-6)
    assert out["any_place"].probs.shape == (4, 1) and out["any_place"].labels == ("violence",)


# ---- errors ---------------------------------------------------------------------------------------
def test_grammar_errors():
    tok = word_level_tokenizer(["joy", "anger", "none", ",", "Yes", "No"])
    with pytest.raises(ValueError, match=r"label 'ennui' cannot be produced by this tokenizer"):
        mg.LabelSpace.label_list(tok, ["joy", "ennui"])
    with pytest.raises(ValueError, match=r"`labels` must be distinct, got \['joy', 'joy'\]"):
        mg.LabelSpace.label_list(tok, ["joy", "joy"])
    with pytest.raises(ValueError, match=r"`labels` contains 'a,b', which cannot be read back"):
        LabelListParser(["a,b"])
    with pytest.raises(ValueError, match=r"`labels` is empty"):
        LabelListParser([])
    with pytest.raises(ValueError, match=r"`separator` must be a non-blank text without newlines, got ' '"):
        LabelListParser(["joy"], separator=" ")
    with pytest.raises(ValueError, match=r"`none` word 'joy' is also a label"):
        LabelListParser(["joy"], none="joy")
    with pytest.raises(ValueError, match=r"repeat a name up to case"):
        LabelListParser(["joy", "Joy"], case_sensitive=False)
    with pytest.raises(ValueError, match=r"`yes` must be one word of letters or digits, got 'Yes!'"):
        YesNoParser("harm", yes="Yes!")
    with pytest.raises(ValueError, match=r"`yes` and `no` are both 'No'"):
        YesNoParser("harm", yes="No")
    with pytest.raises(ValueError, match=r"`fields` must hold Field objects, got 'Safety'"):
        FieldsParser(["Safety"])
    with pytest.raises(ValueError, match=r"`values of field 'Categories'` contains 'a,b'"):
        FieldsParser([Field.multi_valued("Categories", ["a,b"])])
    with pytest.raises(ValueError, match=r"`grammar` must be an output grammar .* got str"):
        mg.LabelSpace(tok, grammar="label_list")
    with pytest.raises(ValueError, match=r"label 'Maybe' cannot be produced"):
        mg.LabelSpace.yes_no(tok, "harm", yes="Maybe")


def test_first_token_needs_a_verbalizer():
    tok, sp, m = tokenizer("label_list", "byte"), space("label_list", "byte"), model("label_list", "byte")
    inputs = tok(PROMPTS["label_list"][:1], return_tensors="pt")
    with pytest.raises(
        ValueError,
        match=r"strategy 'first_token' reads the answer's first word as a verbalizer, "
        r"and the LabelListParser grammar has none",
    ):
        mg.score(m, inputs.input_ids, inputs.attention_mask, sp, ["first_token"], max_new_tokens=4)
