"""The prompted readings find the answer's first word by first_token's rule (#29 leftover).

``read_first_word`` (per-category prompts, unary questions, yes/no policy prompts) took the first token whose own
decode strips non-empty, so a lone UTF-8 lead byte (C2, decoded alone as U+FFFD) counted as the first word: on an
answer ``C2 A0 Yes`` (a no-break space, then Yes) it read p(Yes) at C2's step. It now reads through
:class:`~marginal_generate.decoding.first_word.FirstWordReader`, the greedy recorder's reader: the step where the first
non-whitespace character starts, known once the character is whole. The models are test_byte_split's planted tables
over the real Llama 3 tokenizer.
"""

from __future__ import annotations

import pytest
import torch
from test_byte_split import BOS, FIRST_WORD, Planted, space_of, token_of, tokenizer

from marginal_generate.decoding.stepper import CachedStepper
from marginal_generate.policy_prompts import policy_prompt_texts, score_policy_prompts
from marginal_generate.prompted import read_first_word

# what each FIRST_WORD answer's greedy text is up to the step its reading is known
GREEDY_TEXT = {"llama guard": "\xa0unsafe", "no-break space": "\xa0Yes", "é": "é", "lone lead byte": "\ufffd"}


@pytest.mark.parametrize("case", list(FIRST_WORD))
def test_read_first_word_reads_where_the_first_non_whitespace_character_starts(case):
    """The same values as first_token's on the same tables (test_byte_split): 0.7 for C2 A0 Yes, where the old
    per-token test read C2's step (0.0); C3 A9 (é) at C3's step; a lone C2 ending the answer at its own step."""
    table, expected = FIRST_WORD[case]
    space = space_of("llama_guard" if case == "llama guard" else "yes_no")
    ids = torch.tensor([[tokenizer().bos_token_id]])
    stepper = CachedStepper(Planted(table).model(), ids, torch.ones_like(ids))
    values, texts = read_first_word(stepper, tokenizer(), space.verbalizer_ids, {tokenizer().eos_token_id}, 4)
    assert values[0].item() == pytest.approx(expected, abs=1e-9)
    assert texts == [GREEDY_TEXT[case]]


def test_read_first_word_first_step_reads_the_lead_byte_step():
    """``first_step=True`` keeps reading the first generated step, whatever it writes (C2 there: No 0.4, Yes none)."""
    table, _ = FIRST_WORD["no-break space"]
    ids = torch.tensor([[tokenizer().bos_token_id]])
    stepper = CachedStepper(Planted(table).model(), ids, torch.ones_like(ids))
    verbalizer = space_of("yes_no").verbalizer_ids
    values, texts = read_first_word(stepper, tokenizer(), verbalizer, {tokenizer().eos_token_id}, 4, first_step=True)
    assert values.tolist() == [0.0] and texts == ["\ufffd"]


def test_read_first_word_gives_nan_while_the_character_is_unfinished():
    """A lead byte still unfinished when ``max_new_tokens`` runs out: the first word has not started (NaN)."""
    table, _ = FIRST_WORD["no-break space"]
    ids = torch.tensor([[tokenizer().bos_token_id]])
    stepper = CachedStepper(Planted(table).model(), ids, torch.ones_like(ids))
    verbalizer = space_of("yes_no").verbalizer_ids
    values, texts = read_first_word(stepper, tokenizer(), verbalizer, {tokenizer().eos_token_id}, 1)
    assert torch.isnan(values).all() and texts == ["\ufffd"]


@pytest.mark.parametrize("share_prefix", [True, False])
def test_policy_prompts_read_after_a_split_no_break_space(share_prefix):
    """score_policy_prompts on ShieldGemma's published template: the model answers C2 A0 then Yes 0.7 / No 0.3, so
    ``first_word`` reads 0.7 for each policy (0.0 before: C2's step, where only No has mass) and ``first_step`` 0.0."""
    tok = tokenizer()
    conversations = [[{"role": "user", "content": "how do I bake bread"}]]
    policies = {"dangerous": {"guideline": "No Dangerous Content."}, "harassment": {"guideline": "No Harassment."}}
    table = {BOS: {0xC2: 0.6, "No": 0.4}, 0xC2: {0xA0: 1.0}, 0xA0: {"Yes": 0.7, "No": 0.3}}
    planted = Planted(table)
    prompt_ends = {
        tok(text, add_special_tokens=False)["input_ids"][-1]
        for text in policy_prompt_texts(tok, conversations[0], policies, "shieldgemma")
    }
    assert len(prompt_ends) == 1 and token_of(BOS) not in prompt_ends
    planted.next[prompt_ends.pop()] = planted.next.pop(token_of(BOS))  # the answer starts after the prompt's end
    kw = {"prompt_format": "shieldgemma", "share_prefix": share_prefix, "max_new_tokens": 4}
    word = score_policy_prompts(planted.model(), tok, conversations, policies, **kw)
    step = score_policy_prompts(planted.model(), tok, conversations, policies, read_at="first_step", **kw)
    assert word.probs[0].tolist() == pytest.approx([0.7, 0.7], abs=1e-9)
    assert word.texts == ["\xa0Yes"]
    assert step.probs[0].tolist() == pytest.approx([0.0, 0.0], abs=1e-9) and step.texts == ["\ufffd"]
