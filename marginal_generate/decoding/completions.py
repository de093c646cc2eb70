"""The explored answers ``any_place`` reports: one entry per text, not per token path.

The tree search reaches the same text along several token paths (``sadness`` as one token and as ``sad`` +
``ness``; ``unsafe`` after ``\\n\\n`` or after ``\\n`` + ``\\n``). :func:`merge_by_text` sums their probabilities,
so ``LabelScores.completions`` lists each text once with the model's probability of writing it.

``complete``: an entry is complete (the text is the whole answer: EOS or ``max_new_tokens``) when every path
merged into it is; a path the search stopped early because its label set could no longer change is a prefix
(its probability is that of every answer that continues it), and a merged entry holding one is a prefix too: its
probability is then that of the answers that are the text or continue it, along the paths explored.

>>> merge_by_text([("sadness", 0.066, True), ("safe", 0.2, True), ("sadness", 0.015, True)], top=10)
[('safe', 0.2, True), ('sadness', 0.081, True)]
>>> merge_by_text([("safe", 0.5, False), ("safe", 0.25, True), ("x", 0.1, True)], top=1)
[('safe', 0.75, False)]
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["merge_by_text"]


def merge_by_text(entries: Iterable[tuple[str, float, bool]], top: int) -> list[tuple[str, float, bool]]:
    """``(text, probability, complete)`` entries merged by text (see the module docstring), the ``top`` most probable
    first (ties keep the order they were found in)."""
    merged: dict[str, tuple[float, bool]] = {}
    for text, probability, complete in entries:
        total, whole = merged.get(text, (0.0, True))
        merged[text] = (total + probability, whole and complete)
    ranked = sorted(merged.items(), key=lambda item: -item[1][0])
    return [(text, probability, complete) for text, (probability, complete) in ranked[: max(top, 0)]]
