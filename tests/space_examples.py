"""The Space's example rows (``spaces/app.py``'s ``EXAMPLES``), read from its source without importing gradio."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "spaces" / "app.py"


def space_examples() -> list[list[str]]:
    """``EXAMPLES`` of ``spaces/app.py``: ``[user message, agent response or ""]`` rows."""
    for node in ast.parse(APP.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "EXAMPLES":
            return ast.literal_eval(node.value)
    raise AssertionError("EXAMPLES not found in spaces/app.py")
