"""Scores → the page's verdict: display names, the decision at a threshold, and how it reads.

The decision is what the page leads with: the Markdown verdict and the headline of the confidence card
(:func:`headline`) both say it, never the top-scoring label (a benign prompt's ``unsafe`` at 0.004 can still
be the largest score when every category is near 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..labels.taxonomy import Taxonomy, get_taxonomy  # noqa: F401 (the examples use get_taxonomy)

__all__ = [
    "Decision",
    "display_name",
    "confidences",
    "decide",
    "decision_markdown",
    "labels_markdown",
    "headline",
    "check_row",
]


def display_name(label: str, taxonomy: Taxonomy) -> str:
    """``"S10"`` → ``"S10 Hate"``; ``"unsafe"`` and ids outside the taxonomy stay as they are.

    >>> display_name("S10", get_taxonomy(3)), display_name("unsafe", get_taxonomy(3))
    ('S10 Hate', 'unsafe')
    """
    return f"{label} {taxonomy.name_of(label)}" if label in taxonomy else label


def check_row(labels: Sequence[str], probs: Sequence[float]) -> None:
    """``ValueError`` unless there is one value per label.

    >>> check_row(["unsafe", "S1"], [0.5])
    Traceback (most recent call last):
    ...
    ValueError: `probs` has 1 values but there are 2 labels; pass one per label.
    """
    if len(labels) != len(probs):
        raise ValueError(f"`probs` has {len(probs)} values but there are {len(labels)} labels; pass one per label.")


def confidences(labels: Sequence[str], probs: Sequence[float], taxonomy: Taxonomy) -> dict[str, float]:
    """Display name → probability, in label order; labels the strategy leaves undefined (NaN) are left out.

    >>> confidences(["unsafe", "S1", "S10"], [0.9, float("nan"), 0.25], get_taxonomy(3))
    {'unsafe': 0.9, 'S10 Hate': 0.25}
    """
    check_row(labels, probs)
    return {display_name(label, taxonomy): float(p) for label, p in zip(labels, probs) if not math.isnan(float(p))}


@dataclass(frozen=True)
class Decision:
    """The verdict at a threshold: ``unsafe`` is ``p(unsafe) >= threshold``; ``categories`` are the
    category display names with ``p >= threshold`` (undefined scores never pass)."""

    unsafe: bool
    categories: tuple[str, ...]
    threshold: float
    scores: dict[str, float] = field(default_factory=dict)


def decide(
    labels: Sequence[str], probs: Sequence[float], threshold: float, taxonomy: Taxonomy, positive: str = "unsafe"
) -> Decision:
    """Safe or unsafe, and the categories over ``threshold`` (``p >= threshold``).

    >>> d = decide(["unsafe", "S1", "S10"], [0.8, 0.1, 0.6], 0.5, get_taxonomy(3))
    >>> d.unsafe, d.categories
    (True, ('S10 Hate',))
    >>> decide(["unsafe", "S1"], [0.2, float("nan")], 0.5, get_taxonomy(3)).unsafe
    False
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"`threshold` must be a number in [0, 1], got {threshold!r}.")
    scores = confidences(labels, probs, taxonomy)
    p_unsafe = scores.get(positive, float("nan"))
    over = tuple(
        name
        for label, name in ((label, display_name(label, taxonomy)) for label in labels)
        if label != positive and name in scores and scores[name] >= threshold
    )
    return Decision(unsafe=bool(p_unsafe >= threshold), categories=over, threshold=float(threshold), scores=scores)


def decision_markdown(decision: Decision, positive: str = "unsafe") -> str:
    """The decision as one Markdown paragraph.

    >>> print(decision_markdown(Decision(True, ("S10 Hate",), 0.5, {"unsafe": 0.9, "S10 Hate": 0.7})))
    ## unsafe
    p(unsafe) = 0.900 ≥ threshold 0.50. Categories over the threshold: **S10 Hate** (0.700).
    """
    p = decision.scores.get(positive, float("nan"))
    verdict = "unsafe" if decision.unsafe else "safe"
    relation = "≥" if decision.unsafe else "<"
    text = f"## {verdict}\np(unsafe) = {p:.3f} {relation} threshold {decision.threshold:.2f}."
    if decision.categories:
        items = ", ".join(f"**{name}** ({decision.scores[name]:.3f})" for name in decision.categories)
        text += f" Categories over the threshold: {items}."
        if not decision.unsafe:
            text += " (p(unsafe) itself is under the threshold.)"
    elif decision.unsafe:
        text += " No category is over the threshold."
    if len(decision.scores) == 1:
        text += " This strategy scores `unsafe` only; its categories are undefined."
    return text


def labels_markdown(decision: Decision) -> str:
    """The labels over the threshold of a model without a verdict (a label list), as Markdown.

    >>> print(labels_markdown(Decision(False, ("joy",), 0.5, {"joy": 0.8, "anger": 0.1})))
    ## joy
    Labels with p ≥ threshold 0.50: **joy** (0.800).
    >>> print(labels_markdown(Decision(False, (), 0.5, {"joy": 0.2})))
    ## none
    No label is over the threshold 0.50.
    """
    if not decision.categories:
        return f"## none\nNo label is over the threshold {decision.threshold:.2f}."
    items = ", ".join(f"**{name}** ({decision.scores[name]:.3f})" for name in decision.categories)
    return f"## {', '.join(decision.categories)}\nLabels with p ≥ threshold {decision.threshold:.2f}: {items}."


def headline(decision: Decision, verdict: bool = True) -> str:
    """The confidence card's headline: the decision, never the top-scoring label.

    With a verdict (Llama Guard): ``safe``, or ``unsafe`` and the flagged categories; a category over the
    threshold under a safe verdict is not flagged. Without one (a label list): the labels over the threshold,
    or ``none``.

    >>> headline(Decision(False, (), 0.5, {"unsafe": 0.004, "S1 Violent Crimes": 0.001}))
    'safe'
    >>> headline(Decision(True, ("S9 Indiscriminate Weapons",), 0.5))
    'unsafe: S9 Indiscriminate Weapons'
    >>> headline(Decision(False, ("joy", "fear"), 0.5), verdict=False), headline(Decision(False, (), 0.5), False)
    ('joy, fear', 'none')
    """
    if not verdict:
        return ", ".join(decision.categories) or "none"
    if not decision.unsafe:
        return "safe"
    return "unsafe: " + ", ".join(decision.categories) if decision.categories else "unsafe"
