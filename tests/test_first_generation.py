"""``first_generation`` reads each slot (each field of a multi-field answer) at its own first label step (#29 item 3).

The model is a tiny Llama over the real Llama 3 tokenizer whose logits are replaced by a table keyed by the position
(-inf outside the row), so its greedy answer is WildGuard's three lines and each field's value step has a planted
distribution: ``Harmful request`` yes 0.6 / no 0.3, ``Response refusal`` yes 0.2 / no 0.7, ``Harmful response``
yes 0.5 / no 0.4. Reading the first label step of the whole answer gave every later field 0.
"""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

import marginal_generate as mg
from marginal_generate.labels.fields import WILDGUARD_FIELDS
from marginal_generate.testing import llama3_tokenizer, tiny_llama

ANSWER = "Harmful request: yes\nResponse refusal: no\nHarmful response: yes"
VALUES = {" yes": (0.6, 0.3), " no": (0.2, 0.7)}  # the value written -> (p yes, p no) at its step
LAST_YES = (0.5, 0.4)  # the third field's value step


@cache
def planted():
    """(tokenizer, model, answer tokens): greedy writes ANSWER, then EOS."""
    tok = llama3_tokenizer()
    answer = tok(ANSWER, add_special_tokens=False)["input_ids"]
    yes, no, other = (tok(t, add_special_tokens=False)["input_ids"][0] for t in (" yes", " no", " maybe"))
    rows = torch.full((len(answer) + 2, len(tok)), -math.inf, dtype=torch.float64)
    values = [k for k, t in enumerate(answer) if t in (yes, no)]
    assert len(values) == 3
    for k, token in enumerate(answer):
        if k in values:
            p_yes, p_no = LAST_YES if k == values[-1] else VALUES[tok.decode([token])]
            rows[k, yes], rows[k, no], rows[k, other] = math.log(p_yes), math.log(p_no), math.log(1 - p_yes - p_no)
        else:
            rows[k, token], rows[k, other] = math.log(0.9), math.log(0.1)
    rows[len(answer) :, tok.eos_token_id] = 0.0
    torch.set_num_threads(1)
    model = tiny_llama(tok, hidden_size=8, num_layers=1, dtype=torch.float64)

    def replace(_module, args, kwargs, output):
        # the answer's k-th token is predicted at position k (the prompt is BOS at position 0)
        positions = kwargs["position_ids"][:, -output.logits.shape[1] :].clamp(max=rows.shape[0] - 1)
        output.logits = rows[positions]
        return output

    model.register_forward_hook(replace, with_kwargs=True)
    return tok, model, answer


def run(strategies, **kw):
    tok, model, answer = planted()
    ids = torch.tensor([[tok.bos_token_id]])
    space = mg.LabelSpace.fields(tok, WILDGUARD_FIELDS)
    eos = {tok.eos_token_id}
    return mg.score(
        model, ids, torch.ones_like(ids), space, strategies, max_new_tokens=len(answer) + 2, eos_token_ids=eos, **kw
    )


def test_first_generation_reads_each_field_at_its_first_value_step():
    out = run(["greedy", "first_generation", "max_over_generations"])
    assert out["greedy"].texts == [ANSWER]
    assert out["greedy"].probs[0].tolist() == [1.0, 0.0, 1.0]
    # the restricted softmax over the fields' value tokens (" yes", " no"; "maybe" is no option) at each field's step
    expected = [0.6 / 0.9, 0.2 / 0.9, 0.5 / 0.9]
    assert out["first_generation"].probs[0].tolist() == pytest.approx(expected, abs=1e-9)
    assert out["max_over_generations"].probs[0].tolist() == pytest.approx(expected, abs=1e-9)  # one step per field


def test_first_generation_on_one_slot_is_the_first_step_only():
    """A label list has one slot: first_generation stays the first label step of the answer (an item that repeats
    later is not read again), while max_over_generations takes the max over every item's step."""
    tok = llama3_tokenizer()
    answer = tok("joy, anger, joy", add_special_tokens=False)["input_ids"]
    joy, anger, other = (tok(t, add_special_tokens=False)["input_ids"][0] for t in ("joy", " anger", " joy"))
    rows = torch.full((len(answer) + 2, len(tok)), -math.inf, dtype=torch.float64)
    for k, token in enumerate(answer):
        rows[k, token] = math.log(0.9)
        rows[k, anger if token != anger else other] = math.log(0.1)
    rows[len(answer) :, tok.eos_token_id] = 0.0
    model = tiny_llama(tok, hidden_size=8, num_layers=1, dtype=torch.float64)
    model.register_forward_hook(
        lambda _m, a, kw, out: setattr(out, "logits", rows[kw["position_ids"][:, -out.logits.shape[1] :]]) or out,
        with_kwargs=True,
    )
    space = mg.LabelSpace.label_list(tok, ["joy", "anger"])
    ids = torch.tensor([[tok.bos_token_id]])
    out = mg.score(
        model,
        ids,
        torch.ones_like(ids),
        space,
        ["greedy", "first_generation", "max_over_generations"],
        max_new_tokens=len(answer) + 2,
        eos_token_ids={tok.eos_token_id},
    )
    assert out["greedy"].texts == ["joy, anger, joy"]
    assert out["first_generation"].probs[0].tolist() == pytest.approx([0.9, 0.1], abs=1e-9)
    assert out["max_over_generations"].probs[0].tolist() == pytest.approx([0.9, 0.9], abs=1e-9)
