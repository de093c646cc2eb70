"""Yes/no guards (ShieldGemma, Granite Guardian): one prompt per policy, p(Yes) per policy.

Such a guard judges one policy per prompt and answers ``Yes`` (violates) or ``No``. Its published
scoring is ``first_token`` on the yes/no grammar (:meth:`~marginal_generate.LabelSpace.yes_no`): the
softmax over the two answer tokens where the answer starts. Where is that? ``read_at="first_word"`` (the
default) reads the greedy step where the first non-whitespace character starts (or EOS): the step where
the model writes its first word, which is ``first_token``'s reading on every grammar. A model that writes a
newline first puts nearly all of its mass there on the newline at the first step, and ``Yes`` / ``No`` share
the rest by what they are worth after a prompt that has not been answered yet; an audit (#29) measured this
reading up to 0.354 away from the first word's. ``read_at="first_step"`` reads the first generated step
(the logits at the prompt's end), which is what ShieldGemma's published snippet computes with one forward and
no decoding; the two agree when the model starts its answer with the word. :func:`score_policy_prompts` renders
every (conversation, policy) pair with the model's own chat template, passing each policy's
template keyword arguments (ShieldGemma's template takes ``guideline=``, Granite Guardian's
``guardian_config={"risk_name": ...}``), and runs all prompts of a conversation together,
sharing their common token prefix through the KV cache.

A tokenizer without a template (or with another one) takes the shipped published template by name:
``prompt_format="shieldgemma"`` or ``"granite_guardian"`` renders
:mod:`~marginal_generate.prompts.published`'s byte-identical copy, as ``apply_chat_template`` would.

>>> from marginal_generate.testing import byte_level_tokenizer
>>> tok = byte_level_tokenizer(["Yes", "No"], vocab_size=40)
>>> texts = policy_prompt_texts(tok, [{"role": "user", "content": "Hi"}],
...                             {"harm": {"guardian_config": {"risk_name": "harm"}}}, prompt_format="granite_guardian")
>>> texts[0].endswith("<|start_of_role|>assistant<|end_of_role|>"), "harm" in texts[0]
(True, True)

For the whole output tree of one policy (``any_place`` and the other strategies), render its prompt
and call ``mg.score`` with ``LabelSpace.yes_no(tokenizer, label)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import torch

from .decoding.branched_stepper import BranchedStepper, common_prefix_length
from .decoding.eos import eos_ids
from .decoding.stepper import CachedStepper
from .labels.space import LabelSpace
from .padding import left_pad
from .prompted import read_first_word
from .scores import LabelScores

__all__ = ["POLICY_FORMATS", "READ_AT", "ReadAt", "policy_prompt_texts", "score_policy_prompts"]

#: The published yes/no templates ``prompt_format=`` takes by name.
POLICY_FORMATS: tuple[str, ...] = ("shieldgemma", "granite_guardian")

ReadAt = Literal["first_word", "first_step"]
#: Where :func:`score_policy_prompts` reads p(yes): the answer's first word, or the first generated step.
READ_AT: tuple[str, ...] = get_args(ReadAt)


def policy_prompt_texts(
    tokenizer: Any,
    conversation: Sequence[Mapping[str, str]],
    policies: Mapping[str, Mapping[str, Any]],
    prompt_format: str | None = None,
) -> list[str]:
    """The prompt text of each policy for one conversation, in the order of ``policies``.

    ``prompt_format``: None renders with the tokenizer's own chat template; ``"shieldgemma"`` or
    ``"granite_guardian"`` with the shipped published template of that name.
    """
    if prompt_format is None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "`tokenizer` has no chat_template; pass prompt_format='shieldgemma' or 'granite_guardian' "
                "(the shipped published template) or set tokenizer.chat_template."
            )
        return [
            tokenizer.apply_chat_template(
                list(conversation), tokenize=False, add_generation_prompt=True, **dict(kwargs)
            )
            for kwargs in policies.values()
        ]
    if prompt_format not in POLICY_FORMATS:
        raise ValueError(
            f"`prompt_format` must be one of {list(POLICY_FORMATS)} (yes/no "
            "guards) or None (the tokenizer's template), "
            f"got {prompt_format!r}; for Llama Guard formats use mg.score_label_prompts."
        )
    from .prompts.formats import render

    return [render(tokenizer, conversation, prompt_format, **dict(kwargs)) for kwargs in policies.values()]


@torch.no_grad()
def score_policy_prompts(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Mapping[str, str]]],
    policies: Mapping[str, Mapping[str, Any]],
    *,
    yes: str = "Yes",
    no: str = "No",
    max_new_tokens: int = 4,
    share_prefix: bool = True,
    prompt_format: str | None = None,
    read_at: ReadAt = "first_word",
) -> LabelScores:
    """``[len(conversations), len(policies)]`` p(``yes``) per policy, the guard's published first-token reading.

    ``policies``: label -> the chat template keyword arguments of that policy, e.g.
    ``{"dangerous": {"guideline": "No dangerous content ..."}}`` (ShieldGemma) or
    ``{"harm": {"guardian_config": {"risk_name": "harm"}}}`` (Granite Guardian).
    ``prompt_format``: None uses the tokenizer's chat template; ``"shieldgemma"`` / ``"granite_guardian"``
    the shipped published template (:func:`policy_prompt_texts`).
    ``read_at``: ``"first_word"`` (default) reads p(``yes``) at the greedy step where the first non-whitespace
    character starts, or EOS (where the answer's first word is written; a row whose answer has not started within
    ``max_new_tokens`` gets NaN); ``"first_step"`` at the first generated step, whatever the model writes there
    (the published one-forward reading). The module docstring says why they differ when the model writes a
    newline first. ``texts`` holds each greedy answer up to the step read; ``stats["read_at"]`` which was used.
    """
    if read_at not in READ_AT:
        raise ValueError(
            f"`read_at` must be one of {list(READ_AT)}, got {read_at!r}; use 'first_word' (where the answer's first "
            "word is written, the default) or 'first_step' (the first generated step, the published one-forward "
            "reading)."
        )
    if prompt_format is None and not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "`tokenizer` has no chat_template; pass prompt_format='shieldgemma' or 'granite_guardian' "
            "(the shipped published template) or set tokenizer.chat_template."
        )
    if prompt_format is not None and prompt_format not in POLICY_FORMATS:
        policy_prompt_texts(tokenizer, [], {}, prompt_format)  # raises the one-line error
    if not policies:
        raise ValueError(
            "`policies` is empty; pass label -> chat template keyword arguments, e.g. {'harm': {'guideline': '...'}}."
        )
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"`max_new_tokens` must be an integer >= 1, got {max_new_tokens!r}.")
    labels = tuple(policies)
    verbalizer = LabelSpace.yes_no(tokenizer, labels[0], yes=yes, no=no).verbalizer_ids
    assert verbalizer is not None
    eos = eos_ids(model=model, tokenizer=tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos)
    groups = []
    for conv in conversations:
        texts = policy_prompt_texts(tokenizer, conv, policies, prompt_format)
        groups.append([list(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts])
    shared = [common_prefix_length(g) for g in groups] if share_prefix else [0] * len(groups)
    if share_prefix and all(n > 0 for n in shared):
        stepper: CachedStepper = BranchedStepper(
            model,
            [g[0][:n] for g, n in zip(groups, shared)],
            [seq[n:] for g, n in zip(groups, shared) for seq in g],
            [k for k, g in enumerate(groups) for _ in g],
            pad,
        )
    else:
        stepper = CachedStepper(
            model, *left_pad([seq for g in groups for seq in g], pad, getattr(model, "device", None))
        )
    values, texts = read_first_word(
        stepper, tokenizer, verbalizer, eos, max_new_tokens, first_step=read_at == "first_step"
    )
    probs = values.view(len(groups), len(labels))
    stats = {
        "forward_passes": stepper.forward_passes,
        "prompts": len(groups) * len(labels),
        "shared_prefix_tokens": sum(shared),
        "read_at": read_at,
    }
    return LabelScores(labels=labels, probs=probs, texts=texts[:: len(labels)], strategy="first_token", stats=stats)
