"""``LabelScores.completions``: one entry per text, the probabilities of its token paths summed (#29 item 6).

A planted next-token table over the real Llama 3 tokenizer (test_byte_split.Planted) writes ``joy`` as one token
and as ``j`` + ``oy``, and ``é`` as one token and as its two bytes: each text must appear once, with the sum.
"""

import pytest
import torch
from test_byte_split import BOS, EOS, Planted, tokenizer

import marginal_generate as mg
from marginal_generate.decoding.completions import merge_by_text

TABLE = {
    BOS: {"joy": 0.5, "j": 0.3, "anger": 0.2},
    "j": {"oy": 1.0},
    "joy": {EOS: 0.7, ",": 0.3},
    "oy": {EOS: 0.7, ",": 0.3},
    ",": {" anger": 1.0},
    "anger": {"é": 0.5, 0xC3: 0.5},
    "é": {EOS: 1.0},
    0xC3: {0xA9: 1.0},
    0xA9: {EOS: 1.0},
    " anger": {EOS: 1.0},
}


@pytest.fixture(scope="module")
def out():
    tok = tokenizer()
    ids = torch.tensor([[tok.bos_token_id]])
    space = mg.LabelSpace.label_list(tok, ["joy", "anger"])
    model = Planted(TABLE).model()
    return mg.score(
        model, ids, torch.ones_like(ids), space, ["any_place"], max_new_tokens=6, eos_token_ids={tok.eos_token_id}
    )["any_place"]


def test_each_text_once_with_its_paths_summed(out):
    found = out.completions[0]
    assert [c.text for c in found] == ["joy", "joy, anger", "angeré"]
    assert [c.probability for c in found] == pytest.approx([0.35 + 0.21, 0.15 + 0.09, 0.1 + 0.1], abs=1e-12)
    assert all(c.complete for c in found)
    assert out.probs[0].tolist() == pytest.approx([0.8, 0.24], abs=1e-12)  # eps=0.01 keeps every path: exact


def test_top_completions_counts_texts():
    tok = tokenizer()
    ids = torch.tensor([[tok.bos_token_id]])
    space = mg.LabelSpace.label_list(tok, ["joy", "anger"])
    out = mg.score(
        Planted(TABLE).model(),
        ids,
        torch.ones_like(ids),
        space,
        ["any_place"],
        max_new_tokens=6,
        eos_token_ids={tok.eos_token_id},
        top_completions=2,
    )["any_place"]
    assert [(c.text, round(c.probability, 12)) for c in out.completions[0]] == [("joy", 0.56), ("joy, anger", 0.24)]


def test_a_prefix_merged_with_a_whole_answer_is_a_prefix():
    merged = merge_by_text([("safe", 0.25, True), ("safe", 0.5, False), ("unsafe", 0.25, True)], top=10)
    assert merged == [("safe", 0.75, False), ("unsafe", 0.25, True)]
    assert merge_by_text([("a", 0.5, True)], top=0) == []
