"""The distribution over label sets against brute force: every answer enumerated, its label set parsed.

The models are tiny random Llamas (flat on purpose) behind a :class:`Automaton`, a logits processor that lets through
only the tokens some canonical answer writes after the last token (and EOS where an answer ends). Every allowed token
keeps a probability above 0 whatever the weights, so every answer the automaton spells (multi-label ones included)
has mass by construction, and the brute force stays finite on the real Llama 3 vocabulary: it walks the same
automaton level by level with full forwards (no cache), parses each finished answer and adds its probability to its
set. Exact at ``eps=0, top_p=1``; under cuts the bounds must hold the exact value and the estimate of one label must
be ``probs``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import defaultdict
from functools import cache

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

import marginal_generate as mg
from marginal_generate.testing import byte_level_tokenizer, llama3_tokenizer, tiny_llama, word_level_tokenizer

PROMPTS = ["User: hello there", "Agent: no"]
GUARD_ANSWERS = ["safe", "unsafe", "unsafe\nS1", "unsafe\nS10,S2", "\n\nunsafe\nS2,S1", "unsafe\nS1,S10"]
LIST_ANSWERS = ["joy, anger", "sadness", "none", "anger, sadness, joy", "sad"]


class Automaton(LogitsProcessor):
    """Keeps the tokens that follow the last token in one of ``answers`` (texts or token ids; the first tokens of an
    answer after any other token, EOS after an answer's last token); every other token gets -inf."""

    def __init__(self, tokenizer, answers: list[str | list[int]]):
        self.after: dict[int, set[int]] = defaultdict(set)
        self.start: set[int] = set()
        for answer in answers:  # a text, or token ids (a tokenization of the tokenizer's choosing or not)
            ids = answer if isinstance(answer, list) else list(tokenizer(answer, add_special_tokens=False)["input_ids"])
            ids = ids + [tokenizer.eos_token_id]
            self.start.add(ids[0])
            for a, b in zip(ids, ids[1:]):
                self.after[a].add(b)
        self.tokens = sorted(self.start | {t for ts in self.after.values() for t in ts} | set(self.after))

    def allowed(self, last: int) -> list[int]:
        return sorted(self.after.get(last, self.start))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(scores, -math.inf)
        for i, last in enumerate(input_ids[:, -1].tolist()):
            ids = self.allowed(last)
            out[i, ids] = scores[i, ids]
        return out


def brute_force(model, tok, prompt: str, space, automaton: Automaton, depth: int) -> dict[frozenset, float]:
    """P(label set) by enumerating every answer the automaton allows, up to EOS or ``depth`` tokens."""
    prompt_ids = list(tok(prompt, add_special_tokens=False)["input_ids"])
    sets: dict[frozenset, float] = defaultdict(float)
    level: list[tuple[list[int], float]] = [([], 1.0)]
    while level:
        ids = torch.tensor([prompt_ids + tokens for tokens, _ in level])
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[:, -1].to(torch.float64)
        logprobs = torch.log_softmax(automaton(ids, logits), dim=-1)
        deeper = []
        for (tokens, p), row, last in zip(level, logprobs, ids[:, -1].tolist()):
            for token in automaton.allowed(last):
                child, q = tokens + [token], p * math.exp(float(row[token]))
                if token == tok.eos_token_id or len(child) >= depth:
                    sets[space.parse(space.decode(child))] += q
                else:
                    deeper.append((child, q))
        level = deeper
    return dict(sets)


def exact_event(sets: dict[frozenset, float], kind: str, group: tuple[str, ...]) -> float:
    g = frozenset(group)
    return sum(m for s, m in sets.items() if (g & s if kind == "any" else g <= s))


def groups(labels: tuple[str, ...], most: int = 3) -> list[tuple[str, ...]]:
    return [g for n in range(1, most + 1) for g in itertools.combinations(labels, n)]


@cache
def case(kind: str):
    """(tokenizer, space, model, automaton, depth) of one tokenizer family."""
    if kind == "word":
        tok = word_level_tokenizer(["safe", "unsafe", "S1", "S2", "S10", ",", "User:", "Agent:", "hello", "there"])
    elif kind == "byte":
        tok = byte_level_tokenizer()
    elif kind == "llama3":
        tok = llama3_tokenizer()
    else:  # label lists on byte-level BPE
        tok = byte_level_tokenizer(LIST_ANSWERS * 20 + PROMPTS * 5, vocab_size=48)
    torch.set_num_threads(1)
    model = tiny_llama(tok, seed=3, logit_scale=0.5, dtype=torch.float64)
    if kind == "list":
        space = mg.LabelSpace.label_list(tok, ["joy", "anger", "sad", "sadness"])
        answers = LIST_ANSWERS
    else:
        space = mg.LabelSpace.llama_guard(tok, categories=["S1", "S2", "S10"])
        answers = GUARD_ANSWERS
    automaton = Automaton(tok, answers)
    longest = max(len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers)
    return tok, space, model, automaton, min(longest, 7)


def run(kind: str, **kw) -> mg.LabelScores:
    tok, space, model, automaton, depth = case(kind)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    kw.setdefault("max_new_tokens", depth)
    return mg.score(
        model,
        inputs.input_ids,
        inputs.attention_mask,
        space,
        ["any_place"],
        eos_token_ids={tok.eos_token_id},
        logits_processor=LogitsProcessorList([automaton]),
        **kw,
    )["any_place"]


@cache
def exact(kind: str) -> list[dict[frozenset, float]]:
    tok, space, model, automaton, depth = case(kind)
    return [brute_force(model, tok, p, space, automaton, depth) for p in PROMPTS]


KINDS = ["word", "byte", "list", "llama3"]


@pytest.mark.parametrize("kind", KINDS)
def test_exact_walk_equals_brute_force(kind):
    out = run(kind, eps=0.0, top_p=1.0, max_label_sets=64)
    labels = out.labels
    for i, truth in enumerate(exact(kind)):
        assert max(len(s) for s, m in truth.items() if m > 0) >= 3  # multi-label answers carry mass: a real joint
        found = dict(out.label_sets[i])
        assert None not in found and set(found) == {s for s, m in truth.items() if m > 0}
        for s, m in truth.items():
            assert found[s] == pytest.approx(m, abs=1e-9), sorted(s)
        assert [m for _, m in out.label_sets[i]] == sorted(found.values(), reverse=True)  # most probable first
        assert sum(found.values()) == pytest.approx(1.0, abs=1e-9) and float(out.unexplored[i]) < 1e-12
        for g in groups(labels):
            for bound in ("lower", "estimate", "upper"):
                assert float(out.prob_any(g, bound)[i]) == pytest.approx(exact_event(truth, "any", g), abs=1e-9)
                assert float(out.prob_all(g, bound)[i]) == pytest.approx(exact_event(truth, "all", g), abs=1e-9)
        pairs = torch.tensor([[exact_event(truth, "all", (a, b)) for b in labels] for a in labels], dtype=torch.float64)
        assert torch.allclose(out.cooccurrence()[i], pairs, atol=1e-9)
        counted = out.joint[i].categories
        assert float(out.expected_count()[i]) == pytest.approx(
            sum(pairs[labels.index(c)][labels.index(c)] for c in counted)
        )
    assert torch.allclose(out.probs, torch.stack([out.cooccurrence()[i].diagonal() for i in range(len(PROMPTS))]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("eps", "top_p", "estimate"), [(0.02, 1.0, "best"), (0.1, 0.8, "best"), (0.05, 0.9, "lower")])
def test_bounds_hold_the_exact_value_under_cuts(kind, eps, top_p, estimate):
    out = run(kind, eps=eps, top_p=top_p, estimate=estimate)
    labels = out.labels
    assert float(out.unexplored.max()) > 1e-3  # the cuts dropped mass: the bounds have work to do
    for i, truth in enumerate(exact(kind)):
        explored = sum(m for _, m in out.label_sets[i])
        assert explored + float(out.unexplored[i]) == pytest.approx(1.0, abs=1e-9)
        for g in groups(labels):
            for kind_ in ("any", "all"):
                method = out.prob_any if kind_ == "any" else out.prob_all
                lower, est, upper = (float(method(g, b)[i]) for b in ("lower", "estimate", "upper"))
                assert lower - 1e-9 <= exact_event(truth, kind_, g) <= upper + 1e-9, (kind_, g)
                assert lower - 1e-12 <= est <= upper + 1e-12
        for k, label in enumerate(labels):  # one label: the per-label bounds and estimate, from the joint
            assert float(out.prob_any(label, "lower")[i]) == pytest.approx(float(out.lower[i, k]), abs=1e-9)
            assert float(out.prob_any(label, "upper")[i]) == pytest.approx(float(out.upper[i, k]), abs=1e-9)
            assert float(out.prob_any(label)[i]) == pytest.approx(float(out.probs[i, k]), abs=1e-9)
        co = out.cooccurrence("lower")[i], out.cooccurrence()[i], out.cooccurrence("upper")[i]
        truth_pairs = torch.tensor(
            [[exact_event(truth, "all", (a, b)) for b in labels] for a in labels], dtype=torch.float64
        )
        assert (co[0] <= truth_pairs + 1e-9).all() and (truth_pairs <= co[2] + 1e-9).all()
        assert (co[0] <= co[1] + 1e-12).all() and (co[1] <= co[2] + 1e-12).all()


@pytest.mark.parametrize("kind", ["word", "list"])
def test_folded_sets_keep_their_mass_pairs_and_bounds(kind):
    out = run(kind, eps=0.0, top_p=1.0, max_label_sets=2)
    labels = out.labels
    for i, truth in enumerate(exact(kind)):
        ranked = sorted(truth.items(), key=lambda e: -e[1])
        assert len(ranked) > 3
        sets = out.label_sets[i]
        assert len(sets) == 3 and sets[-1][0] is None  # two by name, the rest folded into (None, mass)
        for (s, m), (t, n) in zip(sets[:2], ranked[:2]):
            assert s == t and m == pytest.approx(n, abs=1e-9)
        assert sets[-1][1] == pytest.approx(sum(m for _, m in ranked[2:]), abs=1e-9)
        pairs = torch.tensor([[exact_event(truth, "all", (a, b)) for b in labels] for a in labels], dtype=torch.float64)
        assert torch.allclose(out.cooccurrence()[i], pairs, atol=1e-9)  # folds keep their pair masses: still exact
        for g in groups(labels):
            for kind_, method in (("any", out.prob_any), ("all", out.prob_all)):
                lower, est, upper = (float(method(g, b)[i]) for b in ("lower", "estimate", "upper"))
                truth_g = exact_event(truth, kind_, g)
                assert lower - 1e-9 <= truth_g <= upper + 1e-9 and lower <= est <= upper
                if len(g) <= 2:  # one or two labels: exact from the fold's pair masses
                    assert est == pytest.approx(truth_g, abs=1e-9) and upper - lower < 1e-9
    data = out.to_dict()["label_sets"]
    assert data[0][-1][0] is None and json.loads(json.dumps(data)) == data


def test_generate_keeps_the_label_sets_and_to_dict_writes_them():
    tok, space, model, automaton, depth = case("word")
    inputs = tok(PROMPTS[:1], return_tensors="pt", add_special_tokens=False)
    out = model.generate(
        **inputs,
        custom_generate=mg.marginalize,
        label_space=space,
        strategy="any_place",
        eps=0.0,
        top_p=1.0,
        max_new_tokens=depth,
        logits_processor=LogitsProcessorList([automaton]),
        max_label_sets=4,
    )
    truth = exact("word")[0]
    top = sorted(truth.items(), key=lambda e: -e[1])[:4]
    assert [(s, pytest.approx(m, abs=1e-9)) for s, m in out.label_sets[0][:4]] == top
    data = json.loads(json.dumps(out.to_dict()))
    index = {label: k for k, label in enumerate(out.labels)}
    assert data["label_sets"][0][:4] == [[sorted(s, key=index.get), pytest.approx(m, abs=1e-9)] for s, m in top]
    assert data["unexplored"] == [pytest.approx(0.0, abs=1e-12)]


def test_errors_name_the_input_and_what_to_do():
    out = run("word", eps=0.05, top_p=0.99)
    with pytest.raises(ValueError, match=r"`prob_any` got unknown labels \['S3', 'violence'\]; the labels are \["):
        out.prob_any(["S1", "S3", "violence"])
    with pytest.raises(ValueError, match=r"`prob_all` got no labels; pass one or more of"):
        out.prob_all([])
    with pytest.raises(ValueError, match=r"`bound` must be one of \['estimate', 'lower', 'upper'\], got 'max'"):
        out.prob_any("S1", bound="max")
    with pytest.raises(ValueError, match=r"`expected_value` needs labels that are numbers"):
        out.expected_value()
    tok, space, model, automaton, depth = case("word")
    inputs = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    both = mg.score(model, inputs.input_ids, inputs.attention_mask, space, ["greedy", "any_place"], max_label_sets=0)
    assert both["any_place"].label_sets is None and "label_sets" not in both["any_place"].to_dict()
    with pytest.raises(ValueError, match=r"lacks \(it was run with max_label_sets=0\); run strategy 'any_place'"):
        both["any_place"].cooccurrence()
    with pytest.raises(ValueError, match=r"lacks \(it comes from strategy 'greedy'\)"):
        both["greedy"].prob_any("S1")
    with pytest.raises(ValueError, match=r"`max_label_sets` must be an integer >= 0, got -1; 32 \(the default\)"):
        mg.score(model, inputs.input_ids, inputs.attention_mask, space, ["any_place"], max_label_sets=-1)


def test_the_hub_layout_passes_max_label_sets():
    tok, space, model, automaton, depth = case("word")
    inputs = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    kw = dict(label_space=space, eps=0.0, top_p=1.0, max_new_tokens=depth, logits_processor=[automaton])
    out = model.generate(**inputs, custom_generate=root, trust_remote_code=True, max_label_sets=1, **kw)
    for i, truth in enumerate(exact("word")):
        (top, mass), (other, rest) = out.label_sets[i]
        assert top == max(truth, key=truth.get) and other is None
        assert mass + rest == pytest.approx(1.0, abs=1e-9) and mass == pytest.approx(max(truth.values()), abs=1e-9)


def test_set_masses_order_ties_by_size_then_columns_like_the_full_sort():
    # masses with many ties (and sets of every size): the heaviest first, equal masses by set size, then by columns
    index = {label: k for k, label in enumerate(["unsafe", "S1", "S2", "S3", "S10"])}
    labels = list(index)
    sets = [frozenset(c) for r in range(len(labels) + 1) for c in itertools.combinations(labels, r)]
    masses = {s: [0.25, 0.125, 0.5, 0.0, 0.125][(7 * k) % 5] for k, s in enumerate(reversed(sets))}
    kept = mg.label_sets.SetMasses.of(masses, 12, index)
    want = sorted(
        ((s, m) for s, m in masses.items() if m > 0.0), key=lambda e: (-e[1], len(e[0]), sorted(index[x] for x in e[0]))
    )
    assert list(kept.top) == want[:12]
    folded = mg.label_sets.Folded.of(want[12:], index)
    assert kept.other.mass == folded.mass and torch.equal(kept.other.pairs, folded.pairs)
    assert [m for _, m in kept.top][:2] == [0.5, 0.5] and len(kept.top[0][0]) <= len(kept.top[1][0])
