"""The page's tables as plain rows: the tree search's completions, the any_place bounds, every strategy."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..labels.taxonomy import Taxonomy, get_taxonomy  # noqa: F401 (the examples use get_taxonomy)
from .verdict import check_row, display_name

__all__ = [
    "COMPLETION_HEADERS",
    "BOUNDS_HEADERS",
    "ANSWER_HEADERS",
    "completions_table",
    "bounds_table",
    "answers_table",
    "strategies_table",
]

COMPLETION_HEADERS = ["rank", "completion", "probability", "complete", "labels"]
ANSWER_HEADERS = ["rank", "answer", "probability"]
BOUNDS_HEADERS = ["label", "lower", "estimate", "upper", "width"]


def _shown(text: str) -> str:
    """Completion text on one line, newlines visible as ``\\n``."""
    return text.replace("\n", "\\n")


def _id_key(label: str) -> tuple[int, str]:
    digits = label[1:] if label[:1] == "S" else ""
    return (int(digits), label) if digits.isdigit() else (10**6, label)


def completions_table(
    completions: Sequence[tuple[str, float, bool]],
    parse: Callable[[str], Any],
    taxonomy: Taxonomy,
    digits: int = 4,
) -> list[list[Any]]:
    """Rows ``[rank, completion, probability, complete, labels]`` of the tree search's most probable
    completions, most probable first, probabilities rounded to ``digits``; ``labels`` is what
    ``parse`` (``LabelSpace.parse``) reads; ``complete`` is False for a prefix whose label set can no
    longer change (the search stopped there).

    >>> from marginal_generate.labels.llama_guard import LlamaGuardParser
    >>> parse = LlamaGuardParser(("S1", "S10")).parse
    >>> completions_table([("safe", 0.25, True), ("\\n\\nunsafe\\nS10", 0.5, True)], parse, get_taxonomy(3))
    [[1, '\\\\n\\\\nunsafe\\\\nS10', 0.5, True, 'unsafe, S10 Hate'], [2, 'safe', 0.25, True, 'safe']]
    """
    rows = sorted(completions, key=lambda c: -float(c[1]))
    out = []
    for rank, (text, prob, complete) in enumerate(rows, start=1):
        found = parse(text)
        order = {"unsafe": -1}
        names = [display_name(x, taxonomy) for x in sorted(found, key=lambda x: (order.get(x, 0), _id_key(x)))]
        out.append(
            [rank, _shown(text), round(float(prob), digits), bool(complete), ", ".join(names) if names else "safe"]
        )
    return out


def answers_table(
    label_sets: Sequence[tuple[frozenset[str] | None, float]],
    unexplored: float,
    labels: Sequence[str],
    taxonomy: Taxonomy,
    empty: str = "safe",
    digits: int = 4,
) -> list[list[Any]]:
    """Rows ``[rank, answer, probability]`` of the most probable answers by label set (``LabelScores.label_sets``
    of one prompt): each set's labels in column order with their names, ``empty`` for the empty set; the folded sets
    and the mass cut before its set was known follow, unranked, when they hold any mass.

    >>> rows = answers_table([(frozenset({"unsafe", "S10"}), 0.5), (frozenset(), 0.3), (None, 0.15)], 0.05,
    ...                      ["unsafe", "S1", "S10"], get_taxonomy(3))
    >>> for row in rows:
    ...     print(row)
    [1, 'unsafe, S10 Hate', 0.5]
    [2, 'safe', 0.3]
    ['', 'other answers (folded)', 0.15]
    ['', 'unexplored (cut)', 0.05]
    """
    rows: list[list[Any]] = []
    for labels_set, mass in label_sets:
        if labels_set is None:
            rows.append(["", "other answers (folded)", round(float(mass), digits)])
            continue
        names = [display_name(label, taxonomy) for label in labels if label in labels_set]
        rows.append([len(rows) + 1, ", ".join(names) or empty, round(float(mass), digits)])
    if round(float(unexplored), digits) > 0:
        rows.append(["", "unexplored (cut)", round(float(unexplored), digits)])
    return rows


def bounds_table(
    labels: Sequence[str],
    probs: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    taxonomy: Taxonomy,
    digits: int = 4,
) -> list[list[Any]]:
    """Rows ``[label, lower, estimate, upper, width]`` of the any_place bounds (``lower <= exact <= upper``),
    rounded to ``digits``.

    >>> bounds_table(["unsafe", "S10"], [0.5, 0.25], [0.5, 0.25], [0.75, 0.5], get_taxonomy(3))
    [['unsafe', 0.5, 0.5, 0.75, 0.25], ['S10 Hate', 0.25, 0.25, 0.5, 0.25]]
    """
    for row in (probs, lower, upper):
        check_row(labels, row)
    return [
        [display_name(label, taxonomy), *(round(float(v), digits) for v in (lo, p, up, float(up) - float(lo)))]
        for label, p, lo, up in zip(labels, probs, lower, upper)
    ]


def strategies_table(
    results: Mapping[str, Any], row: int, taxonomy: Taxonomy, digits: int = 4
) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows (one per strategy, one column per label, NaN as ``None``, rounded to ``digits``) of
    prompt ``row`` of each strategy's :class:`~marginal_generate.LabelScores`.

    >>> import torch, marginal_generate as mg
    >>> scores = mg.LabelScores(("unsafe", "S10"), torch.tensor([[0.25, float("nan")]]), ["x"], "first_token")
    >>> strategies_table({"first_token": scores}, 0, get_taxonomy(3))
    (['strategy', 'unsafe', 'S10 Hate'], [['first_token', 0.25, None]])
    """
    first = next(iter(results.values()))
    headers = ["strategy", *(display_name(label, taxonomy) for label in first.labels)]
    rows = []
    for name, result in results.items():
        values = [float(v) for v in result.probs[row].tolist()]
        rows.append([name, *(None if math.isnan(v) else round(v, digits) for v in values)])
    return headers, rows
