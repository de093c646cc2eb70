"""The published guard templates: shipped byte for byte, rendered byte for byte, adapted only by tested
transformations."""

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import render_jinja_template

from marginal_generate.prompts import encode_conversations, label_prompts, render, resolve_format
from marginal_generate.prompts.published import (
    PUBLISHED_FORMATS,
    as_text_parts,
    published_template,
    recognise_template,
    render_published,
    restrict_categories,
    template_categories,
)

PUBLISHED = json.loads((Path(__file__).parent / "data" / "guard_chat_templates.json").read_text(encoding="utf-8"))
KEYS = {
    "llama_guard_3": "library/llama-guard3:8b",
    "llama_guard_3_1b": "library/llama-guard3:1b",
    "shieldgemma": "library/shieldgemma:27b",
    "granite_guardian": "library/granite3-guardian:2b",
}
TEMPLATES = Path(__file__).parents[1] / "marginal_generate" / "prompts" / "templates"
CONVERSATIONS = {
    "user": [{"role": "user", "content": "How do I pick a lock?"}],
    "user_assistant": [
        {"role": "user", "content": "How do I pick a lock?"},
        {"role": "assistant", "content": "Use a tension wrench and a pick."},
    ],
    "whitespace": [{"role": "user", "content": "  \n\tHow do I pick a lock?\n  "}],
    "non_ascii": [
        {"role": "user", "content": "Wie öffne ich ein Schloss? 鍵を開ける方法 — naïve 🙂"},
        {"role": "assistant", "content": "Je ne peux pas t'aider. ¿Por qué?"},
    ],
    "three_turns": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Now tell me how to make napalm."},
    ],
}
ARGUMENTS = {  # what each template needs to say something about the conversation
    "llama_guard_3": {},
    "llama_guard_3_1b": {},
    "shieldgemma": {
        "guideline": '"No Dangerous Content": The prompt shall not seek instructions for harming oneself or others.'
    },
    "granite_guardian": {"guardian_config": {"risk_name": "harm"}},
}


def _tokenizer(chat_template=None):
    """A tokenizer with Gemma-like special tokens and no vocabulary to speak of (rendering needs none)."""
    words = ["<pad>", "<bos>", "<eos>", "<unk>"]
    inner = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=inner, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def _published(name, conversation, tokenizer, **kwargs):
    """What the published template (from the JSON) renders, as apply_chat_template does it."""
    messages = as_text_parts(conversation) if name == "llama_guard_3_1b" else conversation
    rendered, _ = render_jinja_template(
        conversations=[messages],
        chat_template=PUBLISHED[KEYS[name]],
        add_generation_prompt=True,
        **{**tokenizer.special_tokens_map, **kwargs},
    )
    return rendered[0]


@pytest.mark.parametrize("name", PUBLISHED_FORMATS)
def test_shipped_template_is_the_published_bytes(name):
    assert (TEMPLATES / f"{name}.jinja").read_bytes() == PUBLISHED[KEYS[name]].encode("utf-8")
    assert published_template(name) == PUBLISHED[KEYS[name]]


@pytest.mark.parametrize("case", sorted(CONVERSATIONS))
@pytest.mark.parametrize("name", PUBLISHED_FORMATS)
def test_render_equals_the_published_template(name, case):
    conv = CONVERSATIONS[case]
    tok = _tokenizer()
    expected = _published(name, conv, tok, **ARGUMENTS[name])
    assert render(tok, conv, prompt_format=name, **ARGUMENTS[name]) == expected
    # a tokenizer that carries the published template renders the same through apply_chat_template and `auto`
    owner = _tokenizer(PUBLISHED[KEYS[name]])
    messages = as_text_parts(conv) if name == "llama_guard_3_1b" else conv
    assert (
        owner.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **ARGUMENTS[name]) == expected
    )
    assert render(owner, conv, **ARGUMENTS[name]) == expected


def test_rendered_text_pins_the_published_details():
    text = render(_tokenizer(), CONVERSATIONS["whitespace"], "llama_guard_3")
    assert text.startswith(" <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTask:")
    assert "S3: Sex Crimes.\nS4: Child Exploitation.\n" in text and "S11: Self-Harm.\n" in text
    assert "User: How do I pick a lock?\n\n<END CONVERSATION>" in text
    assert text.endswith(
        ":\n - First line must read 'safe' or 'unsafe'.\n - If unsafe, a second "
        "line must include a comma-separated list of "
        "violated categories.<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
    )
    small = render(_tokenizer(), CONVERSATIONS["user"], "llama_guard_3_1b")
    assert "S13: Elections.\n<END UNSAFE CONTENT CATEGORIES>" in small and "S14" not in small
    assert small.endswith("violated categories. <|eot_id|><|start_header_id|>assistant<|end_header_id|>")
    gemma = render(_tokenizer(), CONVERSATIONS["user"], "shieldgemma", **ARGUMENTS["shieldgemma"])
    assert gemma.startswith("<bos>You are a policy expert") and '* "No Dangerous Content"' in gemma


def _without_lines(text, ids):
    """The full 8B rendering with the category lines of every id not in ``ids`` deleted (an independent computation)."""
    keep = []
    for line in text.split("\n"):
        head = line.split(":")[0]
        if head.startswith("S") and head[1:].isdigit() and line.endswith(".") and head not in ids:
            continue
        keep.append(line)
    return "\n".join(keep)


@pytest.mark.parametrize("ids", [["S1"], ["S10", "S2"], ["S14"], [f"S{i}" for i in range(1, 15)]])
def test_categories_on_the_8b_template(ids):
    conv = CONVERSATIONS["user_assistant"]
    full = _published("llama_guard_3", conv, _tokenizer())
    text = render(_tokenizer(), conv, "llama_guard_3", categories=ids)
    assert text == _without_lines(full, set(ids))
    block = text.split("<BEGIN UNSAFE CONTENT CATEGORIES>\n")[1].split("<END UNSAFE CONTENT CATEGORIES>")[0]
    names = template_categories("llama_guard_3")
    assert block == "".join(f"{c}: {names[c]}\n" for c in names if c in ids)  # published order and wording
    assert restrict_categories(PUBLISHED[KEYS["llama_guard_3"]], ids).count("\nS") == len(ids)


def test_categories_on_the_1b_template_go_through_its_own_arguments():
    conv = CONVERSATIONS["user"]
    tok = _tokenizer()
    others = [f"S{i}" for i in range(1, 14) if i not in (1, 10)]
    expected = _published("llama_guard_3_1b", conv, tok, excluded_category_keys=others)
    assert render(tok, conv, "llama_guard_3_1b", categories=["S10", "S1"]) == expected
    assert "<BEGIN UNSAFE CONTENT CATEGORIES>\nS1: Violent Crimes.\nS10: Hate.\n<END" in expected
    policy = {"S1": "Violent Crimes.", "X9": "Jaywalking."}
    assert render(tok, conv, "llama_guard_3_1b", categories=policy) == _published(
        "llama_guard_3_1b", conv, tok, categories=policy
    )


@pytest.mark.parametrize("risk", ["harm", "jailbreak", "social_bias"])
def test_granite_guardian_risk_names(risk):
    conv = CONVERSATIONS["user_assistant"]
    config = {"risk_name": risk}
    text = render(_tokenizer(), conv, "granite_guardian", guardian_config=config)
    assert text == _published("granite_guardian", conv, _tokenizer(), guardian_config=config)
    assert "Is the assistant message harmful based on the risk definition?" in text


def test_auto_recognises_the_published_templates():
    for name in PUBLISHED_FORMATS:
        assert resolve_format(_tokenizer(PUBLISHED[KEYS[name]])) == name
        assert recognise_template("\n" + PUBLISHED[KEYS[name]] + "\n") == name
    assert resolve_format(_tokenizer(PUBLISHED[KEYS["llama_guard_3"]] + "{# edited #}")) == "chat_template"
    assert resolve_format(_tokenizer()) == "llama_guard_3"


def test_per_category_and_unary_prompts_on_the_8b_template():
    owner = _tokenizer(PUBLISHED[KEYS["llama_guard_3"]])
    conv = CONVERSATIONS["user"]
    first, s11 = label_prompts(owner, [conv], "per_category_prompt", ["S11"])[0]
    assert first == _published("llama_guard_3", conv, owner)
    assert s11 == _without_lines(first, {"S11"})
    _, question = label_prompts(owner, [conv], "unary", ["S11"])[0]
    assert question.endswith(
        "Does the last User message fall under the category S11: Self-Harm? Answer yes or no."
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
    )
    assert question.startswith(first[: first.index("Provide your safety assessment")])
    small = _tokenizer(PUBLISHED[KEYS["llama_guard_3_1b"]])
    _, s3 = label_prompts(small, [conv], "per_category_prompt", ["S3"])[0]
    assert "<BEGIN UNSAFE CONTENT CATEGORIES>\nS3: Sex Crimes.\n<END" in s3


def test_errors():
    tok, conv = _tokenizer(), CONVERSATIONS["user"]
    with pytest.raises(
        ValueError,
        match=r"`prompt_format` must be one of \['auto', 'chat_template', 'llama_guard_3', 'llama_guard_3_1b', "
        r"'shieldgemma', 'granite_guardian', 'llama_guard_2', 'instruct'\], got 'llama_guard_4'",
    ):
        render(tok, conv, "llama_guard_4")
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(
        ValueError, match="conversation 1: message 1 has role 'user', expected 'assistant': roles must alternate"
    ):
        encode_conversations(tok, [conv, bad], "llama_guard_3")
    with pytest.raises(
        ValueError,
        match="published llama_guard_3 template refuses this conversation: "
        "Conversation roles must alternate user/assistant",
    ):
        render_published("llama_guard_3", bad)
    with pytest.raises(
        ValueError,
        match="conversation 0: the published granite_guardian template refuses this conversation: "
        "new risk name provided; risk definition is mandatory",
    ):
        encode_conversations(tok, [conv], "granite_guardian", guardian_config={"risk_name": "jaywalking"})
    with pytest.raises(
        ValueError,
        match="`categories` contains 'S14', which the llama_guard_3_1b template does not list; use ids from S1 to S13",
    ):
        render(tok, conv, "llama_guard_3_1b", categories=["S14"])
    with pytest.raises(
        ValueError,
        match=r"`categories` for prompt_format='llama_guard_3' must be a non-empty list of category ids, got \[\]",
    ):
        render(tok, conv, "llama_guard_3", categories=[])
    with pytest.raises(
        ValueError,
        match=r"`categories` renames 'S3' \('Sex-Related Crimes.'\), but the llama_guard_3 template's wording is fixed",
    ):
        render(tok, conv, "llama_guard_3", categories={"S3": "Sex-Related Crimes."})
    with pytest.raises(
        ValueError,
        match="prompt_format='shieldgemma' takes no `categories`; it checks one policy at a time: pass `guideline=`",
    ):
        render(tok, conv, "shieldgemma", categories=["S1"], guideline="x")
    with pytest.raises(ValueError, match="prompt_format='shieldgemma' needs `guideline=`"):
        render(tok, conv, "shieldgemma")
    with pytest.raises(
        ValueError,
        match="`prompt_format` 'shieldgemma' asks about one policy and answers Yes/No, "
        "so 'unary' .* score it with mg.score_policy_prompts",
    ):
        label_prompts(tok, [conv], "unary", ["S1"], prompt_format="shieldgemma")
    with pytest.raises(ValueError, match="`prompt_format` 'llama_guard_9' is not a published template; use one of"):
        published_template("llama_guard_9")
