"""Checks at the API's boundary: what a batch of prompts must be before it reaches the model.

Without them an empty batch or an empty prompt crashes deep inside the model, and a prompt longer
than the model's context returns garbage (``'1111…'``, all-zero probabilities) behind nothing but a
transformers warning. Each check raises one ``ValueError`` that says what is wrong and what to do.

>>> import torch
>>> check_batch(torch.tensor([[5, 6], [0, 7]]), torch.tensor([[1, 1], [0, 1]]))
[2, 1]
>>> check_batch(torch.tensor([[5, 6], [0, 0]]), torch.tensor([[1, 1], [0, 0]]))
Traceback (most recent call last):
...
ValueError: prompt 1 of the batch is empty (its attention mask is all zeros); every prompt needs at least one token.
>>> check_context(1024, 1010, 20)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: prompt is 1010 tokens; with 20 answer tokens it exceeds the model's context of 1024 tokens...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "model_context",
    "check_context",
    "check_batch",
    "check_prompt_lengths",
    "check_inputs",
    "check_conversations",
]


def model_context(model: Any) -> int | None:
    """The model's context in tokens (``max_position_embeddings`` of its text config), or None if it names none."""
    config = getattr(model, "config", None)
    if config is None:
        return None
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    context = getattr(text_config, "max_position_embeddings", None)
    return int(context) if isinstance(context, int) else None


def check_context(context: int | None, prompt_tokens: int, answer_tokens: int | None, which: str = "prompt") -> None:
    """``ValueError`` when ``prompt_tokens + answer_tokens`` exceeds ``context`` (None: no limit known)."""
    if context is None or answer_tokens is None:
        return
    if prompt_tokens + answer_tokens > context:
        raise ValueError(
            f"{which} is {prompt_tokens} tokens; with {answer_tokens} answer tokens it exceeds the model's context of "
            f"{context} tokens (max_position_embeddings); shorten the prompt or lower max_new_tokens."
        )


def check_prompt_lengths(model: Any, lengths: Sequence[int], answer_tokens: int | None) -> None:
    """The context check for each of a batch's prompt lengths (the longest first one named by its position)."""
    if not lengths:
        raise ValueError("the batch is empty; pass at least one prompt.")
    context = model_context(model)
    longest = max(range(len(lengths)), key=lambda i: lengths[i])
    which = "prompt" if len(lengths) == 1 else f"prompt {longest} of the batch"
    check_context(context, int(lengths[longest]), answer_tokens, which)


def check_batch(input_ids: Any, attention_mask: Any = None) -> list[int]:
    """Each prompt's length in tokens; ``ValueError`` for an empty batch or a prompt without tokens."""
    if input_ids.ndim != 2:
        raise ValueError(f"`input_ids` must be [batch, length], got shape {tuple(input_ids.shape)}.")
    if input_ids.shape[0] == 0:
        raise ValueError("the batch is empty (`input_ids` has 0 rows); pass at least one prompt.")
    if input_ids.shape[1] == 0:
        raise ValueError("the prompts are empty (`input_ids` has 0 columns); every prompt needs at least one token.")
    if attention_mask is None:
        return [int(input_ids.shape[1])] * int(input_ids.shape[0])
    if tuple(attention_mask.shape) != tuple(input_ids.shape):
        raise ValueError(
            f"`attention_mask` has shape {tuple(attention_mask.shape)}, `input_ids` "
            f"{tuple(input_ids.shape)}; they must match."
        )
    lengths = [int(n) for n in attention_mask.sum(-1).tolist()]
    for i, n in enumerate(lengths):
        if n == 0:
            raise ValueError(
                f"prompt {i} of the batch is empty (its attention mask is all "
                "zeros); every prompt needs at least one token."
            )
    return lengths


def check_inputs(model: Any, input_ids: Any, attention_mask: Any, max_new_tokens: int | None) -> None:
    """:func:`check_batch`, then :func:`check_prompt_lengths` against the model's context: what ``score`` and
    ``marginalize`` run first."""
    check_prompt_lengths(model, check_batch(input_ids, attention_mask), max_new_tokens)


def check_conversations(conversations: Sequence[Any]) -> None:
    """``ValueError`` for no conversations, or a conversation without messages."""
    if len(conversations) == 0:
        raise ValueError(
            "`conversations` is empty; pass at least one conversation (a list of {'role', 'content'} messages)."
        )
    for i, conversation in enumerate(conversations):
        if len(conversation) == 0:
            raise ValueError(
                f"conversation {i} has no messages; pass at least a user message, "
                f"e.g. [{{'role': 'user', 'content': '...'}}]."
            )
