"""The requests the server reads and the responses it writes, in OpenAI's shapes.

Requests are checked here, field by field, each problem one :class:`~.errors.APIError` that names the field
(``param``), echoes what came and says what to send. ``POST /v1/moderations`` takes OpenAI's body: ``input`` a
string, a list of strings (one result each) or a list of content parts (one result; text parts only), ``model``
optional. ``POST /v1/classify`` takes ``input``, one conversation (a list of ``{"role", "content"}`` messages, user
then assistant, ...) or a list of them, and optionally ``model``, ``strategy`` and ``labels``.

>>> moderation_inputs({"input": ["How do I bake bread?", "hi"]})
['How do I bake bread?', 'hi']
>>> moderation_inputs({"input": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
['a\\nb']
>>> moderation_inputs({"input": []})
Traceback (most recent call last):
...
marginal_generate.serving.errors.APIError: `input` is an empty list; send a string, or a list of at least one.
>>> classify_inputs({"input": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
[[{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]]
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .errors import APIError
from .mapping import OPENAI_CATEGORIES, UNMAPPED

__all__ = [
    "MODERATION_FIELDS",
    "CLASSIFY_FIELDS",
    "parse_body",
    "check_fields",
    "check_model",
    "moderation_inputs",
    "classify_inputs",
    "classify_strategy",
    "classify_labels",
    "moderation_result",
    "classify_result",
]

MODERATION_FIELDS = ("input", "model")
CLASSIFY_FIELDS = ("input", "model", "strategy", "labels")
MODEL_ALIASES = ("default",)


def _kind(value: Any) -> str:
    """The JSON type of ``value`` with its article.

    >>> _kind(3), _kind(None), _kind({"a": 1}), _kind(["x"])
    ('a number', 'null', 'an object', 'a list')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    return "a list"


def _echo(value: Any, limit: int = 60) -> str:
    """``value`` as JSON, cut to ``limit`` characters.

    >>> _echo("x" * 100, limit=10)
    '"xxxxxx...'
    """
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad(message: str, param: str | None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object; a 400 for anything else.

    >>> parse_body(b'{"input": "hi"}')
    {'input': 'hi'}
    >>> parse_body(b'{"input": ')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    marginal_generate.serving.errors.APIError: the request body is not valid JSON (Expecting value: line 1 column 11 ...
    """
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise _bad(
            f"the request body is not UTF-8 ({err}); send JSON encoded as UTF-8.", None, "invalid_json"
        ) from None
    except json.JSONDecodeError as err:
        raise _bad(
            f'the request body is not valid JSON ({err}); send an object such as {{"input": "text"}}.',
            None,
            "invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise _bad(
            f'the request body is {_kind(body)} ({_echo(body)}); send a JSON object such as {{"input": "text"}}.',
            None,
            "invalid_json",
        )
    return body


def check_fields(body: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """A 400 for a field the endpoint does not know (a typo would otherwise pass unnoticed).

    >>> check_fields({"input": "x", "modle": "y"}, MODERATION_FIELDS)
    Traceback (most recent call last):
    ...
    marginal_generate.serving.errors.APIError: unrecognized request argument `modle`; this endpoint takes input, model.
    """
    for name in body:
        if name not in allowed:
            raise _bad(
                f"unrecognized request argument `{name}`; this endpoint takes {', '.join(allowed)}.",
                name,
                "unknown_parameter",
            )
    if "input" not in body:
        raise _bad("the request has no `input`; send the text to classify as `input`.", "input", "missing_input")


def check_model(body: Mapping[str, Any], served: str) -> str:
    """The served model's name if ``model`` is absent, ``default`` or that name; a 404 (``model_not_found``) else.

    >>> check_model({}, "tiny-guard"), check_model({"model": "default"}, "tiny-guard")
    ('tiny-guard', 'tiny-guard')
    """
    model = body.get("model")
    if model is None or model == served or model in MODEL_ALIASES:
        return served
    if not isinstance(model, str):
        raise _bad(f"`model` is {_kind(model)} ({_echo(model)}); send a string such as {served!r}.", "model")
    raise APIError(
        404,
        f"the model {model!r} is not served here; leave `model` out, or send 'default' or {served!r}.",
        param="model",
        code="model_not_found",
    )


def _text_part(part: Any, where: str) -> str:
    if not isinstance(part, Mapping):
        raise _bad(f"`{where}` is {_kind(part)} ({_echo(part)}); a list of content parts holds objects only.", where)
    kind = part.get("type")
    if kind == "image_url":
        raise _bad(
            f"`{where}` is an image (type image_url); this server classifies text only: send text parts or strings.",
            where,
            "unsupported_input_type",
        )
    if kind != "text":
        raise _bad(f'`{where}` has type {_echo(kind)}; a content part is {{"type": "text", "text": "..."}}.', where)
    text = part.get("text")
    if not isinstance(text, str):
        raise _bad(f"`{where}.text` is {_kind(text)} ({_echo(text)}); send a string.", f"{where}.text")
    return text


def moderation_inputs(body: Mapping[str, Any]) -> list[str]:
    """The texts to score: one per string of ``input``, or one for a list of content parts (their texts joined
    by newlines)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise _bad(
            f"`input` is {_kind(value)} ({_echo(value)}); send a string, a list of strings or a list of content parts.",
            "input",
        )
    if not value:
        raise _bad("`input` is an empty list; send a string, or a list of at least one.", "input", "empty_input")
    if isinstance(value[0], Mapping):
        return ["\n".join(_text_part(part, f"input[{k}]") for k, part in enumerate(value))]
    for k, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad(
                f"`input[{k}]` is {_kind(item)} ({_echo(item)}); a list of inputs holds strings only "
                "(or, for one input, content parts only).",
                f"input[{k}]",
            )
    return list(value)


def _message(message: Any, where: str) -> dict[str, str]:
    if not isinstance(message, Mapping):
        raise _bad(f'`{where}` is {_kind(message)} ({_echo(message)}); a message is {{"role", "content"}}.', where)
    unknown = sorted(set(message) - {"role", "content"})
    if unknown:
        raise _bad(f"`{where}` has unknown keys {unknown}; a message has role and content only.", where)
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant"):
        raise _bad(f"`{where}.role` is {_echo(role)}; send 'user' or 'assistant'.", f"{where}.role")
    if isinstance(content, list):
        content = "\n".join(_text_part(part, f"{where}.content[{k}]") for k, part in enumerate(content))
    if not isinstance(content, str):
        raise _bad(f"`{where}.content` is {_kind(content)} ({_echo(content)}); send a string.", f"{where}.content")
    return {"role": role, "content": content}


def classify_inputs(body: Mapping[str, Any]) -> list[list[dict[str, str]]]:
    """The conversations of ``input``: one conversation (a list of messages) or a list of them."""
    value = body.get("input")
    if not isinstance(value, list):
        raise _bad(
            f"`input` is {_kind(value)} ({_echo(value)}); send a conversation, a list of "
            '{"role": "user" | "assistant", "content": "..."} messages, or a list of conversations.',
            "input",
        )
    if not value:
        raise _bad("`input` is an empty list; send a conversation or a list of at least one.", "input", "empty_input")
    many = isinstance(value[0], list)
    conversations = value if many else [value]
    out = []
    for i, conv in enumerate(conversations):
        where = f"input[{i}]" if many else "input"
        if not isinstance(conv, list):
            raise _bad(f"`{where}` is {_kind(conv)} ({_echo(conv)}); a conversation is a list of messages.", where)
        if not conv:
            raise _bad(f"`{where}` is an empty conversation; send at least a user message.", where, "empty_input")
        messages = [_message(m, f"{where}[{k}]") for k, m in enumerate(conv)]
        for k, m in enumerate(messages):
            expected = "user" if k % 2 == 0 else "assistant"
            if m["role"] != expected:
                raise _bad(
                    f"`{where}[{k}].role` is {m['role']!r}, expected {expected!r}: roles alternate user, "
                    "assistant, ... from a user message.",
                    f"{where}[{k}].role",
                )
        out.append(messages)
    return out


def classify_strategy(body: Mapping[str, Any], allowed: Sequence[str], default: str) -> str:
    """``strategy`` if the server allows it, else a 400 listing what it allows."""
    strategy = body.get("strategy", default)
    if strategy not in allowed:
        raise _bad(
            f"`strategy` {_echo(strategy)} is not offered by this server; choose one of {', '.join(allowed)}.",
            "strategy",
        )
    return str(strategy)


def classify_labels(body: Mapping[str, Any], grammar: str, limit: int = 64) -> tuple[str, ...] | None:
    """A ``label_list`` request's own labels (None: the server's); a 400 on a Llama Guard server."""
    labels = body.get("labels")
    if labels is None:
        return None
    if grammar != "label_list":
        raise _bad(
            "`labels` applies to a server whose model answers with label lists (--grammar label_list); this "
            "one scores Llama Guard's categories: leave `labels` out.",
            "labels",
        )
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
        raise _bad(f'`labels` is {_echo(labels)}; send a list of label names, e.g. ["joy", "anger"].', "labels")
    if len(labels) > limit or len(set(labels)) != len(labels):
        raise _bad(f"`labels` has {len(labels)} names; send at most {limit}, each once.", "labels")
    return tuple(x.strip() for x in labels)


def moderation_result(result: Mapping[str, Any], flags: Mapping[str, bool]) -> dict[str, Any]:
    """One entry of ``results``: OpenAI's ``Moderation`` (all 13 keys) plus ``label_scores``, ``label_bounds``,
    ``decision`` and ``decision_by``."""
    scores = result["category_scores"]
    categories = {key: bool(flags[key]) for key in OPENAI_CATEGORIES}
    return {
        "flagged": any(categories.values()) or result["decision"] != "allow",
        "categories": categories,
        "category_scores": {key: float(scores[key]) for key in OPENAI_CATEGORIES},
        "category_applied_input_types": {key: [] if key in UNMAPPED else ["text"] for key in OPENAI_CATEGORIES},
        "label_scores": dict(result["label_scores"]),
        "label_bounds": result["label_bounds"],
        "decision": result["decision"],
        "decision_by": result["decision_by"],
    }


def classify_result(result: Mapping[str, Any], keys: Collection[str] = ()) -> dict[str, Any]:
    """One entry of ``/v1/classify``'s ``results``."""
    out = {
        "flagged": result["decision"] != "allow",
        "decision": result["decision"],
        "decision_by": result["decision_by"],
        "label_scores": dict(result["label_scores"]),
        "label_bounds": result["label_bounds"],
        "text": result["text"],
    }
    if result.get("category_scores") is not None:
        out["category_scores"] = dict(result["category_scores"])
    return out
