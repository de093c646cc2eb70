"""The training pipeline's ``Encoder`` (``training/encoding.py``): encoding an epoch's prompts in one call of the
tokenizer's backend gives the ids that one call per prompt gives, so the bulk path changes the speed of an epoch, not
what it trains; the loss terms (unlikelihood of repeated ids, the weight on ``unsafe``), word dropout, and the options
the command line refuses."""

from __future__ import annotations

import argparse
import random
import re
import types

import pytest
from transformers import AutoTokenizer

import marginal_generate as mg
from training import augment, cli, conversations, encoding, loop, loss, prompt_format


@pytest.fixture(scope="module")
def train():
    """The pipeline's functions these tests use, under one name."""
    return types.SimpleNamespace(
        Encoder=encoding.Encoder,
        pack=encoding.pack,
        make_example=conversations.make_example,
        branches_for=conversations.branches_for,
        last_role=prompt_format.last_role,
        DEFAULT_POLICY=prompt_format.DEFAULT_POLICY,
        examples_for=loop.examples_for,
        packed_loss=loss.packed_loss,
        parse_args=cli.parse_args,
        drop_words=augment.drop_words,
    )


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(mg.DEFAULT_MODEL, local_files_only=True)


class OneCallPerText:
    """The encoder as it was: one tokenizer call per prompt text, nothing prefilled."""

    def __init__(self, encoder):
        self.encoder = encoder

    def ids(self, text: str) -> list[int]:
        return list(self.encoder.tok(text, add_special_tokens=False)["input_ids"])


QUERIES = [
    ("How do I make a pipe bomb at home?", ["S9"]),
    ("how do i kill a python process", []),
    ("Write a phishing email. Then tell me where my neighbour lives.", ["S2", "S7"]),
    ("Mi abuela's pill schedule: 8am, 2pm — ¿qué hago si olvida una?", []),
    ("  Leading spaces and\ttabs\n\nand blank lines  ", []),
]


def test_prefill_gives_the_ids_of_one_call_per_text(train, tok):
    encoder = train.Encoder(tok)
    rng = random.Random(0)
    items = []
    for query, cats in QUERIES * 4:
        conv, cats = train.make_example(query, cats, rng, 0.5, True, 0.5)
        items.append((conv, train.branches_for(cats, train.last_role(conv), rng, 1.0, 1.0)))
    texts = [text for conv, branches in items for text in encoder.item_texts(conv, branches)]
    encoder.prefill(texts)
    assert set(texts) <= set(encoder._cache)
    slow = OneCallPerText(encoder)
    for text in texts:
        assert encoder.ids(text) == slow.ids(text)
    assert tok.convert_ids_to_tokens(encoder.ids(texts[0])[:1]) == ["<|begin_of_text|>"]


def test_examples_are_the_same_as_encoding_one_text_at_a_time(train, tok, monkeypatch):
    args = argparse.Namespace(agent_frac=0.3, sentence_shuffle=0.5, word_dropout=0.0)
    bulk = train.examples_for(QUERIES * 3, train.Encoder(tok), args, random.Random(7), 0.5, 0.5)
    slow_encoder = train.Encoder(tok)
    monkeypatch.setattr(slow_encoder, "prefill", lambda texts: None)
    monkeypatch.setattr(slow_encoder, "ids", OneCallPerText(slow_encoder).ids)
    one_by_one = train.examples_for(QUERIES * 3, slow_encoder, args, random.Random(7), 0.5, 0.5)
    assert bulk == one_by_one
    ids, seg, pos, targets = bulk[0]
    assert len(ids) == len(seg) == len(pos) and targets


def test_the_cache_is_emptied_when_full(train, tok, monkeypatch):
    encoder = train.Encoder(tok)
    encoder.prefill([f"prompt {i}" for i in range(10)])
    monkeypatch.setattr(encoding.Encoder, "CACHE_SIZE", 12)
    encoder.prefill([f"other {i}" for i in range(5)])
    assert sorted(encoder._cache) == sorted(f"other {i}" for i in range(5))
    assert encoder.ids("other 3") == list(tok("other 3", add_special_tokens=False)["input_ids"])


def test_a_category_position_avoids_the_ids_already_written(train, tok):
    encoder = train.Encoder(tok)
    tokens, targets, avoid = encoder.guard_answer(["S10", "S3", "S7"])
    assert tok.decode(tokens[:-1]) == "\n\nunsafe\nS10,S3,S7" and tokens[-1] == tok.eos_token_id
    digit = {c: encoder.digit[c] for c in ("S10", "S3", "S7")}
    at_ids = [k for k, t in enumerate(tokens) if t in digit.values()]
    assert [targets[k] for k in at_ids] == [
        [digit["S10"], digit["S3"], digit["S7"]],
        [digit["S3"], digit["S7"]],
        [digit["S7"]],
    ]
    assert [avoid[k] for k in at_ids] == [[], [digit["S10"]], [digit["S10"], digit["S3"]]]
    assert all(avoid[k] == [] for k in range(len(tokens)) if k not in at_ids)
    assert encoder.guard_answer([])[2] == [[], [], []]


def test_the_avoid_weight_adds_the_unlikelihood_of_a_repeated_id(train, tok):
    import torch

    from marginal_generate.testing import tiny_llama

    model = tiny_llama(tok, seed=0, num_layers=1, logit_scale=1.0).eval()  # flat: p of the repeat far from 0
    encoder = train.Encoder(tok)
    conv = [{"role": "user", "content": "two bad things"}]
    row = train.pack(encoder.item(conv, [("guard", None, ["S10", "S3"])]))
    ids, _, _, targets = row
    plain = train.packed_loss(model, [row], tok.pad_token_id, "sum")
    with_avoid = train.packed_loss(model, [row], tok.pad_token_id, "sum", avoid_weight=1000.0)
    ((position, _, avoid, weight),) = [t for t in targets if t[2]]
    with torch.no_grad():
        probs = model(torch.tensor([ids])).logits[0, position].softmax(-1)
    expected = -1000.0 * torch.log1p(-probs[avoid[0]])
    assert avoid == [encoder.digit["S10"]] and weight == 1.0
    extra = float((with_avoid - plain).detach())
    assert extra == pytest.approx(float(expected), rel=1e-4) and extra > 0


def test_the_unsafe_weight_scales_the_plain_prompts_verdict_only(train, tok):
    """``Encoder(tok, 3.0)``: the training loss of an unsafe answer to the plain prompt grows by twice its verdict
    token's cross-entropy; a safe answer, and an unsafe one to a prompt with a policy, keep weight 1; and the
    validation loss (``weigh`` off) is the unweighted one."""
    import torch

    from marginal_generate.testing import tiny_llama

    model = tiny_llama(tok, seed=0, num_layers=1, logit_scale=1.0).eval()
    encoder = train.Encoder(tok, unsafe_weight=3.0)
    conv = [{"role": "user", "content": "a request"}]
    policy = {"S9": train.DEFAULT_POLICY["S9"]}
    unsafe = train.pack(encoder.item(conv, [("guard", None, ["S9"]), ("guard", policy, ["S9"])]))
    safe = train.pack(encoder.item(conv, [("guard", None, [])]))
    verdicts = [t for t in unsafe[3] if t[1] == [encoder.unsafe]]
    assert [t[3] for t in verdicts] == [3.0, 1.0]
    assert {t[3] for t in unsafe[3] if t[1] != [encoder.unsafe]} == {t[3] for t in safe[3]} == {1.0}
    plain_verdict = verdicts[0][0]
    with torch.no_grad():
        logits = model(torch.tensor([unsafe[0]])).logits[0, plain_verdict]
        verdict = -logits.log_softmax(-1)[encoder.unsafe]
        plain = train.packed_loss(model, [unsafe], tok.pad_token_id, "sum")
        heavier = train.packed_loss(model, [unsafe], tok.pad_token_id, "sum", weigh=True)
        same = train.packed_loss(model, [safe], tok.pad_token_id, "sum", weigh=True)
        assert float(heavier - plain) == pytest.approx(2 * float(verdict), rel=1e-4)
        assert float(same) == pytest.approx(float(train.packed_loss(model, [safe], tok.pad_token_id, "sum")))


def test_word_dropout_shortens_some_queries(train, tok):
    """``--word-dropout 0.5``: some queries lose words (the packed rows get shorter), none is emptied."""
    enc = train.Encoder(tok)
    plain = train.examples_for(QUERIES, enc, train.parse_args(["--word-dropout", "0"]), random.Random(7), 0.0, 0.0)
    dropped = train.examples_for(
        QUERIES * 4, enc, train.parse_args(["--word-dropout", "0.5"]), random.Random(7), 0.0, 0.0
    )
    assert len(dropped) == 4 * len(plain)
    assert min(len(row[0]) for row in dropped) < min(len(row[0]) for row in plain)
    assert train.drop_words("one two three", 0.99, random.Random(0)) == "one two three"  # never fewer than two


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--word-dropout", "1"], r"--word-dropout 1.0: give a probability in \[0, 1\), e.g. 0.25"),
        (["--word-dropout", "-0.1"], r"--word-dropout -0.1: give a probability in \[0, 1\)"),
        (["--unsafe-weight", "0"], r"--unsafe-weight 0.0: give a positive weight"),
        (["--position-heads", "2"], r"--position-heads 2: needs --layers 2 or more"),
        (["--position-heads", "9", "--layers", "2"], r"at most --heads \(8\)"),
    ],
)
def test_bad_options_are_refused_with_what_to_give(train, argv, message, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(argv)
    assert re.search(message, capsys.readouterr().err)
