"""One prompt per label: the prompts of ``per_category_prompt`` and ``unary``.

Two ways users get a score per category from a model that was not built to give one:

- *per-category prompting* (what Meta suggests for Llama Guard): the guard prompt with a policy
  of ONE category, read as ``first_token`` reads p(unsafe);
- *unary yes/no prompting* (Ma et al.'s zero-shot method for instruct models): per label, a
  question whether that label applies, read as p(yes) against p(no).

This module builds the prompt texts; :mod:`marginal_generate.prompted` scores them. A sample
gets one prompt per category plus one for the ``unsafe`` column (the full policy, or the
question whether the message is unsafe at all), so a row of scores has every label.

How the one-category policy and the question reach the prompt depends on the prompt format
(:func:`~marginal_generate.prompts.formats.resolve_format`):

- the published Llama Guard 3 templates (:mod:`~marginal_generate.prompts.published`) get
  ``categories=[id]``: the 8B's block keeps that one line, the 1B excludes the other keys; a
  chat template that honours ``categories=`` (the embedded tiny guard) gets
  ``categories={"S3": "Sex-Related Crimes."}``; another one (a Llama Guard template the project
  does not ship) is replaced by the published Llama Guard 3 8B prompt with that one category;
- a chat template that honours ``question=`` (the embedded tiny guard) gets the question
  instead of its assessment instruction; otherwise the question replaces the instruction of
  the guard prompt, or ends the user message of the ``instruct`` prompt.

>>> unary_question("User", "S10", "Hate")
'Does the last User message fall under the category S10: Hate? Answer yes or no.'
>>> unary_question("Agent")
'Is the last Agent message unsafe according to our safety policy? Answer yes or no.'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

from ..labels.taxonomy import Taxonomy, get_taxonomy
from ..strategies import strategies_of
from .formats import (
    Message,
    check_conversation,
    instruct_messages,
    last_role,
    render,
    resolve_format,
)

__all__ = ["LabelPromptKind", "PROMPTED_STRATEGIES", "unary_question", "label_prompts", "template_honours"]

LabelPromptKind = Literal["per_category_prompt", "unary"]
#: The strategies that prompt the model once per label.
PROMPTED_STRATEGIES: tuple[str, ...] = get_args(LabelPromptKind)
assert PROMPTED_STRATEGIES == strategies_of("prompted"), "LabelPromptKind and the strategy registry disagree"
_ASSESSMENT_PREFIX = "Provide your safety assessment for ONLY THE LAST"
_RULE_END = "violated categories."


def unary_question(role: str, category: str | None = None, name: str | None = None) -> str:
    """The yes/no question of the ``unary`` strategy: about one category, or (no category) about being unsafe."""
    if category is None:
        return f"Is the last {role} message unsafe according to our safety policy? Answer yes or no."
    return f"Does the last {role} message fall under the category {category}: {name}? Answer yes or no."


def template_honours(tokenizer: Any, keyword: str, value: Any) -> bool:
    """Whether the tokenizer's chat template changes its output when given ``keyword=value``.

    Llama Guard 3 8B's template hard-codes its policy (a ``categories=`` argument is silently
    ignored); Llama Guard 3 1B's and the embedded model's take it.

    >>> from transformers import AutoTokenizer
    >>> from marginal_generate.default_model import DEFAULT_MODEL
    >>> tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    >>> template_honours(tok, "categories", {"S1": "Violent Crimes."}), template_honours(tok, "colour", "red")
    (True, False)
    """
    if not getattr(tokenizer, "chat_template", None):
        return False
    conv = [{"role": "user", "content": "Hello"}]
    plain = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    given = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True, **{keyword: value})
    return plain != given


def _policy(tax: Taxonomy, ids: Sequence[str]) -> dict[str, str]:
    return {c: f"{tax[c].name}." for c in ids}


def _with_question(text: str, question: str) -> str:
    """A guard prompt whose assessment instruction (from ``Provide your safety assessment`` to the
    answer rule's ``violated categories.``) is replaced by ``question``; what follows it stays."""
    head, found, tail = text.rpartition(_ASSESSMENT_PREFIX)
    end = tail.find(_RULE_END)
    if not found or end < 0:  # pragma: no cover - every Llama Guard prompt writes the instruction
        raise AssertionError("the guard prompt has no assessment instruction")
    return head + question + tail[end + len(_RULE_END) :]


def _render_one(
    tokenizer: Any,
    conv: Sequence[Message],
    fmt: str,
    taxonomy: int,
    tax: Taxonomy,
    kind: str,
    category: str | None,
    honours_categories: bool,
    honours_question: bool,
) -> str:
    role = last_role(conv)
    built = fmt if fmt != "chat_template" else f"llama_guard_{taxonomy}"
    if kind == "per_category_prompt":
        if category is None:
            return render(tokenizer, conv, fmt, taxonomy)  # type: ignore[arg-type]
        ids = tax.ids if category is None else (category,)
        if fmt == "chat_template" and honours_categories:
            return render(tokenizer, conv, "chat_template", categories=_policy(tax, ids))
        return render(tokenizer, conv, built, taxonomy, categories=list(ids))  # type: ignore[arg-type]
    question = unary_question(role, category, None if category is None else tax[category].prompt_name)
    if fmt == "chat_template" and honours_question:
        return render(tokenizer, conv, "chat_template", question=question)
    if fmt == "instruct":
        messages = instruct_messages(conv, taxonomy)
        messages[1]["content"] = _with_question(messages[1]["content"], question)
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return _with_question(render(tokenizer, conv, built, taxonomy), question)  # type: ignore[arg-type]


def label_prompts(
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    kind: LabelPromptKind,
    categories: Sequence[str] | None = None,
    prompt_format: str = "auto",
    taxonomy: int = 3,
) -> list[list[str]]:
    """Per conversation, ``1 + len(categories)`` prompt texts: the ``unsafe`` prompt, then one per category.

    ``per_category_prompt``: the ``unsafe`` prompt is the plain guard prompt (every category), the
    others have a one-category policy. ``unary``: the questions of :func:`unary_question`.

    >>> from transformers import AutoTokenizer
    >>> from marginal_generate.default_model import DEFAULT_MODEL
    >>> tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    >>> [first, s10] = label_prompts(tok, [[{"role": "user", "content": "Hi"}]], "per_category_prompt", ["S10"])[0]
    >>> "S10: Hate." in s10, "UNSAFE CONTENT CATEGORIES" in first
    (True, False)
    >>> label_prompts(tok, [[{"role": "user", "content": "Hi"}]],
    ...     "unary", ["S10"])[0][1].count("S10: Hate? Answer yes or no.")
    1
    """
    if kind not in PROMPTED_STRATEGIES:
        raise ValueError(f"`kind` must be 'per_category_prompt' or 'unary', got {kind!r}.")
    tax = get_taxonomy(taxonomy)
    ids = tax.ids if categories is None else tuple(categories)
    for c in ids:
        if c not in tax:
            raise ValueError(
                f"`categories` contains {c!r}, which is not a {tax.name} id; use "
                f"ids from {tax.ids[0]} to {tax.ids[-1]}."
            )
    if isinstance(conversations, dict) or (len(conversations) and isinstance(conversations[0], dict)):
        raise ValueError(
            "`conversations` must be a list of conversations (lists of messages); wrap a single one: [conv]."
        )
    fmt = resolve_format(tokenizer, prompt_format, taxonomy)  # type: ignore[arg-type]
    if fmt in ("shieldgemma", "granite_guardian"):
        raise ValueError(
            f"`prompt_format` {fmt!r} asks about one policy and answers Yes/No, "
            f"so {kind!r} (one Llama Guard prompt per "
            "category) does not apply; score it with mg.score_policy_prompts(model, "
            "tokenizer, conversations, policies, "
            f"prompt_format={fmt!r}), or use a Llama Guard format (llama_guard_3, "
            "llama_guard_3_1b, llama_guard_2) or 'instruct'."
        )
    honours_categories = fmt == "chat_template" and template_honours(tokenizer, "categories", _policy(tax, ids[:1]))
    honours_question = fmt == "chat_template" and template_honours(tokenizer, "question", unary_question("User"))
    out = []
    for conv in conversations:
        check_conversation(conv)
        out.append(
            [
                _render_one(tokenizer, conv, fmt, taxonomy, tax, kind, c, honours_categories, honours_question)
                for c in (None, *ids)
            ]
        )
    return out
