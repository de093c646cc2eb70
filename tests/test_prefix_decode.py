"""The prefix reader's decode built from pieces (decoding/token_text.py) against ``tokenizer.decode`` (issue #34).

Every tokenizer the tests use, and one per decoder the plan knows (Metaspace, no decoder, Replace + Fuse + Strip,
the clean-up): random id sequences over the whole vocabulary and adversarial ones (single bytes that split a
character, special tokens in the middle, leading spaces, ids past the vocabulary), every prefix of each compared
with ``tokenizer.decode(ids, skip_special_tokens=True)``. A tokenizer the plan cannot show (a ``ByteFallback``
decoder, a tokenizer class with its own ``decode``) gets no plan and the same texts from ``decode``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

import marginal_generate as mg
from marginal_generate.decoding.prefixes import PrefixReader
from marginal_generate.decoding.token_text import TokenText, decode_plan
from marginal_generate.decoding.utf8_tail import Utf8Tail, byte_alphabet, ends_inside_a_character
from marginal_generate.labels.prefix_state import readable_prefix
from marginal_generate.testing import (
    byte_level_tokenizer,
    guard_corpus,
    llama3_tokenizer,
    llama4_tokenizer,
    sentencepiece_tokenizer,
    word_level_tokenizer,
)

WORDS = ["safe", "unsafe", "S1", "S10", ",", "\n", "Yes", "No", "'s", ".", "n't"]


def _wrap(inner: Tokenizer, **kw) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=inner, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", **kw
    )


def _trained(decoder, pre_tokenizer, **kw) -> PreTrainedTokenizerFast:
    inner = Tokenizer(models.BPE())
    inner.pre_tokenizer = pre_tokenizer
    inner.decoder = decoder
    trainer = trainers.BpeTrainer(vocab_size=80, special_tokens=["<pad>", "<bos>", "<eos>"], show_progress=False)
    inner.train_from_iterator([*guard_corpus(), "a  b\xa0é ,x"] * 2, trainer=trainer)
    return _wrap(inner, **kw)


def metaspace(scheme: str) -> PreTrainedTokenizerFast:
    """SentencePiece's Metaspace pre-tokenizer and decoder (the first token written drops its ``▁``)."""
    return _trained(
        decoders.Metaspace(replacement="▁", prepend_scheme=scheme),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme),
        clean_up_tokenization_spaces=False,
    )


def llama2_style() -> PreTrainedTokenizerFast:
    """Llama 2's decoder without its byte fallback: ``▁`` to a space per token, fused, one leading space stripped."""
    decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    return _trained(decoder, pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"))


def byte_fallback() -> PreTrainedTokenizerFast:
    """A ``ByteFallback`` decoder: no plan (its bytes are read per run of byte tokens), ``decode`` instead."""
    return _trained(
        decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
    )


def word_level(decoder, clean_up: bool) -> PreTrainedTokenizerFast:
    """The test word-level tokenizer with another decoder (None: Rust joins tokens with a space) and clean-up."""
    tok = word_level_tokenizer(WORDS)
    inner = tok.backend_tokenizer
    if decoder is None:
        inner = Tokenizer.from_str(inner.to_str())
        inner.decoder = None
    else:
        inner.decoder = decoder
    return _wrap(inner, clean_up_tokenization_spaces=clean_up)


def byte_level_with_added_tokens() -> PreTrainedTokenizerFast:
    """Added tokens that are not special: Rust's ByteLevel decoder maps one written in its byte alphabet (``ĠĠx``) to
    bytes and writes any other (``<guard>``, `` hé``) as its own text."""
    tok = byte_level_tokenizer([*guard_corpus(), "a\xa0b é — x"])
    tok.add_tokens(["<guard>", " hé", "ĠĠx"])
    return tok


class OwnDecode(PreTrainedTokenizerFast):
    """A tokenizer class with its own ``decode``: the plan cannot vouch for it."""

    def decode(self, token_ids, skip_special_tokens=False, **kw):
        return super().decode(token_ids, skip_special_tokens=skip_special_tokens, **kw).upper()


TOKENIZERS: dict[str, tuple[Callable[[], PreTrainedTokenizerFast], bool]] = {  # name -> (build, has a plan)
    "word_level": (lambda: word_level_tokenizer(WORDS), True),
    "byte_level": (lambda: byte_level_tokenizer([*guard_corpus(), "a\xa0b é — x"]), True),
    "byte_level_added_tokens": (byte_level_with_added_tokens, True),
    "sentencepiece": (sentencepiece_tokenizer, True),
    "embedded": (lambda: mg.load_default()[1], True),
    "llama3": (llama3_tokenizer, True),
    "llama4": (llama4_tokenizer, True),
    "metaspace_always": (lambda: metaspace("always"), True),
    "metaspace_first": (lambda: metaspace("first"), True),
    "metaspace_never": (lambda: metaspace("never"), True),
    "llama2_style_strip": (llama2_style, True),
    "no_decoder_space_join": (lambda: word_level(None, clean_up=False), True),
    "word_level_clean_up": (lambda: word_level(decoders.Fuse(), clean_up=True), True),
    "no_decoder_clean_up": (lambda: word_level(None, clean_up=True), True),
    "byte_fallback": (byte_fallback, False),
    "own_decode": (lambda: OwnDecode(tokenizer_object=word_level_tokenizer(WORDS).backend_tokenizer), False),
}


#: the tokenizers whose decoder joins bytes (ByteLevel): a prefix can end inside a character
BYTE_LEVEL = ("byte_level", "byte_level_added_tokens", "embedded", "llama3", "llama4")
#: the tokenizers whose vocabulary writes Llama Guard's answer or a yes/no answer (the others have no id for them, or,
#: ``own_decode``, upper-case every answer)
WRITE_AN_ANSWER = tuple(
    name
    for name in TOKENIZERS
    if name not in ("metaspace_always", "metaspace_first", "llama2_style_strip", "byte_fallback", "own_decode")
)


def adversarial_ids(tok) -> list[int]:
    """Ids that stress the join: single-byte tokens (split characters), special and added tokens, spaces, ``▁``,
    punctuation the clean-up rewrites, an id past the vocabulary."""
    vocab = tok.get_vocab()
    wanted = [*byte_alphabet(), " ", "  ", "Ġ", "ĠĠ", "▁", "▁▁", "\n", "Ċ", "ĊĊ", ",", ".", "'s", "n't", "<unk>"]
    wanted += [f"<0x{b:02X}>" for b in (0xC2, 0xA0, 0xC3, 0xA9, 0xE2, 0x80, 0x94, 0x20)]
    wanted += [
        "<guard>",
        " hé",
        "ĠĠx",
        "Âł",
        "Ãł",
        "safe",
        "unsafe",
        "Ġunsafe",
        "▁unsafe",
        "S",
        "1",
        "10",
        "Yes",
        "ĠYes",
    ]
    ids = {vocab[w] for w in wanted if w in vocab}
    ids |= set(tok.all_special_ids)
    added = tok.backend_tokenizer.get_added_tokens_decoder()
    ids |= set(sorted(added)[:40])
    ids.add(len(tok) + 3)  # no such token: Rust drops it
    return sorted(ids)


def sequences(tok, n: int, seed: int) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    hard = adversarial_ids(tok)
    size = len(tok)
    out = []
    for k in range(n):
        length = rng.randint(1, 12)
        if k % 3 == 0:  # random over the whole vocabulary
            out.append(tuple(rng.randrange(size) for _ in range(length)))
        elif k % 3 == 1:  # adversarial only
            out.append(tuple(rng.choice(hard) for _ in range(length)))
        else:  # mixed
            out.append(tuple(rng.choice(hard) if rng.random() < 0.5 else rng.randrange(size) for _ in range(length)))
    return out


def safe_decode(tok, ids: tuple[int, ...]) -> str | None:
    try:
        return tok.decode(list(ids), skip_special_tokens=True)
    except (OverflowError, ValueError, TypeError):  # pragma: no cover - a tokenizer that refuses an id
        return None


@pytest.fixture(scope="module", params=list(TOKENIZERS))
def case(request):
    build, planned = TOKENIZERS[request.param]
    return request.param, build(), planned


def test_every_prefix_decodes_as_the_tokenizer_does(case):
    name, tok, planned = case
    assert (decode_plan(tok) is not None) is planned, name
    text = TokenText(tok)
    assert text.exact is planned
    compared = 0
    for ids in sequences(tok, 300, seed=len(name)):
        for k in range(1, len(ids) + 1):
            expected = safe_decode(tok, ids[:k])
            if expected is None:
                continue
            assert text.decode(ids[:k]) == expected, (name, ids[:k])
            compared += 1
    assert compared > 1000


def test_split_characters_special_tokens_and_leading_spaces_on_llama3():
    """The cases by hand on the real Llama 3 tokenizer: a no-break space and ``é`` as bytes, a special token between
    the two bytes of a character (dropped, so the bytes join), leading spaces, a reserved special token."""
    tok = llama3_tokenizer()
    text = TokenText(tok)
    byte = {b: tok.convert_tokens_to_ids(c) for c, b in byte_alphabet().items()}
    eot, reserved = tok.convert_tokens_to_ids("<|eot_id|>"), tok.convert_tokens_to_ids("<|reserved_special_token_5|>")
    unsafe, space_yes = tok.convert_tokens_to_ids("unsafe"), tok.convert_tokens_to_ids("ĠYes")
    cases = {
        (byte[0xC2],): "\ufffd",
        (byte[0xC2], byte[0xA0], unsafe): "\xa0unsafe",
        (byte[0xC3], eot, byte[0xA9]): "é",
        (byte[0xC3], reserved, byte[0xA9], eot): "é",
        (space_yes,): " Yes",
        (byte[0x20], byte[0x20], space_yes): "   Yes",
        (byte[0xE2], byte[0x80]): "\ufffd",
        (byte[0xE2], byte[0x80], byte[0x83]): "\u2003",
        (byte[0x80], byte[0xC3]): "\ufffd\ufffd",
        (byte[0xF0], byte[0x9F], byte[0x98], byte[0x80], byte[0xA9]): "😀\ufffd",
    }
    for ids, expected in cases.items():
        assert tok.decode(list(ids), skip_special_tokens=True) == expected
        assert text.decode(ids) == expected, ids
    assert [text.incomplete(ids) for ids in cases] == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    assert text.written((byte[0x80], byte[0xC3])) == ("\ufffd", b"\xc3")


@pytest.mark.parametrize("case", BYTE_LEVEL, indirect=True)
def test_incomplete_reads_the_bytes_of_the_whole_prefix(case):
    name, tok, planned = case
    text = TokenText(tok)
    plan = decode_plan(tok)
    assert plan is not None and plan.byte_level, name
    bytes_of = Utf8Tail(tok).token_bytes
    for ids in sequences(tok, 200, seed=7):
        data = b"".join(bytes_of(t) if t < len(tok) else b"" for t in ids)
        assert text.incomplete(ids) == ends_inside_a_character(data), (name, ids)


@pytest.mark.parametrize("case", WRITE_AN_ANSWER, indirect=True)
def test_prefix_reader_reads_what_decode_gives(case):
    """PrefixReader's texts and states on the fast path equal those read from ``LabelSpace.decode`` (the memo too)."""
    name, tok, _ = case
    try:
        space = mg.LabelSpace.llama_guard(tok)
    except ValueError:  # a vocabulary without every category id: a yes/no answer
        space = mg.LabelSpace.yes_no(tok, "harm")
    reader = PrefixReader(space)
    for ids in sequences(tok, 120, seed=3):
        for finished in (False, True):
            text, state = reader.read(ids, finished)
            decoded = space.decode(ids)
            if not finished and decoded.endswith("\ufffd") and not TokenText(tok).incomplete(ids):
                assert text == decoded
            else:
                assert text == readable_prefix(decoded, finished)
            assert state == space.grammar.prefix_state(text, finished)
            assert reader.read(ids, finished)[1] is state


def test_a_plan_follows_tokens_added_and_settings_changed_after_first_use():
    """The plan is kept per tokenizer; a token added later (special: dropped) or the clean-up switched on is read."""
    tok = word_level_tokenizer(WORDS)
    ids = tuple(tok("unsafe , S1 .", add_special_tokens=False)["input_ids"])
    assert TokenText(tok).decode(ids) == "unsafe , S1 ."
    tok.add_tokens(["<guard>"], special_tokens=True)
    guard = tok.convert_tokens_to_ids("<guard>")
    assert (
        TokenText(tok).decode((guard, *ids)) == tok.decode([guard, *ids], skip_special_tokens=True) == "unsafe , S1 ."
    )
    tok.clean_up_tokenization_spaces = True
    assert TokenText(tok).decode(ids) == tok.decode(list(ids), skip_special_tokens=True) == "unsafe, S1."
