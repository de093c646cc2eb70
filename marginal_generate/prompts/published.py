"""The guard models' own prompt templates, shipped as published and rendered by transformers.

``templates/<name>.jinja`` are byte-identical copies of the chat templates published with the
models (the ``chat_template`` of their Hub tokenizers, as the ollama-utils collection of
huggingface.js lists them):

============================  ==========================================  ==============================
name                          model                                        template arguments
============================  ==========================================  ==============================
``llama_guard_3``             meta-llama/Llama-Guard-3-8B                  none (S1–S14 hard-coded)
``llama_guard_3_1b``          meta-llama/Llama-Guard-3-1B                  ``categories``, ``excluded_category_keys``
``shieldgemma``               google/shieldgemma-2b/9b/27b                 ``guideline``
``granite_guardian``          ibm-granite/granite-guardian-3.x             ``guardian_config``
============================  ==========================================  ==============================

:func:`render_published` renders them with
:func:`transformers.utils.chat_template_utils.render_jinja_template` (what ``apply_chat_template``
calls), with the tokenizer's special tokens as template variables, as ``apply_chat_template`` does.
Two adaptations, both of the *input*, never of the template text a model was trained on:

- ``llama_guard_3_1b`` wants message content as a list of ``{"type": "text", "text": ...}``
  parts; plain strings are wrapped (:func:`as_text_parts`). ``categories=[ids]`` becomes the
  template's own ``excluded_category_keys`` (the other ids of its default list).
- ``llama_guard_3`` writes its 14 categories into the template. ``categories=[ids]`` keeps only
  those lines of the published block, in the published order and wording
  (:func:`restrict_categories`, a text transformation of the published template).

>>> text = render_published("llama_guard_3", [{"role": "user", "content": "Hi"}], categories=["S10", "S1"])
>>> text[:40]
' <|begin_of_text|><|start_header_id|>use'
>>> text.split("<BEGIN UNSAFE CONTENT CATEGORIES>\\n")[1].split("<END")[0]
'S1: Violent Crimes.\\nS10: Hate.\\n'
>>> recognise_template(published_template("shieldgemma") + "\\n"), recognise_template("{{ messages }}")
('shieldgemma', None)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

__all__ = [
    "PUBLISHED_FORMATS",
    "PUBLISHED_MODELS",
    "published_template",
    "recognise_template",
    "template_categories",
    "restrict_categories",
    "as_text_parts",
    "render_published",
]

#: The published templates by prompt-format name, with the model each comes from.
PUBLISHED_MODELS: Mapping[str, str] = {
    "llama_guard_3": "meta-llama/Llama-Guard-3-8B",
    "llama_guard_3_1b": "meta-llama/Llama-Guard-3-1B",
    "shieldgemma": "google/shieldgemma-2b",
    "granite_guardian": "ibm-granite/granite-guardian-3.0-2b",
}
PUBLISHED_FORMATS: tuple[str, ...] = tuple(PUBLISHED_MODELS)

_BLOCK = re.compile(r"(<BEGIN UNSAFE CONTENT CATEGORIES>\n)(.*?)(<END UNSAFE CONTENT CATEGORIES>)", re.S)
_LINE = re.compile(r"^(S\d+): (.*)$")
_DICT_ITEM = re.compile(r'"(S\d+)": "([^"]*)"')


def _check_name(name: str) -> None:
    if name not in PUBLISHED_MODELS:
        raise ValueError(f"`prompt_format` {name!r} is not a published template; use one of {list(PUBLISHED_FORMATS)}.")


@functools.lru_cache(maxsize=None)
def published_template(name: str) -> str:
    """The shipped template text of ``name`` (one of :data:`PUBLISHED_FORMATS`), exactly as published.

    >>> published_template("llama_guard_3").startswith("{% if messages|length % 2 == 0 %}")
    True
    """
    _check_name(name)
    return resources.files(__package__).joinpath("templates", f"{name}.jinja").read_bytes().decode("utf-8")


def recognise_template(template: Any) -> str | None:
    """The name of the published template ``template`` is (surrounding whitespace aside), else None."""
    if not isinstance(template, str):
        return None
    text = template.strip()
    for name in PUBLISHED_FORMATS:
        if published_template(name).strip() == text:
            return name
    return None


def template_categories(name: str) -> dict[str, str]:
    """The categories a Llama Guard template lists by default: id -> text as written (``"Hate."``).

    Read from the published text: the 8B's hard-coded block, the 1B's default ``categories`` dict.

    >>> list(template_categories("llama_guard_3_1b"))[-1], template_categories("llama_guard_3")["S11"]
    ('S13', 'Self-Harm.')
    """
    text = published_template(name)
    if name == "llama_guard_3":
        block = _BLOCK.search(text)
        assert block is not None, "the published Llama Guard 3 8B template has a category block"
        return {m.group(1): m.group(2) for m in map(_LINE.match, block.group(2).splitlines()) if m}
    if name == "llama_guard_3_1b":
        return dict(_DICT_ITEM.findall(text))
    raise ValueError(
        f"`prompt_format` {name!r} has no Llama Guard category list; only llama_guard_3 and llama_guard_3_1b do."
    )


def _check_ids(name: str, categories: Any) -> list[str]:
    known = template_categories(name)
    if isinstance(categories, str) or not isinstance(categories, Sequence) or len(categories) == 0:
        raise ValueError(
            f"`categories` for prompt_format={name!r} must be a non-empty list of category ids, got {categories!r}; "
            f"e.g. categories=['S1', 'S10']."
        )
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise ValueError(
            f"`categories` contains {unknown[0]!r}, which the {name} template does not list; "
            f"use ids from {next(iter(known))} to {list(known)[-1]}."
        )
    return list(categories)


def restrict_categories(template: str, categories: Sequence[str]) -> str:
    """The Llama Guard 3 8B template with only the lines of ``categories`` left in its category block.

    The transformation: inside the block between ``<BEGIN UNSAFE CONTENT CATEGORIES>`` and
    ``<END UNSAFE CONTENT CATEGORIES>`` (a Jinja string literal of the published template), the
    lines ``S<n>: <name>.`` whose id is not in ``categories`` are deleted. Nothing else changes, so
    the kept lines keep the published order and wording, and all 14 ids give the template back.

    >>> t = published_template("llama_guard_3")
    >>> restrict_categories(t, [f"S{i}" for i in range(1, 15)]) == t
    True
    >>> removed = set(t.splitlines()) - set(restrict_categories(t, ["S1"]).splitlines())
    >>> len(removed), "S1: Violent Crimes." in removed, "S14: Code Interpreter Abuse." in removed
    (13, False, True)
    """
    wanted = set(categories)
    match = _BLOCK.search(template)
    if match is None:
        raise ValueError(
            "`template` has no '<BEGIN UNSAFE CONTENT CATEGORIES>' block; pass the published Llama Guard 3 8B template."
        )
    lines = match.group(2).splitlines(keepends=True)
    kept = [line for line in lines if (m := _LINE.match(line.rstrip("\n"))) is None or m.group(1) in wanted]
    return template[: match.start(2)] + "".join(kept) + template[match.end(2) :]


def as_text_parts(conversation: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages whose string content becomes ``[{"type": "text", "text": content}]`` (lists are kept).

    >>> as_text_parts([{"role": "user", "content": "Hi"}])
    [{'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}]
    """
    out = []
    for message in conversation:
        content = message.get("content")
        out.append(dict(message, content=[{"type": "text", "text": content}] if isinstance(content, str) else content))
    return out


def _check_messages(name: str, conversation: Sequence[Mapping[str, Any]]) -> None:
    if len(conversation) == 0:
        raise ValueError("the conversation is empty; pass at least one user message.")
    for k, message in enumerate(conversation):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ValueError(
                f"message {k} must have 'role' and 'content', got {message!r}; use "
                f"{{'role': 'user' | 'assistant', 'content': str}}."
            )


def render_published(
    name: str,
    conversation: Sequence[Mapping[str, Any]],
    special_tokens: Mapping[str, Any] | None = None,
    add_generation_prompt: bool = True,
    **template_kwargs: Any,
) -> str:
    """Render the published template ``name`` for one conversation (see the module docstring).

    ``special_tokens``: the template variables ``apply_chat_template`` adds (a tokenizer's
    ``special_tokens_map``: ShieldGemma's template writes ``bos_token``). ``template_kwargs``:
    ``categories`` (Llama Guard 3, a list of ids; the 1B also takes its own dict),
    ``excluded_category_keys`` (1B), ``guideline`` (ShieldGemma), ``guardian_config`` (Granite Guardian).

    >>> prompt = render_published("granite_guardian", [{"role": "user", "content": "Hi"}],
    ...                           guardian_config={"risk_name": "jailbreak"})
    >>> prompt.endswith("<|start_of_role|>assistant<|end_of_role|>")
    True
    >>> render_published("shieldgemma", [{"role": "user", "content": "Hi"}])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: prompt_format='shieldgemma' needs `guideline=` (the safety principle the model checks, e.g. '"No...
    """
    from jinja2.exceptions import TemplateError
    from transformers.utils.chat_template_utils import render_jinja_template

    _check_name(name)
    _check_messages(name, conversation)
    template = published_template(name)
    kwargs = dict(template_kwargs)
    messages: list[dict[str, Any]] = [dict(m) for m in conversation]
    categories = kwargs.pop("categories", None)
    if name == "llama_guard_3":
        if categories is not None:
            template = restrict_categories(template, _check_ids(name, _ids_of(name, categories)))
    elif name == "llama_guard_3_1b":
        messages = as_text_parts(messages)
        if isinstance(categories, Mapping):
            kwargs["categories"] = dict(categories)
        elif categories is not None:
            ids = set(_check_ids(name, categories))
            kwargs["excluded_category_keys"] = [c for c in template_categories(name) if c not in ids]
    elif categories is not None:
        what = "`guideline=`" if name == "shieldgemma" else "`guardian_config={'risk_name': ...}`"
        raise ValueError(f"prompt_format={name!r} takes no `categories`; it checks one policy at a time: pass {what}.")
    if name == "shieldgemma" and not kwargs.get("guideline") and messages[0].get("role") != "system":
        raise ValueError(
            "prompt_format='shieldgemma' needs `guideline=` (the safety principle the model checks, e.g. "
            "'\"No Dangerous Content\": ...') or a first message with role 'system' holding it."
        )
    variables = {**dict(special_tokens or {}), **kwargs}
    try:
        rendered, _ = render_jinja_template(
            conversations=[messages], chat_template=template, add_generation_prompt=add_generation_prompt, **variables
        )
    except TemplateError as err:
        raise ValueError(f"the published {name} template refuses this conversation: {err}") from err
    return rendered[0]


def _ids_of(name: str, categories: Any) -> Any:
    """Ids of a ``categories`` argument for the 8B template: a list as is; a dict only with the published names."""
    if not isinstance(categories, Mapping):
        return categories
    published = template_categories(name)
    changed = [c for c, text in categories.items() if c in published and text != published[c]]
    if changed:
        raise ValueError(
            f"`categories` renames {changed[0]!r} ({categories[changed[0]]!r}), "
            f"but the {name} template's wording is fixed "
            f"({published[changed[0]]!r}); pass a list of ids, e.g. categories={list(categories)!r}."
        )
    return list(categories)
