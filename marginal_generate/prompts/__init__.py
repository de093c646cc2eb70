"""Conversations to model inputs.

- :mod:`.formats`: the prompt formats (a tokenizer's chat template, the Llama Guard 2/3
  prompts, an instruct moderation prompt), :func:`render` and :func:`encode_conversations`.
- :mod:`.label_prompts`: one prompt per label (``per_category_prompt``, ``unary``).
"""

from .formats import (
    MODERATOR_SYSTEM_PROMPT,
    Message,
    PromptFormat,
    check_conversation,
    conversation,
    encode_conversations,
    guard_task,
    instruct_messages,
    last_role,
    llama_guard_2_prompt,
    llama_guard_3_prompt,
    render,
    resolve_format,
)
from .label_prompts import (
    PROMPTED_STRATEGIES,
    LabelPromptKind,
    label_prompts,
    template_honours,
    unary_question,
)

__all__ = [
    "Message",
    "PromptFormat",
    "MODERATOR_SYSTEM_PROMPT",
    "conversation",
    "check_conversation",
    "last_role",
    "guard_task",
    "llama_guard_3_prompt",
    "llama_guard_2_prompt",
    "instruct_messages",
    "resolve_format",
    "render",
    "encode_conversations",
    "PROMPTED_STRATEGIES",
    "LabelPromptKind",
    "label_prompts",
    "template_honours",
    "unary_question",
]
