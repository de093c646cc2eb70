"""allow / review / block for each scored prompt: from the loaded policy file, or the plain 0.5 rule without one.

With a policy (``marginal-generate policy``, :func:`marginal_generate.load_policy`) each label it decides gets the
policy's outcome (:meth:`~marginal_generate.Policy.outcomes`: block from its threshold up, review in its band,
allow below); labels it refused, and every label without a policy, get ``block`` from 0.5 up and ``allow`` below.
A prompt's ``decision`` is the worst outcome over the policy's labels (all labels without a policy).

>>> import numpy as np
>>> rule = Decider(None, ("unsafe", "S1"))
>>> rule.rows(np.array([[0.7, 0.2], [0.1, 0.0]]))[0]
{'decision': 'block', 'by': 'threshold 0.5', 'outcomes': {'unsafe': 'block', 'S1': 'allow'}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Decider", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = 0.5
_RANK = {"allow": 0, "review": 1, "block": 2}


class Decider:
    """Outcomes of the scores of ``labels`` under ``policy`` (None: the 0.5 rule).

    ``ValueError`` (one line) for a policy fitted on other labels or on scores of another ``strategy``.
    """

    def __init__(self, policy: Any, labels: Sequence[str], strategy: str = "any_place") -> None:
        self.policy = policy
        self.labels = tuple(labels)
        if policy is not None:
            policy.check_scores(self.labels)  # the labels; the strategy is checked below, in the server's terms
            fitted_on = policy.provenance.get("strategy")
            if fitted_on is not None and fitted_on != strategy:
                raise ValueError(
                    f"the policy was fitted on {fitted_on} scores, but the server scores /v1/moderations with "
                    f"{strategy}; fit it on {strategy} scores (marginal-generate policy RUN_DIR --strategy {strategy})."
                )
        self.strategy = strategy

    def applies(self, strategy: str) -> bool:
        """Whether the policy decides scores of ``strategy`` (else the 0.5 rule does)."""
        return self.policy is not None and strategy == self.strategy

    def rows(self, probs: np.ndarray, strategy: str | None = None) -> list[dict[str, Any]]:
        """Per prompt: ``decision``, ``by`` (``"policy"`` or ``"threshold 0.5"``) and ``outcomes`` per label."""
        probs = np.asarray(probs, dtype=np.float64)
        by_rule = np.where(probs >= DEFAULT_THRESHOLD, "block", "allow").astype(object)
        use_policy = self.applies(strategy or self.strategy)
        decided = list(self.policy.labels) if use_policy else list(self.labels)
        if use_policy:
            policy_outcomes = self.policy.outcomes(probs, self.labels)
            for j, label in enumerate(self.policy.labels):
                by_rule[:, self.labels.index(label)] = policy_outcomes[:, j]
        out = []
        for row in by_rule:
            outcomes = {label: str(o) for label, o in zip(self.labels, row)}
            worst = max((outcomes[label] for label in decided), key=_RANK.__getitem__, default="allow")
            out.append({"decision": worst, "by": "policy" if use_policy else "threshold 0.5", "outcomes": outcomes})
        return out
