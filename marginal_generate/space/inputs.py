"""What the page's user typed, checked: a message for the page, never a traceback."""

from __future__ import annotations

from typing import Any

from ..strategies import STRATEGIES
from .config import EPS_RANGE, TOP_P_RANGE, Settings

__all__ = ["InputError", "validate_inputs"]


class InputError(ValueError):
    """A problem with what the user typed; its message is shown on the page as is."""


def validate_inputs(
    user_message: Any,
    agent_response: Any,
    strategy: Any,
    threshold: Any,
    eps: Any,
    top_p: Any,
    max_chars: int = Settings().max_message_chars,
) -> tuple[str, str | None]:
    """``(user message, agent response or None)`` stripped, or :class:`InputError` with a message for the page.

    >>> validate_inputs("  hi ", "", "any_place", 0.5, 0.01, 0.99)
    ('hi', None)
    >>> try:
    ...     validate_inputs("   ", None, "any_place", 0.5, 0.01, 0.99)
    ... except InputError as err:
    ...     print(err)
    The user message is empty: type a message to classify (or click an example).
    """
    if user_message is None or not isinstance(user_message, str) or not user_message.strip():
        raise InputError("The user message is empty: type a message to classify (or click an example).")
    if agent_response is not None and not isinstance(agent_response, str):
        raise InputError(f"The agent response must be text, got {type(agent_response).__name__}.")
    for what, text in (("user message", user_message), ("agent response", agent_response or "")):
        if len(text) > max_chars:
            raise InputError(
                f"The {what} is {len(text):,} characters long; this Space accepts at most {max_chars:,} per message. "
                "Shorten it and try again."
            )
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown strategy {strategy!r}; pick one of {', '.join(STRATEGIES)}.")
    checks = (("threshold", threshold, 0.0, 1.0), ("eps", eps, *EPS_RANGE), ("top_p", top_p, *TOP_P_RANGE))
    for name, value, lo, hi in checks:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise InputError(f"`{name}` must be a number in [{lo}, {hi}], got {value!r}.")
    response = agent_response.strip() if agent_response and agent_response.strip() else None
    return user_message.strip(), response
