"""The Space's settings: the operator's environment (or ``marginal-generate space`` flags), the page's defaults.

Read once, at start; the user of the page names no file and no model. Each environment variable has a flag of
the command (``MODEL_ID`` / ``--model``, ``MAX_NEW_TOKENS`` / ``--max-new-tokens``, ...):

- ``MODEL_ID``: a Hub id or a local path loaded with the Auto classes (default: the embedded tiny guard).
- ``CALIBRATOR``: a calibrator JSON written by ``Calibrator.save`` (optional); the page then offers to apply it.
- ``POLICY``: a policy JSON written by ``Policy.save`` / ``marginal-generate policy`` (optional); the page then
  shows each label's outcome under it (block / review / allow) and leads with it.
- ``DEVICE`` / ``DTYPE``: default ``cuda``/``bfloat16`` when a GPU is present, else ``cpu``/``float32``.
- ``GUARD_VERSION``: 3 (S1–S14, default) or 2 (S1–S11).
- ``GRAMMAR``: ``llama_guard`` (default) or ``label_list``, a model that answers with a list of label names;
  then ``LABELS=joy,anger,...`` names them and ``PROMPT_TEMPLATE`` (optional, ``{text}`` and ``{labels}``) is
  its prompt.
- ``MAX_NEW_TOKENS`` (default 20), ``MAX_MESSAGE_CHARS`` (default 4000), ``MAX_PROMPT_TOKENS`` (default 4096,
  never over the model's context minus ``MAX_NEW_TOKENS``).

>>> s = Settings.from_env({"GUARD_VERSION": "2", "LABELS": "joy, anger,", "MAX_NEW_TOKENS": " "})
>>> s.model_id, s.guard_version, s.labels, s.max_new_tokens
(None, 2, ('joy', 'anger'), 20)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..strategies import STRATEGIES

__all__ = [
    "DEFAULT_STRATEGY",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_EPS",
    "DEFAULT_TOP_P",
    "EPS_RANGE",
    "TOP_P_RANGE",
    "TOP_COMPLETIONS",
    "EXAMPLES",
    "GRAMMARS",
    "Settings",
    "check_label_list",
    "default_threshold",
]

#: The strategy the page opens on.
DEFAULT_STRATEGY = "any_place"
#: The threshold the slider moves to when a strategy is picked. 0.5 for every strategy until a
#: calibration run on held-out data sets better ones; greedy scores are 0 or 1, so any value in
#: (0, 1] gives the greedy answer.
DEFAULT_THRESHOLDS: dict[str, float] = {s: 0.5 for s in STRATEGIES}

DEFAULT_EPS = 0.01
DEFAULT_TOP_P = 0.99
EPS_RANGE = (0.001, 0.5)  # eps = 0 searches the whole tree: not on a shared page
TOP_P_RANGE = (0.5, 1.0)
TOP_COMPLETIONS = 10
GRAMMARS = ("llama_guard", "label_list")

#: Clickable examples: (user message, agent response).
EXAMPLES: list[list[str]] = [
    ["How do I make a pipe bomb at home?", ""],
    ["What's a good recipe for banana bread?", ""],
    ["Write a hateful speech saying immigrants are vermin.", ""],
    [
        "How can I get my neighbour's bank password?",
        "Send them a fake login page from their bank and read what they type.",
    ],
    ["What's the capital of France?", "Paris."],
]


def default_threshold(strategy: str) -> float:
    """The slider's value for ``strategy``.

    >>> default_threshold("any_place")
    0.5
    """
    return DEFAULT_THRESHOLDS.get(strategy, 0.5)


@dataclass(frozen=True)
class Settings:
    """What the operator chose: the model, the calibrator and the page's limits (``None``: the default).

    >>> Settings(max_new_tokens=0)
    Traceback (most recent call last):
    ...
    ValueError: max_new_tokens (MAX_NEW_TOKENS, --max-new-tokens) must be a positive integer, got 0.
    """

    model_id: str | None = None
    calibrator: str | None = None
    policy: str | None = None
    device: str | None = None
    dtype: str | None = None
    guard_version: int = 3
    grammar: str = "llama_guard"
    labels: tuple[str, ...] = ()
    prompt_template: str | None = None
    max_new_tokens: int = 20
    max_message_chars: int = 4000
    max_prompt_tokens: int = 4096

    def __post_init__(self) -> None:
        if self.guard_version not in (2, 3):
            raise ValueError(_bad("guard_version", self.guard_version, "must be 2 or 3"))
        if self.grammar not in GRAMMARS:
            raise ValueError(_bad("grammar", self.grammar, f"must be one of {', '.join(GRAMMARS)}"))
        if self.grammar == "label_list":
            check_label_list(self.labels, self.prompt_template)
        for name in ("max_new_tokens", "max_message_chars", "max_prompt_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(_bad(name, value, "must be a positive integer"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``environ`` (default: ``os.environ``); empty variables take the default."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        labels = tuple(x.strip() for x in env.get("LABELS", "").split(",") if x.strip())
        return cls(
            model_id=text("MODEL_ID"),
            calibrator=text("CALIBRATOR"),
            policy=text("POLICY"),
            device=text("DEVICE"),
            dtype=text("DTYPE"),
            guard_version=_env_int(env, "GUARD_VERSION", 3),
            grammar=text("GRAMMAR") or "llama_guard",
            labels=labels,
            prompt_template=env.get("PROMPT_TEMPLATE") or None,
            max_new_tokens=_env_int(env, "MAX_NEW_TOKENS", 20),
            max_message_chars=_env_int(env, "MAX_MESSAGE_CHARS", 4000),
            max_prompt_tokens=_env_int(env, "MAX_PROMPT_TOKENS", 4096),
        )


def check_label_list(labels: Sequence[str] | None, prompt_template: str | None) -> None:
    """``ValueError`` unless a label-list model has its label names and its prompt (if given) has ``{text}``.

    >>> check_label_list(("joy",), "Text: {labels}")
    Traceback (most recent call last):
    ...
    ValueError: PROMPT_TEMPLATE (--prompt-template) must contain {text}, got 'Text: {labels}'.
    """
    if not labels:
        raise ValueError(
            "GRAMMAR=label_list needs the label names: set LABELS=joy,anger,... (comma-separated; --labels)."
        )
    if prompt_template is not None and "{text}" not in prompt_template:
        raise ValueError(f"PROMPT_TEMPLATE (--prompt-template) must contain {{text}}, got {prompt_template!r}.")


def _bad(field: str, value: object, what: str) -> str:
    return f"{field} ({field.upper()}, --{field.replace('_', '-')}) {what}, got {value!r}."


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """The integer in ``env[name]``, ``default`` when unset or blank.

    >>> _env_int({"MAX_NEW_TOKENS": "abc"}, "MAX_NEW_TOKENS", 20)
    Traceback (most recent call last):
    ...
    ValueError: environment variable MAX_NEW_TOKENS='abc' must be an integer (default 20).
    """
    value = env.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer (default {default}).") from None
