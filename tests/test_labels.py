"""LabelSpace on word-level, byte-level BPE and SentencePiece-style tokenizers built in the tests."""

import pytest
from toy_models import CATEGORIES, space_of, tokenizer_of

from marginal_generate import LabelSpace
from marginal_generate.testing import word_level_tokenizer


def test_labels_and_index(tokenizer_kind):
    space = space_of(tokenizer_kind)
    assert space.labels == ("unsafe", *CATEGORIES)
    assert space.index["S10"] == 10


def test_category_tokens_decode_to_the_id(tokenizer_kind):
    space = space_of(tokenizer_kind)
    tok = tokenizer_of(tokenizer_kind)
    for c, ids in space.category_token_ids.items():
        assert tok.decode(list(ids)) == c


def test_verbalizer_tokens_start_the_words(tokenizer_kind):
    space = space_of(tokenizer_kind)
    tok = tokenizer_of(tokenizer_kind)
    negative, positive = space.verbalizer_ids
    assert all("safe".startswith(tok.decode([i]).strip()) for i in negative)
    assert all("unsafe".startswith(tok.decode([i]).strip()) for i in positive)


def test_branch_tokens_by_tokenizer():
    # word level: ids are single tokens; byte level (Llama 3): "S" then "1"/"10"; sentencepiece: "S" then digits
    word, byte, sp = (space_of(k) for k in ("word", "byte", "sentencepiece"))
    assert word.branch[0] == ()
    assert len(set(word.branch[1].values())) == 14
    assert byte.tokenizer.decode(list(byte.branch[0])) == "S"
    assert len(set(byte.branch[1].values())) == 14
    assert sp.branch[1]["S1"] == sp.branch[1]["S10"]  # shared distinguishing token "1"


def test_delimiter_mask():
    space = space_of("byte")
    tok = tokenizer_of("byte")
    delimiters = {tok.decode([i]) for i in space.delimiter_mask.nonzero().flatten().tolist()}
    assert "," in delimiters and "\n" in delimiters and ",S" in delimiters
    assert "S" not in delimiters and "10" not in delimiters


def test_label_the_tokenizer_cannot_produce():
    tok = word_level_tokenizer(["safe", "unsafe", "S1", ",", "\n"])
    with pytest.raises(ValueError, match=r"label 'S2' cannot be produced by this tokenizer"):
        LabelSpace(tok, categories=["S1", "S2"])


def test_bad_constructor_arguments():
    tok = tokenizer_of("word")
    with pytest.raises(ValueError, match="`taxonomy` must be 2 or 3"):
        LabelSpace.llama_guard(tok, taxonomy=4)
    with pytest.raises(ValueError, match="`categories` is empty"):
        LabelSpace(tok, categories=[])
    with pytest.raises(ValueError, match="`tokenizer` must be a Hugging Face tokenizer"):
        LabelSpace("not a tokenizer")


def test_llama_guard_2_preset():
    space = LabelSpace.llama_guard(tokenizer_of("byte"), taxonomy=2)
    assert space.categories == tuple(f"S{i}" for i in range(1, 12))
