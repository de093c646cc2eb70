"""The numeric grammar (a whole number in a range): the distribution over values, its mean and P(score >= s) from
any_place's walk, against the brute force of test_joint.py, on byte-level BPE and the real Llama 3 tokenizer where a
number takes one token or several (``1`` + ``00``, ``10`` + ``0``, ``1`` + ``0`` + ``0``)."""

from __future__ import annotations

import random
from functools import cache

import pytest
import torch
from test_joint import Automaton, brute_force
from transformers import LogitsProcessorList

import marginal_generate as mg
from marginal_generate.labels.numeric import NumericParser
from marginal_generate.testing import byte_level_tokenizer, llama3_tokenizer, tiny_llama

PROMPTS = ["Rate the risk from 0 to 100: hello there", "Rate: no"]
PIECES = ["1", "0", "00", "10", "100", "7", "42", "5", "\n", "."]
SPLITS = [["1", "00"], ["10", "0"], ["1", "0", "0"], ["7"], ["42"], ["4", "2"], ["5", "."], ["7", "\n"], ["0"]]


@cache
def case(kind: str):
    """(tokenizer, space, model, automaton, depth, split answers) of one tokenizer family."""
    if kind == "llama3":
        tok = llama3_tokenizer()
    else:
        corpus = ["100", "10", "00", "7", "42", "5", *"0123456789", "\n", "."] * 20 + PROMPTS * 5
        tok = byte_level_tokenizer(corpus, vocab_size=48)
    piece = {}
    for text in {p for split in SPLITS for p in split}:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.decode(ids) == text, (kind, text, ids)  # each piece is one token here
        piece[text] = ids[0]
    answers = [[piece[p] for p in split] for split in SPLITS]
    torch.set_num_threads(1)
    model = tiny_llama(tok, seed=5, logit_scale=0.5, dtype=torch.float64)
    return tok, mg.LabelSpace.numeric(tok, 0, 100), model, Automaton(tok, answers), 4, answers


def run(kind: str, **kw) -> mg.LabelScores:
    tok, space, model, automaton, depth, _ = case(kind)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    return mg.score(
        model,
        inputs.input_ids,
        inputs.attention_mask,
        space,
        ["greedy", "any_place"],
        eos_token_ids={tok.eos_token_id},
        logits_processor=LogitsProcessorList([automaton]),
        max_new_tokens=depth,
        max_label_sets=128,
        **kw,
    )["any_place"]


@cache
def exact(kind: str) -> list[dict[frozenset, float]]:
    tok, space, model, automaton, depth, _ = case(kind)
    return [brute_force(model, tok, p, space, automaton, depth) for p in PROMPTS]


def mean(sets: dict[frozenset, float]) -> float:
    valued = {int(next(iter(s))): m for s, m in sets.items() if s}
    return sum(v * m for v, m in valued.items()) / sum(valued.values())


def at_least(sets: dict[frozenset, float], s: float) -> float:
    return sum(m for labels, m in sets.items() if labels and int(next(iter(labels))) >= s)


THRESHOLDS = [0, 5, 7, 10, 42, 43, 100, 101, 3.5]


@pytest.mark.parametrize("kind", ["byte", "llama3"])
def test_exact_walk_gives_the_value_distribution_its_mean_and_tail(kind):
    tok, space, *_, answers = case(kind)
    assert [tok.decode(a) for a in answers[:3]] == ["100", "100", "100"]  # "100" in two and three tokens
    out = run(kind, eps=0.0, top_p=1.0)
    for i, truth in enumerate(exact(kind)):
        assert truth[frozenset({"100"})] > 0 and truth[frozenset()] > 0  # 100 and no value ("1000", "5.0") have mass
        assert max(len(s) for s in truth) == 1  # at most one value per answer
        for k, label in enumerate(space.labels):
            assert float(out.probs[i, k]) == pytest.approx(truth.get(frozenset({label}), 0.0), abs=1e-9)
        for bound in ("lower", "estimate", "upper"):
            assert float(out.expected_value(bound)[i]) == pytest.approx(mean(truth), abs=1e-9)
            for s in THRESHOLDS:
                assert float(out.prob_at_least(s, bound)[i]) == pytest.approx(at_least(truth, s), abs=1e-9), s
        assert 0 < mean(truth) < 100


@pytest.mark.parametrize("kind", ["byte", "llama3"])
@pytest.mark.parametrize(("eps", "top_p"), [(0.03, 1.0), (0.1, 0.9)])
def test_bounds_hold_the_exact_mean_and_tail_under_cuts(kind, eps, top_p):
    out = run(kind, eps=eps, top_p=top_p)
    assert float(out.unexplored.max()) > 1e-3  # the cuts dropped mass
    for i, truth in enumerate(exact(kind)):
        lower, est, upper = (float(out.expected_value(b)[i]) for b in ("lower", "estimate", "upper"))
        assert lower - 1e-9 <= mean(truth) <= upper + 1e-9 and lower <= est <= upper
        assert upper - lower > 1e-3  # the cut leaves the mean uncertain
        for s in THRESHOLDS:
            lo, es, up = (float(out.prob_at_least(s, b)[i]) for b in ("lower", "estimate", "upper"))
            assert lo - 1e-9 <= at_least(truth, s) <= up + 1e-9 and lo - 1e-12 <= es <= up + 1e-12


def test_prefix_states_agree_with_every_continuation():
    parser = NumericParser(0, 100)
    rng = random.Random(0)
    texts = ["".join(rng.choice("0157. \nx") for _ in range(rng.randint(0, 6))) for _ in range(3000)]
    for text in texts:
        full = parser.parse(text)
        for cut in range(len(text) + 1):
            state = parser.prefix_state(text[:cut], finished=cut == len(text))
            assert state.confirmed <= full <= state.confirmed | state.possible, (text, cut)


def test_errors_name_the_argument():
    tok = case("byte")[0]
    with pytest.raises(ValueError, match=r"`high` must be a whole number >= 0, got 5.5; e.g. low=0, high=100"):
        mg.LabelSpace.numeric(tok, 0, 5.5)
    with pytest.raises(ValueError, match=r"`low` must be <= `high`, got low=9, high=1"):
        mg.LabelSpace.numeric(tok, 9, 1)
    with pytest.raises(ValueError, match=r"`low`..`high` holds 5001 values, more than 1001"):
        mg.LabelSpace.numeric(tok, 0, 5000)
    out = run("byte", eps=0.1, top_p=0.9)
    with pytest.raises(ValueError, match=r"`value` must be a number, got '50'; e.g. prob_at_least\(50\)"):
        out.prob_at_least("50")
