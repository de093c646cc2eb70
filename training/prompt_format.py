"""The guard prompt the tiny guard trains on, as text: Llama Guard 3's layout, shortened.

:func:`render_prompt` writes a conversation's prompt (:func:`prompt_prefix`, shared by every prompt of one
conversation, then :func:`prompt_suffix`), :data:`CHAT_TEMPLATE` is its Jinja twin that the tokenizer ships (checked
against it when the tokenizer is built), and :func:`answer_text` the answer after the assistant header.

>>> print(render_prompt([{"role": "user", "content": "Hi"}]).replace("<|eot_id|>", "\\n<|eot_id|>"))
<|begin_of_text|><|start_header_id|>user<|end_header_id|>
<BLANKLINE>
Task: Check if there is unsafe content in 'User' messages according to our safety policy.
<BLANKLINE>
<BEGIN CONVERSATION>
<BLANKLINE>
User: Hi
<BLANKLINE>
<END CONVERSATION>
<BLANKLINE>
Provide your safety assessment for ONLY THE LAST User message.
<|eot_id|><|start_header_id|>assistant<|end_header_id|>
>>> answer_text(["S3", "S1"])
'\\n\\nunsafe\\nS3,S1'
"""

from __future__ import annotations

from marginal_generate.labels.taxonomy import LLAMA_GUARD_3
from marginal_generate.prompts.formats import last_role  # the role the guard prompt asks about, as the package names it

CATEGORIES = [f"S{i}" for i in range(1, 15)]
TASK = "Task: Check if there is unsafe content in '{role}' messages according to our safety policy."
# Jinja twin of ``render_prompt``; checked against it after the tokenizer is built. Like Llama Guard 3 1B's
# template it takes ``categories`` (id -> name) and ``excluded_category_keys``: either one adds a policy block
# (after the conversation, so that one conversation's per-category prompts share their prefix); without them
# the prompt has no policy block and means every category. ``question`` replaces the assessment instruction
# (the unary yes/no prompts of ``marginal_generate.prompts.label_prompts``).
DEFAULT_POLICY = {c.id: c.name + "." for c in LLAMA_GUARD_3}
CHAT_TEMPLATE = (
    "{{- bos_token + '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}"
    "{%- set role = 'Agent' if messages[-1]['role'] == 'assistant' else 'User' -%}"
    '{{- "Task: Check if there is unsafe content in \'" + role + "\' messages according '
    'to our safety policy.\\n\\n<BEGIN CONVERSATION>\\n\\n" -}}'
    "{%- for message in messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}"
    "{%- endif -%}"
    "{%- if message['content'] is string -%}{%- set content = message['content'] -%}"
    "{%- else -%}{%- set content = message['content'][0]['text'] -%}{%- endif -%}"
    "{{- ('User: ' if message['role'] == 'user' else 'Agent: ') + content | trim + '\\n\\n' -}}"
    "{%- endfor -%}"
    "{{- '<END CONVERSATION>\\n\\n' -}}"
    "{%- if (categories is defined and categories) or (excluded_category_keys "
    "is defined and excluded_category_keys) -%}"
    "{%- set policy = categories if (categories is defined and categories) else " + repr(DEFAULT_POLICY) + " -%}"
    "{%- set excluded = excluded_category_keys if (excluded_category_keys "
    "is defined and excluded_category_keys) else [] -%}"
    "{{- '<BEGIN UNSAFE CONTENT CATEGORIES>\\n' -}}"
    "{%- for key, name in policy.items() -%}{%- if key not in excluded -%}{{- "
    "key + ': ' + name + '\\n' -}}{%- endif -%}{%- endfor -%}"
    "{{- '<END UNSAFE CONTENT CATEGORIES>\\n\\n' -}}"
    "{%- endif -%}"
    "{%- if question is defined and question -%}{{- question | trim -}}"
    "{%- else -%}{{- 'Provide your safety assessment for ONLY THE LAST ' + role + ' message.' -}}{%- endif -%}"
    "{{- '<|eot_id|><|start_header_id|>assistant<|end_header_id|>' -}}"
)


def render_prompt(
    conversation: list[dict], categories: dict[str, str] | None = None, question: str | None = None
) -> str:
    """The whole guard prompt of ``conversation`` (with a policy block for ``categories``, or ``question`` in place of
    the assessment instruction)."""
    return prompt_prefix(conversation) + prompt_suffix(conversation, categories, question)


def prompt_prefix(conversation: list[dict]) -> str:
    """The prompt up to ``<END CONVERSATION>``: shared by every prompt of one conversation."""
    text = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
        + TASK.format(role=last_role(conversation))
        + "\n\n<BEGIN CONVERSATION>\n\n"
    )
    for m in conversation:
        text += ("User: " if m["role"] == "user" else "Agent: ") + m["content"].strip() + "\n\n"
    return text + "<END CONVERSATION>\n\n"


def prompt_suffix(
    conversation: list[dict], categories: dict[str, str] | None = None, question: str | None = None
) -> str:
    """The rest of the prompt: the optional policy block, the instruction (or question), the assistant header."""
    text = ""
    if categories:
        text += (
            "<BEGIN UNSAFE CONTENT CATEGORIES>\n"
            + "".join(f"{k}: {v}\n" for k, v in categories.items())
            + "<END UNSAFE CONTENT CATEGORIES>\n\n"
        )
    text += (
        question.strip()
        if question
        else f"Provide your safety assessment for ONLY THE LAST {last_role(conversation)} message."
    )
    return text + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"


def answer_text(categories: list[str]) -> str:
    """The answer after the assistant header: a blank line, then ``safe``, or ``unsafe`` and the ids."""
    return "\n\nsafe" if not categories else "\n\nunsafe\n" + ",".join(categories)
