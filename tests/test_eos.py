"""Where the end-of-sequence ids come from (``marginal_generate.decoding.eos``), and the errors when none does."""

from types import SimpleNamespace as NS

import pytest
import torch

from marginal_generate.decoding.eos import eos_ids

MODEL = NS(generation_config=NS(eos_token_id=[1, 2]))
TOKENIZER = NS(eos_token_id=3)


def test_order_explicit_then_call_config_then_model_then_tokenizer():
    assert eos_ids([4, 5], generation_config=NS(eos_token_id=6), model=MODEL, tokenizer=TOKENIZER) == {4, 5}
    assert eos_ids(generation_config=NS(eos_token_id=6), model=MODEL, tokenizer=TOKENIZER) == {6}
    assert eos_ids(generation_config=NS(eos_token_id=None), model=MODEL, tokenizer=TOKENIZER) == {1, 2}
    assert eos_ids(model=NS(generation_config=NS(eos_token_id=None)), tokenizer=TOKENIZER) == {3}
    assert eos_ids(torch.tensor([7, 8])) == {7, 8}
    assert eos_ids(torch.tensor(9)) == {9}
    assert eos_ids({10}) == {10}


def test_no_id_anywhere_says_where_it_looked_and_what_to_set():
    empty_model = NS(generation_config=NS(eos_token_id=None))
    with pytest.raises(
        ValueError,
        match=r"^no end-of-sequence id \(model\.generation_config\.eos_token_id and tokenizer\.eos_token_id are "
        r"None\), so a completion could never end; set model\.generation_config\.eos_token_id \(e\.g\. to "
        r"tokenizer\.eos_token_id\) or pass eos_token_id=\.$",
    ):
        eos_ids(model=empty_model, tokenizer=NS(eos_token_id=None))
    with pytest.raises(ValueError, match=r"^no end-of-sequence id \(none given\)"):
        eos_ids()
    with pytest.raises(ValueError, match=r"\(model\.generation_config\.eos_token_id is None\)"):
        eos_ids(model=NS())


@pytest.mark.parametrize("bad", [-1, [], [1, -2], "2", [1.0], True, [None]])
def test_bad_ids_are_named(bad):
    with pytest.raises(ValueError, match=r"^`eos_token_id` must be a token id >= 0 or a list of them, got "):
        eos_ids(bad)
    with pytest.raises(ValueError, match=r"^`tokenizer\.eos_token_id` must be a token id >= 0"):
        eos_ids(tokenizer=NS(eos_token_id=bad))
