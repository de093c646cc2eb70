"""The Space's example rows (``marginal_generate.space.config.EXAMPLES``); the config module imports no gradio."""

from marginal_generate.space.config import EXAMPLES


def space_examples() -> list[list[str]]:
    """The Space's ``EXAMPLES``: ``[user message, agent response or ""]`` rows (a copy)."""
    return [list(row) for row in EXAMPLES]
