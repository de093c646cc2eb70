"""A policy handed to a bridge: a :class:`~marginal_generate.Policy` or the path of its file, checked once against the
labels and the strategy the bridge scores with.

>>> from marginal_generate.policy import Cut, LabelRule, Policy, Target
>>> policy = Policy({"unsafe": LabelRule(Cut(0.3, Target("recall", 0.9)))}, ("unsafe", "S1"), 0.9, 200,
...                 provenance={"strategy": "any_place"})
>>> resolve_policy(policy, ("unsafe", "S1"), "any_place").thresholds
{'unsafe': 0.3}
>>> resolve_policy(policy, ("unsafe", "S1"), "fixed_place")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: `policy` does not fit this guard's scores: the policy was fitted on any_place scores, not fixed_place; ...
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..policy import Policy, load_policy

__all__ = ["resolve_policy", "policy_name"]


def policy_name(policy: Any) -> str:
    """How messages name the policy: its file, or ``policy`` for an object."""
    return f"policy file {os.fspath(policy)}" if isinstance(policy, (str, os.PathLike)) else "`policy`"


def resolve_policy(policy: Any, labels: Sequence[str], strategy: str) -> Policy | None:
    """``policy`` as a :class:`Policy` (loaded when it is a path; None stays None), or one ``ValueError`` when it is
    neither, was fitted on another strategy's scores, or on other labels than ``labels``."""
    if policy is None:
        return None
    name = policy_name(policy)
    if isinstance(policy, (str, os.PathLike)):
        policy = load_policy(policy)
    elif not isinstance(policy, Policy):
        raise ValueError(
            f"`policy` must be a marginal_generate.Policy or the path of a policy file, got {type(policy).__name__}; "
            "load one with mg.load_policy(path) or pass the path."
        )
    try:
        policy.check_scores(labels, strategy)
    except ValueError as err:
        raise ValueError(f"{name} does not fit this guard's scores: {err}") from None
    return policy
