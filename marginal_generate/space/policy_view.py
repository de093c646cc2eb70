"""The operator's policy on the page (``POLICY`` / ``--policy``): read once (:func:`read_space_policy`) and checked
against the model's labels and strategies (:func:`check_space_policy`), then each label's outcome, block / review /
allow, with its thresholds (:func:`policy_rows`) and the page's verdict under it (:func:`policy_outcome`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..labels.taxonomy import Taxonomy, get_taxonomy  # noqa: F401 (the examples use get_taxonomy)
from .verdict import display_name

__all__ = [
    "POLICY_HEADERS",
    "DEFAULT_POLICY_STRATEGY",
    "read_space_policy",
    "check_space_policy",
    "load_space_policy",
    "policy_rows",
    "policy_outcome",
]

POLICY_HEADERS = ["label", "outcome", "score", "allow below", "block from", "guaranteed"]
#: The strategy of a policy whose provenance names none (as ``marginal-generate evaluate --policy`` reads it).
DEFAULT_POLICY_STRATEGY = "any_place"


def read_space_policy(path: str) -> Any:
    """The :class:`~marginal_generate.Policy` saved at ``path``; one ``ValueError`` line naming ``POLICY`` for a
    missing or malformed file (read before the model is loaded: a bad file fails fast).

    >>> read_space_policy("no/such.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: POLICY (--policy): policy file no/such.json does not exist; write one with marginal-generate policy ...
    """
    from ..policy import load_policy

    try:
        return load_policy(path)
    except ValueError as err:
        raise ValueError(f"POLICY (--policy): {err}") from None


def check_space_policy(policy: Any, path: str, labels: Sequence[str], strategies: Sequence[str]) -> None:
    """One ``ValueError`` line naming ``POLICY`` for a policy fitted on other labels than ``labels`` (the model's)
    or on a strategy not in ``strategies`` (what the page can score)."""
    strategy = policy.provenance.get("strategy") or DEFAULT_POLICY_STRATEGY
    try:
        if strategy not in strategies:
            raise ValueError(
                f"policy file {path} was fitted on {strategy} scores, which this model's page cannot show "
                f"(it scores {', '.join(strategies)}); fit one on one of those."
            )
        policy.check_scores(list(labels), strategy)
    except ValueError as err:
        raise ValueError(f"POLICY (--policy): {err}") from None


def load_space_policy(path: str, labels: Sequence[str], strategies: Sequence[str]) -> Any:
    """:func:`read_space_policy`, then :func:`check_space_policy` against ``labels`` and ``strategies``."""
    policy = read_space_policy(path)
    check_space_policy(policy, path, labels, strategies)
    return policy


def policy_rows(
    policy: Any, labels: Sequence[str], probs: Sequence[float], taxonomy: Taxonomy, digits: int = 4
) -> list[list[Any]]:
    """Rows ``[label, outcome, score, allow below, block from, guaranteed]``, one per label the policy decides;
    ``outcome`` is :meth:`Policy.outcomes` of the scores ``probs`` (columns ``labels``).

    >>> from marginal_generate.policy import Cut, LabelRule, Policy, Target
    >>> rule = LabelRule(Cut(0.3, Target("recall", 0.9)), Cut(0.7, Target("fpr", 0.05)))
    >>> policy = Policy({"S10": rule}, ("unsafe", "S10"), 0.9, 100)
    >>> policy_rows(policy, ["unsafe", "S10"], [0.9, 0.5], get_taxonomy(3))
    [['S10 Hate', 'review', 0.5, 0.3, 0.7, True]]
    """
    outcomes = policy.outcomes([list(probs)], list(labels))[0]
    scores = dict(zip(labels, probs))
    return [
        [
            display_name(label, taxonomy),
            str(outcome),
            round(float(scores[label]), digits),
            policy.bands[label][0],
            policy.bands[label][1],
            policy.guaranteed[label],
        ]
        for label, outcome in zip(policy.labels, outcomes)
    ]


def policy_outcome(rows: Sequence[Sequence[Any]]) -> tuple[str, list[str]]:
    """The page's verdict under the policy: ``block`` when a label is blocked, else ``review`` when one is in
    review, else ``allow``; and the labels with that outcome.

    >>> policy_outcome([["unsafe", "block"], ["S1", "review"], ["S9", "block"]])
    ('block', ['unsafe', 'S9'])
    >>> policy_outcome([["unsafe", "allow"]])
    ('allow', [])
    """
    for outcome in ("block", "review"):
        names = [row[0] for row in rows if row[1] == outcome]
        if names:
            return outcome, names
    return "allow", []
