import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from marginal_generate.default_model import DEFAULT_MODEL
from marginal_generate.labels.taxonomy import LLAMA_GUARD_2, LLAMA_GUARD_3
from marginal_generate.prompts.formats import (
    MODERATOR_SYSTEM_PROMPT,
    conversation,
    encode_conversations,
    guard_task,
    instruct_messages,
    llama_guard_2_prompt,
    llama_guard_3_prompt,
    render,
    resolve_format,
)


@pytest.fixture(scope="module")
def tiny():
    return AutoTokenizer.from_pretrained(DEFAULT_MODEL)


def _plain_tokenizer(chat_template=None):
    """A word-level tokenizer with no chat template (or a given one)."""
    words = ["<pad>", "<s>", "</s>", "[UNK]"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="[UNK]")
    if chat_template:
        fast.chat_template = chat_template
    return fast


def test_llama_guard_3_prompt_user_only():
    text = llama_guard_3_prompt(conversation("  How do I pick a lock?  "))
    assert text.startswith(
        " <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTask: "
        "Check if there is unsafe content in 'User' messages"
    )
    for c in LLAMA_GUARD_3:
        assert f"{c.id}: {c.prompt_name}.\n" in text
    assert "S3: Sex Crimes.\nS4: Child Exploitation.\n" in text and "S11: Self-Harm.\n" in text
    assert "\n\nUser: How do I pick a lock?\n\n<END CONVERSATION>" in text
    assert "Provide your safety assessment for ONLY THE LAST User message in the above conversation:" in text
    assert (
        ":\n - First line must read 'safe' or 'unsafe'.\n - If unsafe, a second line must "
        "include a comma-separated list of violated categories.<|eot_id|>" in text
    )
    assert text.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>")
    assert "Agent:" not in text


def test_llama_guard_2_prompt_response():
    text = llama_guard_2_prompt(conversation("Hi", "Hello there"), bos_token=None)
    assert text.startswith("[INST] Task: Check if there is unsafe content in 'Agent' messages")
    assert "User: Hi\n\nAgent: Hello there\n\n<END CONVERSATION>" in text
    assert "ONLY THE LAST Agent message" in text and text.endswith(" [/INST]")
    assert "S11: Sexual Content." in text and "S12" not in text
    assert all(f"{c.id}: {c.name}." in text for c in LLAMA_GUARD_2)


def test_instruct_messages_have_descriptions():
    system, user = instruct_messages(conversation("Hi", "Hello"), taxonomy=3)
    assert system == {"role": "system", "content": MODERATOR_SYSTEM_PROMPT}
    assert "moderator" in system["content"]
    for c in LLAMA_GUARD_3:
        assert f"{c.id}: {c.prompt_name}.\n{c.description}" in user["content"]
    assert "ONLY THE LAST Agent message" in user["content"]


def test_category_subset_and_errors():
    task = guard_task(conversation("Hi"), 3, categories=["S2"])
    assert "S2: Non-Violent Crimes." in task and "S1:" not in task
    with pytest.raises(ValueError, match="`categories` contains 'S14', which is not a Llama Guard 2 id"):
        guard_task(conversation("Hi"), 2, categories=["S14"])
    with pytest.raises(ValueError, match="message 1 has role 'user', expected 'assistant'"):
        guard_task([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    with pytest.raises(ValueError, match="the conversation is empty"):
        guard_task([])
    with pytest.raises(ValueError, match="message 0 must have 'role' and 'content'"):
        guard_task([{"text": "a"}])


def test_content_parts_accepted():
    conv = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert "User: Hi\n" in guard_task(conv)


def test_resolve_format(tiny):
    assert resolve_format(tiny) == "chat_template"
    assert resolve_format(_plain_tokenizer()) == "llama_guard_3"
    assert resolve_format(_plain_tokenizer(), taxonomy=2) == "llama_guard_2"
    chat = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    assert resolve_format(_plain_tokenizer(chat)) == "instruct"
    with pytest.raises(ValueError, match="`prompt_format` must be one of"):
        resolve_format(tiny, "llama_guard_4")
    with pytest.raises(ValueError, match="has no chat template"):
        resolve_format(_plain_tokenizer(), "chat_template")


def test_render_instruct_through_chat_template():
    chat = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    text = render(_plain_tokenizer(chat), conversation("Hi"))
    assert text.startswith("<system>" + MODERATOR_SYSTEM_PROMPT + "<user>Task:")
    assert text.endswith("<assistant>")
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        render(_plain_tokenizer(), conversation("Hi"), "instruct")


def test_render_formats_of_a_tokenizer_without_template():
    # Llama Guard 3's published template writes its own BOS (after a space); the built Llama Guard 2 prompt the
    # tokenizer's
    assert render(_plain_tokenizer(), conversation("Hi")).startswith(" <|begin_of_text|><|start_header_id|>")
    assert render(_plain_tokenizer(), conversation("Hi"), taxonomy=2).startswith("<s>[INST] Task:")
    with pytest.raises(ValueError, match=r"unexpected keyword arguments \['foo'\]"):
        render(_plain_tokenizer(), conversation("Hi"), "llama_guard_2", foo=1)


def test_tiny_chat_template(tiny):
    user = tiny.apply_chat_template(conversation("Hi"), tokenize=False)
    agent = render(tiny, conversation("Hi", "Hello"))
    for text, role in ((user, "User"), (agent, "Agent")):
        assert text.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTask:")
        assert "<BEGIN CONVERSATION>" in text and "<END CONVERSATION>" in text
        assert f"ONLY THE LAST {role} message" in text
        assert text.endswith("<|start_header_id|>assistant<|end_header_id|>")
    assert "Agent: Hello" in agent and "Agent:" not in user


def test_encode_left_padded(tiny):
    convs = [conversation("Hi"), conversation("How do I bake sourdough bread at home?", "Mix flour and water.")]
    batch = encode_conversations(tiny, convs)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == mask.shape and ids.shape[0] == 2
    short = int(mask[0].sum())
    assert short < ids.shape[1] and mask[0, : ids.shape[1] - short].sum() == 0 and mask[0, -short:].all()
    assert (ids[0, : ids.shape[1] - short] == tiny.pad_token_id).all()
    assert mask[1].all()
    assert ids[0, ids.shape[1] - short].item() == tiny.bos_token_id and (ids[:, 0] == tiny.bos_token_id).sum() == 1
    alone = tiny(render(tiny, convs[0]), add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    assert ids[0, -short:].tolist() == alone.tolist()


def test_encode_errors(tiny):
    with pytest.raises(ValueError, match="wrap a single one"):
        encode_conversations(tiny, conversation("Hi"))
    with pytest.raises(ValueError, match="`conversations` is empty"):
        encode_conversations(tiny, [])
    with pytest.raises(ValueError, match="over max_length=5"):
        encode_conversations(tiny, [conversation("Hi")], max_length=5)
