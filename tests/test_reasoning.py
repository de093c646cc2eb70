"""Reasoning guards (#30): the verdict after a ``<think>`` block, conditioned on the greedy reasoning or averaged over
sampled reasoning traces; a walk over the block's free text is refused.

The model is :func:`marginal_generate.testing.planted_reasoning_guard`: a planted (position, previous token) table
writes ``<think`` and one of two traces (``>a`` or ``>bb`` + ``b``), the closing tag split over ``</``, ``think``,
``>\\n\\n``, then a Llama Guard verdict whose distribution depends on the trace. Prompt 0 (one token) takes trace a
with 0.7, prompt 1 (three tokens) with 0.2, so their greedy traces differ.
"""

from __future__ import annotations

import math
import re
from functools import cache

import pytest
import torch

import marginal_generate as mg
from marginal_generate.reasoning import ReasoningSpace, score_reasoning
from marginal_generate.testing import REASONING_PIECES, REASONING_PLAN, planted_reasoning_guard

PIECES = REASONING_PIECES
TRACE_A, TRACE_B = "".join(PIECES["a"]), "".join(PIECES["b"])
PLAN = REASONING_PLAN
MAX_NEW = 8


@cache
def planted():
    """(tokenizer, model, prompts as token lists)."""
    torch.set_num_threads(1)
    tok, model = planted_reasoning_guard()
    return tok, model, [[tok.bos_token_id] * length for length, *_ in PLAN]


def tokens_of(trace: str) -> list[int]:
    """The planted tokens of a trace (the tokenizer may split its text otherwise)."""
    tok = planted()[0]
    return [tok(t, add_special_tokens=False)["input_ids"][0] for t in PIECES["a" if trace == TRACE_A else "b"]]


def brute_force(prefix: list[int], trace: list[int], space: ReasoningSpace) -> torch.Tensor:
    """P(label in the verdict's label set | prompt + trace): every continuation of nonzero probability up to EOS or
    MAX_NEW tokens, one full forward per sequence, the verdict read as the text after the closing tag."""
    tok, model, _ = planted()
    totals = torch.zeros(len(space.labels), dtype=torch.float64)
    stack = [([], 1.0)]
    while stack:
        tokens, p = stack.pop()
        ids = torch.tensor([prefix + trace + tokens])
        with torch.no_grad():
            logits = model(input_ids=ids, position_ids=torch.arange(ids.shape[1])[None], use_cache=False).logits
        probs = logits[0, -1].softmax(-1)
        for t in (probs > 0).nonzero().flatten().tolist():
            child, q = tokens + [t], p * float(probs[t])
            if t == tok.eos_token_id or len(child) >= MAX_NEW:
                for label in space.parse(space.decode(trace + child)):
                    totals[space.index[label]] += q
            else:
                stack.append((child, q))
    return totals


def run(mode, prompts=None, **kw):
    tok, model, all_prompts = planted()
    from marginal_generate.padding import left_pad

    ids, mask = left_pad(prompts or all_prompts, tok.pad_token_id)
    space = ReasoningSpace(mg.LabelSpace.llama_guard(tok, categories=["S1", "S2", "S3"]))
    kw.setdefault("eps", 0.0)
    kw.setdefault("top_p", 1.0)
    kw.setdefault("max_reasoning_tokens", 12)
    return space, score_reasoning(model, ids, mask, space, mode, max_new_tokens=MAX_NEW, attention="batched", **kw)


def test_greedy_reasoning_equals_brute_force_over_the_verdict():
    space, out = run("greedy")
    _, _, prompts = planted()
    assert out.traces == [[TRACE_A], [TRACE_B]]  # prompt 0 thinks 'a' (0.7), prompt 1 'bbb' (0.8)
    assert out.status == [["closed"], ["closed"]] and out.k == [1, 1] and out.stderr is None
    for i, trace in enumerate((TRACE_A, TRACE_B)):
        exact = brute_force(prompts[i], tokens_of(trace), space)
        assert out.probs[i].tolist() == pytest.approx(exact.tolist(), abs=1e-6)
        assert out.scores.lower[i].tolist() == pytest.approx(exact.tolist(), abs=1e-6)
        assert out.scores.upper[i].tolist() == pytest.approx(exact.tolist(), abs=1e-6)
        assert out.trace_probs[i].tolist() == [out.probs[i].tolist()]
    # hand values: prompt 0 after trace A writes unsafe with 0.8, then a category line with 0.8
    unsafe, s1 = space.index["unsafe"], space.index["S1"]
    assert out.probs[0, unsafe].item() == pytest.approx(0.8, abs=1e-9)
    assert out.probs[1, unsafe].item() == pytest.approx(0.1, abs=1e-9)
    assert 0 < out.probs[0, s1].item() < 0.8 * 0.8
    assert out.walks is not None and out.walks.label_sets[0][0][0] == frozenset({"unsafe", "S1"})
    assert out.scores.stats["reasoning"] == "greedy" and out.scores.texts == [TRACE_A, TRACE_B]


def exact_mixture(i: int, space: ReasoningSpace) -> tuple[torch.Tensor, torch.Tensor]:
    """(the exact marginal over the two traces, the variance of one trace's conditional probability)."""
    _, _, prompts = planted()
    pa = PLAN[i][1]
    a, b = (brute_force(prompts[i], tokens_of(t), space) for t in (TRACE_A, TRACE_B))
    return pa * a + (1 - pa) * b, pa * (1 - pa) * (a - b) ** 2


def test_sampled_reasoning_traces_and_their_values():
    space, out = run("sample", k=8, seed=3)
    assert out.k == [8, 8] and out.status == [["closed"] * 8] * 2
    assert all(set(traces) <= {TRACE_A, TRACE_B} for traces in out.traces)
    assert len(set(out.traces[0])) == 2  # both traces drawn for prompt 0 with this seed
    _, _, prompts = planted()
    for i in range(2):
        exact = {t: brute_force(prompts[i], tokens_of(t), space) for t in (TRACE_A, TRACE_B)}
        want = torch.stack([exact[t] for t in out.traces[i]])
        assert (out.trace_probs[i] - want).abs().max().item() <= 1e-6
        assert out.probs[i].tolist() == pytest.approx(want.mean(0).tolist(), abs=1e-6)
        assert out.stderr[i].tolist() == pytest.approx((want.std(0) / math.sqrt(8)).tolist(), abs=1e-6)
    again = run("sample", k=8, seed=3)[1]
    assert again.traces == out.traces and torch.equal(again.probs, out.probs)  # seeded


def test_monte_carlo_mean_approaches_the_mixture_and_its_standard_error_is_right():
    """80 estimates of k=8 traces per prompt (16 seeds, each a batch holding 5 copies of each prompt): the mean of
    the estimates is within 3 standard errors of the exact mixture, the mean reported variance (stderr squared) is
    within 35% of the true one, pa (1 - pa) (c_a - c_b)^2 / k, and the estimates' own variance agrees with it
    (80 estimates: a variance estimate is good to about 16%); the test prints the margins."""
    seeds, copies, k = 16, 5, 8
    prompts = planted()[2]
    batch = [p for p in prompts for _ in range(copies)]
    outs = [run("sample", prompts=batch, k=k, seed=seed)[1] for seed in range(seeds)]
    space = run("greedy")[0]
    n = seeds * copies
    for i in range(2):
        exact, variance = exact_mixture(i, space)
        rows = range(i * copies, (i + 1) * copies)
        estimates = torch.stack([o.probs[r] for o in outs for r in rows])
        reported = torch.stack([o.stderr[r] ** 2 for o in outs for r in rows]).mean(0)
        for label in ("unsafe", "S1", "S2"):
            j = space.index[label]
            true = variance[j].item() / k
            error = abs(estimates[:, j].mean().item() - exact[j].item())
            allowed = 3 * math.sqrt(true / n)
            ratio = reported[j].item() / true
            spread = estimates[:, j].var().item() / true
            print(
                f"prompt {i} {label}: |mean - exact| {error:.4f} <= {allowed:.4f}; variance reported / true "
                f"{ratio:.3f}, of the estimates / true {spread:.3f}"
            )
            assert error <= allowed
            assert 0.65 <= ratio <= 1.35 and 0.5 <= spread <= 1.6


def test_a_trace_that_does_not_close_is_kept_and_left_out():
    space, out = run("greedy", prompts=[planted()[2][0]])
    tok, model, prompts = planted()
    ids = torch.tensor([prompts[0]])
    short = score_reasoning(model, ids, None, space, "greedy", max_reasoning_tokens=3, max_new_tokens=MAX_NEW)
    assert short.status == [["open"]] and short.k == [0] and short.walks is None
    assert short.traces == [["<think>a</"]]
    assert math.isnan(short.probs[0, 0].item()) and math.isnan(short.scores.lower[0, 0].item())


def test_open_traces_are_left_out_of_the_mean():
    """With room for 5 reasoning tokens trace a (5 tokens) closes and trace b (6) does not: the mean is over the a
    traces alone, k counts them, and every trace stays listed with its status."""
    space, out = run("sample", k=8, seed=3, max_reasoning_tokens=5)
    _, _, prompts = planted()
    for i in range(2):
        closed = [t == TRACE_A for t in out.traces[i]]
        assert out.status[i] == ["closed" if c else "open" for c in closed]
        assert out.k[i] == sum(closed) >= 2 and all(t in (TRACE_A, "<think>bbb</think") for t in out.traces[i])
        exact = brute_force(prompts[i], tokens_of(TRACE_A), space)
        assert out.probs[i].tolist() == pytest.approx(exact.tolist(), abs=1e-6)
        assert out.stderr[i].abs().max().item() <= 1e-12 and out.trace_probs[i].shape == (out.k[i], 4)


def test_a_closing_token_that_writes_verdict_text_is_merged():
    """The tag is read on decoded text, over token boundaries; a token that closes it and writes more than whitespace
    cannot start the verdict's walk."""
    from marginal_generate.reasoning import _cut_at_close

    tok = planted()[0]
    space = ReasoningSpace(mg.LabelSpace.llama_guard(tok, categories=["S1", "S2", "S3"]))
    ids = [tok(t, add_special_tokens=False)["input_ids"][0] for t in ["<think", ">a", "</", "think", ">a", "S"]]
    assert _cut_at_close(space, ids, {tok.eos_token_id}, "</think>") == (ids[:5], "merged")
    closed = tokens_of(TRACE_A)
    assert _cut_at_close(space, closed + ids[-1:], {tok.eos_token_id}, "</think>") == (closed, "closed")
    eos = tok.eos_token_id
    padded = ids[:3] + [eos, tok.pad_token_id, tok.pad_token_id]  # ended inside the block, then padding
    assert _cut_at_close(space, padded, {eos}, "</think>") == (ids[:3], "open")
    assert _cut_at_close(space, ids[:3], {eos}, "</think>") == (ids[:3], "open")


MODES = re.escape(
    "mg.score_reasoning(..., mode='greedy') (the verdict conditioned on the greedy reasoning, exact after the block) "
    "or mode='sample' (a Monte Carlo estimate over k sampled reasoning traces, with its standard error)."
)


def test_a_full_walk_over_free_text_is_refused_naming_the_two_modes():
    tok, model, prompts = planted()
    space = ReasoningSpace(mg.LabelSpace.llama_guard(tok, categories=["S1", "S2", "S3"]))
    ids = torch.tensor([prompts[0]])
    with pytest.raises(ValueError, match=r"^strategy 'any_place' would walk the <think> block's free text, .*" + MODES):
        mg.score(model, ids, None, space, ["any_place"])
    with pytest.raises(ValueError, match="^a walk over the reasoning block's free text is refused; pass " + MODES):
        score_reasoning(model, ids, None, space)
    with pytest.raises(ValueError, match=r"^strategy 'fixed_place' reads the verdict's steps .*use strategy 'greedy'"):
        mg.score(model, ids, None, space, ["fixed_place"])
    # greedy reads the whole answer: the verdict after the block
    greedy = mg.score(model, ids, None, space, ["greedy"], max_new_tokens=20)["greedy"]
    assert greedy.texts[0].startswith(TRACE_A + "unsafe\nS")
    assert greedy.probs[0, space.index["unsafe"]].item() == 1.0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mode": "beam"}, r"`mode` must be 'greedy' or 'sample', got 'beam'; mg\.score_reasoning"),
        ({"mode": "sample", "k": 1}, r"`k` must be an integer >= 2 \(the standard error needs two traces\), got 1"),
        ({"mode": "sample", "temperature": 0}, r"`temperature` must be a number > 0, got 0; 1\.0 samples"),
        ({"mode": "sample", "sample_top_p": 1.5}, r"`sample_top_p` must be a number in \(0, 1\], got 1\.5"),
        ({"mode": "greedy", "max_reasoning_tokens": 0}, r"`max_reasoning_tokens` must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_are_one_line(kw, message):
    tok, model, prompts = planted()
    space = ReasoningSpace(mg.LabelSpace.llama_guard(tok, categories=["S1", "S2", "S3"]))
    with pytest.raises(ValueError, match=message):
        score_reasoning(model, torch.tensor([prompts[0]]), None, space, **kw)


def test_the_space_must_be_a_reasoning_space():
    tok, model, prompts = planted()
    plain = mg.LabelSpace.llama_guard(tok, categories=["S1", "S2", "S3"])
    with pytest.raises(ValueError, match=r"`label_space` must be a ReasoningSpace .*got LabelSpace; wrap it: "):
        score_reasoning(model, torch.tensor([prompts[0]]), None, plain, "greedy")
    with pytest.raises(ValueError, match=r"`close_tag` must be a non-empty text such as '</think>', got ''"):
        ReasoningSpace(plain, close_tag="")
