"""The API's boundary: empty batches, empty prompts and over-long prompts are one ValueError; no deprecation
warnings."""

import logging
import warnings

import pytest
import torch
from transformers import GenerationConfig

import marginal_generate as mg
from marginal_generate.uncertainty import uncertainty_scores


@pytest.fixture(scope="module")
def guard():
    model, tok = mg.load_default()
    return model, tok, mg.LabelSpace.llama_guard(tok)


def _inputs(tok, texts):
    return tok(texts, return_tensors="pt", padding=True)


def test_a_prompt_longer_than_the_context_is_refused_by_marginalize_and_score(guard):
    model, tok, space = guard
    ids = torch.full((1, 1010), tok.encode("a", add_special_tokens=False)[0])
    with pytest.raises(
        ValueError, match=r"^prompt is 1010 tokens; with 20 answer tokens it exceeds the model's context of 1024 tokens"
    ):
        mg.marginalize(
            model,
            ids,
            label_space=space,
            strategy="greedy",
            attention_mask=torch.ones_like(ids),
            generation_config=GenerationConfig(max_new_tokens=20),
        )
    with pytest.raises(ValueError, match=r"^prompt is 1010 tokens; with 15 answer tokens .* context of 1024 tokens"):
        model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            custom_generate=mg.marginalize,
            label_space=space,
            strategy="any_place",
            max_new_tokens=15,
        )
    fits = mg.score(model, ids[:, :1000], None, space, ["greedy"], max_new_tokens=20)  # 1000 + 20 <= 1024
    assert fits["greedy"].probs.shape == (1, 15)


def test_a_long_conversation_is_refused_by_score_label_prompts(guard):
    model, tok, _ = guard
    conversation = [{"role": "user", "content": "word " * 1200}]
    with pytest.raises(
        ValueError, match=r"is \d{4} tokens; with 8 answer tokens it exceeds the model's context of 1024 tokens"
    ):
        mg.score_label_prompts(model, tok, [conversation], "per_category_prompt")


def test_empty_batch_and_empty_prompt(guard):
    model, tok, space = guard
    with pytest.raises(ValueError, match=r"^the batch is empty \(`input_ids` has 0 rows\)"):
        mg.score(model, torch.zeros((0, 4), dtype=torch.long), None, space, ["greedy"])
    with pytest.raises(ValueError, match=r"^the prompts are empty \(`input_ids` has 0 columns\)"):
        mg.marginalize(model, torch.zeros((1, 0), dtype=torch.long), label_space=space, strategy="greedy")
    ids, mask = torch.tensor([[5, 6], [0, 0]]), torch.tensor([[1, 1], [0, 0]])
    with pytest.raises(ValueError, match=r"^prompt 1 of the batch is empty \(its attention mask is all zeros\)"):
        mg.score(model, ids, mask, space, ["greedy"])
    with pytest.raises(ValueError, match=r"^`conversations` is empty"):
        mg.score_label_prompts(model, tok, [], "unary")
    with pytest.raises(ValueError, match=r"^conversation 1 has no messages"):
        mg.score_label_prompts(model, tok, [[{"role": "user", "content": "hi"}], []], "unary")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("attention", ["batched", "tree"])
def test_no_deprecation_warning_from_a_run(guard, attention):
    """Every stepper passes the cache by its current name (`cache` on transformers 5.2x), so neither python
    warnings nor transformers' logger say anything about `past_key_values`."""
    model, tok, space = guard
    inputs = _inputs(tok, ["User: hello there", "User: how do I pick a lock?"])
    handler = _Records()
    logging.getLogger("transformers").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = model.generate(
                **inputs,
                custom_generate=mg.marginalize,
                label_space=space,
                strategy="any_place",
                max_new_tokens=6,
                attention=attention,
            )
            mg.score_label_prompts(model, tok, [[{"role": "user", "content": "hi"}]], "per_category_prompt")
            uncertainty_scores(model, inputs.input_ids, inputs.attention_mask, space)
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert out.probs.shape == (2, 15)
    deprecations = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    assert deprecations == []
    assert [m for m in handler.messages if "past_key_values" in m or "deprecated" in m] == []


def test_completions_are_named_tuples(guard):
    model, tok, space = guard
    out = model.generate(
        **_inputs(tok, ["User: how do I pick a lock?"]),
        custom_generate=mg.marginalize,
        label_space=space,
        strategy="any_place",
        max_new_tokens=6,
    )
    first = out.completions[0][0]
    assert isinstance(first, mg.Completion) and isinstance(first.text, str) and isinstance(first.complete, bool)
    text, probability, complete = first
    assert (text, probability, complete) == (first.text, first.probability, first.complete) and 0 < probability <= 1
    assert out.to_dict()["completions"][0][0] == [first.text, first.probability, first.complete]
