"""Named groups of labels for ``marginal-generate evaluate --groups``: P(any of the group's labels) as a column.

A group gathers labels that another taxonomy counts as one (OpenAI's ``violence`` may be Llama Guard's ``S1`` and
``S9``). Its probability is ``LabelScores.prob_any(group)``, read from ``any_place``'s distribution over label sets:
neither the max nor the sum of the labels' probabilities. Each sample's result line keeps
``groups[strategy][name] = [lower, estimate, upper]``; the report scores the estimate against "the record has any
of the group's labels" with the binary metrics of the ``unsafe`` column (F1, precision, recall at the strategy's
threshold, AUPRC, ECE). Only strategies that keep the joint (``any_place``) get group columns; calibrated rows do not.

>>> groups = parse_groups("violence=S1,S9; sexual = S3,S4,S12")
>>> groups
{'violence': ['S1', 'S9'], 'sexual': ['S3', 'S4', 'S12']}
>>> check_groups(groups, ("unsafe", "S1", "S9"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: `groups` group 'sexual' names labels the model does not have: ['S3', 'S4', 'S12']; its labels are ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "parse_groups",
    "groups_of",
    "check_groups",
    "group_scores",
    "group_rows",
    "format_group_table",
    "GROUP_COLUMNS",
]

EXAMPLE = "--groups 'violence=S1,S9;sexual=S3,S4,S12'"

#: The group table's columns: (key, header).
GROUP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("f1", "F1"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("accuracy", "accuracy"),
    ("auprc", "AUPRC"),
    ("ece", "ECE"),
    ("positives", "positives"),
)


def parse_groups(text: str) -> dict[str, list[str]]:
    """``name=label,label;name=label,...`` as a dict; one ``ValueError`` line naming the bad part otherwise.

    >>> parse_groups("violence=S1,,S9")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `groups` item 'violence=S1,,S9' has an empty label name; e.g. --groups 'violence=S1,S9;sexual=...
    """
    out: dict[str, list[str]] = {}
    for item in text.strip().removesuffix(";").split(";"):
        item = item.strip()
        name, eq, labels = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise ValueError(f"`groups` item {item!r} is not name=label,label; e.g. {EXAMPLE}.")
        names = [label.strip() for label in labels.split(",")]
        if not any(names):
            raise ValueError(f"`groups` group {name!r} has no labels; e.g. {EXAMPLE}.")
        if not all(names):
            raise ValueError(f"`groups` item {item!r} has an empty label name; e.g. {EXAMPLE}.")
        if name in out:
            raise ValueError(f"`groups` names group {name!r} twice; give each group one name=labels item.")
        out[name] = list(dict.fromkeys(names))
    return out


def groups_of(value: object) -> dict[str, list[str]] | None:
    """``--groups`` text or a ``groups:`` mapping (params.yaml, Python) as ``{name: [labels]}``; None stays None.

    >>> groups_of({"violence": ["S1", "S9"]}), groups_of(None)
    ({'violence': ['S1', 'S9']}, None)
    >>> groups_of({"violence": "S1,S9"})
    Traceback (most recent call last):
    ...
    ValueError: `groups` group 'violence' must list label names, got 'S1,S9'; e.g. {'violence': ['S1', 'S9']}.
    """
    if value is None or isinstance(value, str):
        return None if value is None else parse_groups(value)
    if not isinstance(value, Mapping):
        raise ValueError(
            f"`groups` must be name=labels text or a mapping of names to labels, got {value!r}; {EXAMPLE}."
        )
    text = []
    for name, members in value.items():
        if isinstance(members, str) or not isinstance(members, Sequence):
            raise ValueError(
                f"`groups` group {name!r} must list label names, got {members!r}; e.g. {{'violence': ['S1', 'S9']}}."
            )
        text.append(f"{name}={','.join(str(m) for m in members)}")
    return parse_groups(";".join(text))


def check_groups(groups: Mapping[str, Sequence[str]], labels: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The groups as tuples, each label one the model writes; a ``ValueError`` naming the group and its unknown
    labels otherwise.

    >>> check_groups({"violence": ["S1", "S9"]}, ("unsafe", "S1", "S9"))
    {'violence': ('S1', 'S9')}
    """
    out = {}
    for name, members in groups.items():
        unknown = [label for label in members if label not in labels]
        if unknown:
            raise ValueError(
                f"`groups` group {name!r} names labels the model does not have: {unknown}; its labels are "
                f"{list(labels)}."
            )
        out[name] = tuple(members)
    return out


def group_scores(result: Any, groups: Mapping[str, Sequence[str]]) -> list[dict[str, list[float]]]:
    """Per sample, ``{name: [lower, estimate, upper]}`` of P(any of the group's labels) from a ``LabelScores``."""
    columns = {
        name: [result.prob_any(list(members), bound).tolist() for bound in ("lower", "estimate", "upper")]
        for name, members in groups.items()
    }
    return [{name: [c[0][i], c[1][i], c[2][i]] for name, c in columns.items()} for i in range(len(result))]


def _reference(record: Mapping[str, Any], members: Sequence[str]) -> int:
    """1 when the record has any of ``members`` (``unsafe`` reads its verdict), else 0."""
    return int(any(record.get("unsafe") == 1 if m == "unsafe" else m in record["categories"] for m in members))


def group_rows(
    results: Sequence[Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
    thresholds: Mapping[str, float],
    n_bins: int,
) -> list[dict[str, Any]]:
    """One row per (strategy, group) of the test results that carry group scores: the binary metrics of the group's
    estimate against its references; ``thresholds``: the strategy's decision threshold.

    >>> results = [{"split": "test", "unsafe": u, "categories": c, "groups": {"any_place": {"v": [p, p, p]}}}
    ...            for u, c, p in [(1, ["S1"], 0.9), (0, [], 0.2), (1, ["S9"], 0.7), (1, ["S2"], 0.6)]]
    >>> row = group_rows(results, {"v": ("S1", "S9")}, {"any_place": 0.5}, n_bins=2)[0]
    >>> row["row"], row["group"], row["positives"], row["precision"], row["recall"]
    ('any_place', 'v', 2, 0.6666666666666666, 1.0)
    """
    from ..calibration.metrics import binary_calibration_metrics, binary_classification_metrics

    test = [r for r in results if r["split"] == "test" and "groups" in r]
    rows = []
    strategies = list(dict.fromkeys(s for r in test for s in r["groups"]))
    for strategy in strategies:
        scored = [r for r in test if strategy in r["groups"]]
        for name, members in groups.items():
            p = np.array([r["groups"][strategy][name][1] for r in scored], dtype=np.float64)
            y = np.array([_reference(r, members) for r in scored], dtype=np.int64)
            row: dict[str, Any] = {"row": strategy, "group": name, "labels": list(members), "positives": int(y.sum())}
            if len(p):
                cls = binary_classification_metrics(p, y, threshold=thresholds.get(strategy, 0.5))
                row.update({k: cls[k] for k in ("f1", "precision", "recall", "accuracy", "auprc")})
                row["ece"] = binary_calibration_metrics(p, y, n_bins=n_bins)["ece"]
            rows.append(row)
    return rows


def format_group_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The group rows as fixed-width text.

    >>> print(format_group_table([{"row": "any_place", "group": "v", "labels": ["S1", "S9"], "f1": 0.8,
    ...     "precision": 0.6667, "recall": 1.0, "accuracy": 0.75, "auprc": 1.0, "ece": 0.2, "positives": 2}]))
    groups: P(any of the group's labels)
    strategy   group  labels      F1  precision  recall  accuracy   AUPRC     ECE  positives
    ----------------------------------------------------------------------------------------
    any_place  v      S1,S9   0.8000     0.6667  1.0000    0.7500  1.0000  0.2000          2
    """

    def cell(key: str, value: Any) -> str:
        if value is None:
            return "—"
        return str(value) if key == "positives" else f"{value:.4f}"

    headers = ["strategy", "group", "labels", *[h for _, h in GROUP_COLUMNS]]
    body = [[r["row"], r["group"], ",".join(r["labels"]), *[cell(k, r.get(k)) for k, _ in GROUP_COLUMNS]] for r in rows]
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    head = line(headers)
    return "\n".join(["groups: P(any of the group's labels)", head, "-" * len(head), *[line(b) for b in body]])
