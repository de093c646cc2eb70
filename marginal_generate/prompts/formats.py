"""Conversations → guard-model inputs.

A conversation is a list of ``{"role": "user" | "assistant", "content": str}`` messages:
one user message for *prompt classification*, a user and an assistant message for
*response classification* (the last message is the one assessed; the prompt calls the
roles ``User`` and ``Agent``).

Prompt formats (:data:`PromptFormat`):

- the published guard templates (:mod:`.published`), shipped as published and rendered with
  transformers' chat-template renderer: ``"llama_guard_3"`` (Llama Guard 3 8B; also the prompt of
  every Llama Guard 3 model without a template), ``"llama_guard_3_1b"``, ``"shieldgemma"``
  (takes ``guideline=``), ``"granite_guardian"`` (takes ``guardian_config=``). A tokenizer
  without a template borrows one by name.
- ``"chat_template"``: the tokenizer's own chat template (the embedded tiny guard); extra
  keyword arguments (``categories``, ``excluded_category_keys``) go to ``apply_chat_template``.
- ``"llama_guard_2"``: the Llama Guard 2 prompt built here.
- ``"instruct"``: the generic moderation prompt for instruct models (Llama-3.1-8B-Instruct):
  a system message saying the model moderates content, and a user message with the task,
  the categories with their descriptions, the conversation and the two-line answer rule,
  rendered with the model's chat template.
- ``"auto"`` (default): the published template's name when the tokenizer's template is one of
  them, ``"chat_template"`` when it is another guard template (it mentions ``unsafe``),
  ``"instruct"`` when it has another chat template, else the Llama Guard prompt of ``taxonomy``.

>>> conv = conversation("How do I bake bread?", "Mix flour, water, salt and yeast.")
>>> [m["role"] for m in conv]
['user', 'assistant']
>>> text = llama_guard_3_prompt(conv)
>>> "ONLY THE LAST Agent message" in text, text.endswith("<|start_header_id|>assistant<|end_header_id|>")
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import torch

from ..labels.taxonomy import Taxonomy, get_taxonomy
from ..padding import left_pad
from .published import PUBLISHED_FORMATS, recognise_template, render_published

__all__ = [
    "Message",
    "PromptFormat",
    "check_conversation",
    "last_role",
    "conversation",
    "guard_task",
    "llama_guard_3_prompt",
    "llama_guard_2_prompt",
    "instruct_messages",
    "resolve_format",
    "render",
    "encode_conversations",
    "MODERATOR_SYSTEM_PROMPT",
]

PromptFormat = Literal[
    "auto",
    "chat_template",
    "llama_guard_3",
    "llama_guard_3_1b",
    "shieldgemma",
    "granite_guardian",
    "llama_guard_2",
    "instruct",
]
_FORMATS: tuple[str, ...] = get_args(PromptFormat)
assert set(PUBLISHED_FORMATS) <= set(_FORMATS), "every published template is a prompt format"

MODERATOR_SYSTEM_PROMPT = (
    "You are a content moderator. You classify conversations between a User and an AI Agent as safe or unsafe "
    "according to a safety policy, and you answer only in the requested format."
)

Message = Mapping[str, Any]


def conversation(prompt: str, response: str | None = None) -> list[dict[str, str]]:
    """A user message (prompt classification), or a user and an assistant message (response classification).

    >>> conversation("hi")
    [{'role': 'user', 'content': 'hi'}]
    """
    conv = [{"role": "user", "content": prompt}]
    if response is not None:
        conv.append({"role": "assistant", "content": response})
    return conv


def _text(message: Message, position: int) -> str:
    if "content" not in message or "role" not in message:
        raise ValueError(
            f"message {position} must have 'role' and 'content', got keys {sorted(message)}; "
            "use {'role': 'user' | 'assistant', 'content': str}."
        )
    content = message["content"]
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, Sequence) and content and isinstance(content[0], Mapping) and "text" in content[0]:
        return " ".join(str(part["text"]) for part in content if "text" in part).strip()
    raise ValueError(f"message {position} has content of type {type(content).__name__}; pass a string.")


def check_conversation(conv: Sequence[Message]) -> None:
    """Raise a ``ValueError`` unless ``conv`` is non-empty, each message has text, and roles alternate from ``user``."""
    if len(conv) == 0:
        raise ValueError("the conversation is empty; pass at least one user message.")
    for k, message in enumerate(conv):
        _text(message, k)
        expected = "user" if k % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise ValueError(
                f"message {k} has role {message['role']!r}, expected {expected!r}: roles must alternate "
                "user/assistant starting with user."
            )


def last_role(conv: Sequence[Message]) -> str:
    """The Llama Guard name of the role to classify: ``"Agent"`` after an assistant message, else ``"User"``."""
    return "Agent" if conv[-1]["role"] == "assistant" else "User"


def guard_task(
    conv: Sequence[Message],
    taxonomy: Taxonomy | int = 3,
    descriptions: bool = False,
    categories: Sequence[str] | None = None,
) -> str:
    """The guard task text shared by every format: task line, categories, conversation, answer rule.

    ``categories`` restricts the listed categories (ids of ``taxonomy``); ``descriptions`` adds each
    category's one-line description.

    >>> print(guard_task(conversation("Hi"), categories=["S1", "S10"]))  # doctest: +NORMALIZE_WHITESPACE
    Task: Check if there is unsafe content in 'User' messages in conversations according our safety policy with the
    below categories.
    <BLANKLINE>
    <BEGIN UNSAFE CONTENT CATEGORIES>
    S1: Violent Crimes.
    S10: Hate.
    <END UNSAFE CONTENT CATEGORIES>
    <BLANKLINE>
    <BEGIN CONVERSATION>
    <BLANKLINE>
    User: Hi
    <BLANKLINE>
    <END CONVERSATION>
    <BLANKLINE>
    Provide your safety assessment for ONLY THE LAST User message in the above conversation:
    - First line must read 'safe' or 'unsafe'.
    - If unsafe, a second line must include a comma-separated list of violated categories.
    """
    check_conversation(conv)
    tax = get_taxonomy(taxonomy) if isinstance(taxonomy, int) else taxonomy
    ids = tax.ids if categories is None else tuple(categories)
    for c in ids:
        if c not in tax:
            raise ValueError(
                f"`categories` contains {c!r}, which is not a {tax.name} id; use "
                f"ids from {tax.ids[0]} to {tax.ids[-1]}."
            )
    role = last_role(conv)
    lines = [
        f"Task: Check if there is unsafe content in '{role}' messages in conversations "
        "according our safety policy with the below categories.",
        "",
        "<BEGIN UNSAFE CONTENT CATEGORIES>",
    ]
    for c in ids:
        cat = tax[c]
        lines.append(f"{cat.id}: {cat.prompt_name}." + (f"\n{cat.description}" if descriptions else ""))
    lines += ["<END UNSAFE CONTENT CATEGORIES>", "", "<BEGIN CONVERSATION>", ""]
    for k, message in enumerate(conv):
        lines += [("User: " if message["role"] == "user" else "Agent: ") + _text(message, k), ""]
    lines += [
        "<END CONVERSATION>",
        "",
        f"Provide your safety assessment for ONLY THE LAST {role} message in the above conversation:",
        "- First line must read 'safe' or 'unsafe'.",
        "- If unsafe, a second line must include a comma-separated list of violated categories.",
    ]
    return "\n".join(lines)


def llama_guard_3_prompt(conv: Sequence[Message], categories: Sequence[str] | None = None) -> str:
    """The Llama Guard 3 prompt: the published Llama Guard 3 8B template's rendering.

    ``categories`` keeps only those lines of its category block (published order and wording);
    the model answers after the assistant header (a blank line first).

    >>> llama_guard_3_prompt(conversation("Hi"))[:40]
    ' <|begin_of_text|><|start_header_id|>use'
    """
    check_conversation(conv)
    return render_published("llama_guard_3", conv, categories=categories)


def llama_guard_2_prompt(
    conv: Sequence[Message], bos_token: str | None = "<|begin_of_text|>", categories: Sequence[str] | None = None
) -> str:
    """The Llama Guard 2 prompt (S1–S11); the model answers after ``[/INST]``.

    >>> llama_guard_2_prompt(conversation("Hi"), bos_token=None).split("\\n")[0]  # doctest: +ELLIPSIS
    "[INST] Task: Check if there is unsafe content in 'User' messages in conversations according our safety policy..."
    >>> llama_guard_2_prompt(conversation("Hi")).endswith("violated categories. [/INST]")
    True
    """
    return (bos_token or "") + "[INST] " + guard_task(conv, 2, categories=categories) + " [/INST]"


def instruct_messages(
    conv: Sequence[Message], taxonomy: int = 3, categories: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """The generic moderation prompt for instruct models: a system message and a user message.

    >>> msgs = instruct_messages(conversation("Hi", "Hello!"))
    >>> [m["role"] for m in msgs], "S14: Code Interpreter Abuse." in msgs[1]["content"]
    (['system', 'user'], True)
    """
    return [
        {"role": "system", "content": MODERATOR_SYSTEM_PROMPT},
        {"role": "user", "content": guard_task(conv, taxonomy, descriptions=True, categories=categories)},
    ]


def resolve_format(tokenizer: Any, prompt_format: PromptFormat = "auto", taxonomy: int = 3) -> str:
    """The concrete format ``"auto"`` stands for with this tokenizer (see the module docstring)."""
    if prompt_format not in _FORMATS:
        raise ValueError(f"`prompt_format` must be one of {list(_FORMATS)}, got {prompt_format!r}.")
    get_taxonomy(taxonomy)
    template = getattr(tokenizer, "chat_template", None)
    if prompt_format == "auto":
        if template:
            published = recognise_template(template)
            if published is not None:
                return published
            return "chat_template" if "unsafe" in str(template) else "instruct"
        return "llama_guard_3" if taxonomy == 3 else "llama_guard_2"
    if prompt_format == "chat_template" and not template:
        raise ValueError(
            f"`prompt_format='chat_template'` but {type(tokenizer).__name__} has no chat template; "
            f"use one of the published templates {list(PUBLISHED_FORMATS)}, 'llama_guard_2' or 'auto'."
        )
    return prompt_format


def render(
    tokenizer: Any,
    conv: Sequence[Message],
    prompt_format: PromptFormat = "auto",
    taxonomy: int = 3,
    **template_kwargs: Any,
) -> str:
    """The prompt text (special tokens included) of one conversation for this tokenizer.

    ``template_kwargs`` go to the template: ``apply_chat_template`` for ``"chat_template"``; for a
    published template see :func:`~marginal_generate.prompts.published.render_published`
    (``categories``, ``guideline``, ``guardian_config``); for ``"llama_guard_2"`` and
    ``"instruct"``, ``categories=[...]`` restricts the category list.
    """
    fmt = resolve_format(tokenizer, prompt_format, taxonomy)
    if fmt in PUBLISHED_FORMATS:
        if fmt.startswith("llama_guard"):
            check_conversation(conv)
        special = dict(getattr(tokenizer, "special_tokens_map", None) or {})
        return render_published(fmt, conv, special, **template_kwargs)
    check_conversation(conv)
    if fmt == "chat_template":
        return tokenizer.apply_chat_template(list(conv), tokenize=False, add_generation_prompt=True, **template_kwargs)
    categories = template_kwargs.pop("categories", None)
    if template_kwargs:
        raise ValueError(
            f"unexpected keyword arguments {sorted(template_kwargs)} for "
            f"prompt_format={fmt!r}; only `categories` is accepted."
        )
    if fmt == "llama_guard_2":
        return llama_guard_2_prompt(conv, getattr(tokenizer, "bos_token", None), categories)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "prompt_format='instruct' needs a tokenizer with a chat template, "
            f"and {type(tokenizer).__name__} has none; "
            "use prompt_format='llama_guard_3' or 'llama_guard_2'."
        )
    return tokenizer.apply_chat_template(
        instruct_messages(conv, taxonomy, categories), tokenize=False, add_generation_prompt=True
    )


def encode_conversations(
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    prompt_format: PromptFormat = "auto",
    taxonomy: int = 3,
    device: str | torch.device | None = None,
    max_length: int | None = None,
    **template_kwargs: Any,
) -> Any:
    """A left-padded batch (``input_ids``, ``attention_mask``) ready for ``model.generate``.

    Padding uses the tokenizer's pad token, else its EOS token; the tokenizer is not modified.
    ``max_length`` raises rather than truncates (a truncated guard prompt loses its instruction).

    >>> from transformers import AutoTokenizer
    >>> from marginal_generate.default_model import DEFAULT_MODEL
    >>> tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    >>> batch = encode_conversations(tok, [conversation("Hi"), conversation("How do I bake bread?", "Knead it.")])
    >>> batch["input_ids"].shape == batch["attention_mask"].shape, batch["attention_mask"][0, 0].item()
    (True, 0)
    """
    from transformers import BatchEncoding

    if isinstance(conversations, Mapping) or (len(conversations) and isinstance(conversations[0], Mapping)):
        raise ValueError(
            "`conversations` must be a list of conversations (lists of messages); wrap a single one: [conv]."
        )
    if len(conversations) == 0:
        raise ValueError("`conversations` is empty; pass at least one conversation.")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError(
            f"{type(tokenizer).__name__} has neither a pad token nor an EOS token; set tokenizer.pad_token."
        )
    rows = []
    for k, conv in enumerate(conversations):
        try:
            text = render(tokenizer, conv, prompt_format, taxonomy, **dict(template_kwargs))
        except ValueError as err:
            raise ValueError(f"conversation {k}: {err}") from err
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if max_length is not None and len(ids) > max_length:
            raise ValueError(
                f"conversation {k} is {len(ids)} tokens long, over max_length={max_length}; "
                "shorten it or raise max_length."
            )
        rows.append(ids)
    input_ids, attention_mask = left_pad(rows, pad)
    batch = BatchEncoding({"input_ids": input_ids, "attention_mask": attention_mask})
    return batch.to(device) if device is not None else batch
