"""A fitted operating point per label: :class:`Policy` (thresholds, review bands, what was guaranteed and measured),
``decide`` / ``outcomes``, and the versioned JSON file (:meth:`Policy.save`, :func:`load_policy`).

A sample is flagged for a label when its score is ``>= threshold``. With a review threshold too, the two cut the
scores into three bands: ``block`` from the higher one up, ``review`` between them, ``allow`` below the lower one.

>>> import numpy as np
>>> policy = Policy(
...     rules={"unsafe": LabelRule(Cut(0.5, Target("recall", 0.9), True), Cut(0.8, Target("fpr", 0.01), True))},
...     source_labels=("unsafe",), confidence=0.9, validation_size=100)
>>> policy.decide(np.array([[0.9], [0.6], [0.2]])).tolist()
[[1], [1], [0]]
>>> policy.outcomes(np.array([[0.9], [0.6], [0.2]])).tolist()
[['block'], ['review'], ['allow']]
>>> policy.bands
{'unsafe': (0.5, 0.8)}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .targets import Target

__all__ = ["FORMAT_VERSION", "Cut", "LabelRule", "Policy", "load_policy", "score_columns"]

#: The policy file's ``format_version``; :func:`load_policy` refuses any other.
FORMAT_VERSION = 1
OUTCOMES: tuple[str, str, str] = ("allow", "review", "block")


@dataclass(frozen=True)
class Cut:
    """One threshold: ``threshold`` fitted for ``target``; ``guaranteed`` False for a best-effort threshold that
    meets the target on the validation sample only, ``why`` then says why there is no guarantee."""

    threshold: float
    target: Target
    guaranteed: bool = True
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "threshold": self.threshold,
            "target": {"kind": self.target.kind, "value": self.target.value},
            "guaranteed": self.guaranteed,
        }
        return out if self.guaranteed else {**out, "why": self.why}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cut:
        target = Target.parse((data["target"]["kind"], data["target"]["value"]))
        return cls(float(data["threshold"]), target, bool(data["guaranteed"]), str(data.get("why", "")))


@dataclass(frozen=True)
class LabelRule:
    """A label's decision: the ``cut`` that flags (``decide``), an optional ``review`` cut (the two make the bands),
    and ``validation``: what the fitting sample measured (counts, rates with Clopper-Pearson intervals)."""

    cut: Cut
    review: Cut | None = None
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def band(self) -> tuple[float, float]:
        """``(allow below, block from)``: equal without a review cut."""
        if self.review is None:
            return self.cut.threshold, self.cut.threshold
        low, high = sorted((self.cut.threshold, self.review.threshold))
        return low, high


@dataclass
class Policy:
    """Per-label thresholds fitted with a finite-sample guarantee (see :func:`marginal_generate.fit_policy`).

    Attributes:
        rules: ``{label: LabelRule}`` for the labels the policy decides, in the scores' column order.
        source_labels: every label (column) of the scores it was fitted on; it is applied only to scores with
            the same labels (labels it left out are ignored there).
        confidence: the probability with which each guaranteed threshold meets its target in the population.
        validation_size: the number of samples it was fitted on.
        provenance: what the scores came from (model, prompt format, strategy, estimate, calibrator, ...).
        refused: ``{label: why}`` for labels left out (too few positives or negatives for the guarantee, ...).
        review_rate: the share of validation samples whose outcome is ``review`` (a label in review, none blocked);
            None without review cuts.
    """

    rules: dict[str, LabelRule]
    source_labels: tuple[str, ...]
    confidence: float
    validation_size: int
    provenance: dict[str, Any] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    review_rate: float | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels the policy decides."""
        return tuple(self.rules)

    @property
    def thresholds(self) -> dict[str, float]:
        """``{label: threshold}``: flagged when the score is ``>=`` it."""
        return {label: rule.cut.threshold for label, rule in self.rules.items()}

    @property
    def review_thresholds(self) -> dict[str, float | None]:
        """``{label: review threshold}`` (None for a label without one)."""
        return {label: None if r.review is None else r.review.threshold for label, r in self.rules.items()}

    @property
    def bands(self) -> dict[str, tuple[float, float]]:
        """``{label: (allow below, block from)}``; review in between."""
        return {label: rule.band for label, rule in self.rules.items()}

    @property
    def unguaranteed(self) -> dict[str, str]:
        """``{label: why}`` for the labels with a best-effort cut (too few positives or negatives for the guarantee)."""
        return {
            label: "; ".join(c.why for c in (rule.cut, rule.review) if c is not None and not c.guaranteed)
            for label, rule in self.rules.items()
            if not self.guaranteed[label]
        }

    @property
    def targets(self) -> dict[str, Target]:
        return {label: rule.cut.target for label, rule in self.rules.items()}

    @property
    def guaranteed(self) -> dict[str, bool]:
        """``{label: whether every cut of it carries the guarantee}`` (False: a best-effort threshold)."""
        return {
            label: rule.cut.guaranteed and (rule.review is None or rule.review.guaranteed)
            for label, rule in self.rules.items()
        }

    def check_scores(self, labels: Any, strategy: str | None = None) -> None:
        """A ``ValueError`` (one line) unless scores with these ``labels`` (and from ``strategy``, when known) are
        what the policy was fitted on: it names the missing and extra labels, or the other strategy.

        >>> policy = Policy({}, ("unsafe", "S1"), 0.9, 10, {"strategy": "any_place"})
        >>> policy.check_scores(["unsafe", "S2"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the scores' labels differ from the policy's (missing ['S1'] and extra ['S2']); it was fitted on ...
        """
        fitted_on = self.provenance.get("strategy")
        if strategy is not None and fitted_on is not None and strategy != fitted_on:
            raise ValueError(
                f"the policy was fitted on {fitted_on} scores, not {strategy}; score with {fitted_on} "
                "or fit a policy on this strategy's scores."
            )
        missing = [k for k in self.source_labels if k not in labels]
        extra = [k for k in labels if k not in self.source_labels]
        if missing or extra:
            parts = ([f"missing {missing}"] if missing else []) + ([f"extra {extra}"] if extra else [])
            raise ValueError(
                f"the scores' labels differ from the policy's ({' and '.join(parts)}); it was fitted on "
                f"{list(self.source_labels)}: score with the same model and labels, or fit a new policy."
            )

    def _scores(self, probs: Any, labels: Any) -> np.ndarray:
        return score_columns(self, probs, labels)

    def decide(self, probs: Any, labels: Any = None) -> np.ndarray:
        """0/1 flags ``[N, len(self.labels)]``: ``score >= threshold``.

        ``probs``: a :class:`~marginal_generate.LabelScores` (its label names are checked), or an ``[N, L]``
        array or tensor whose columns are ``labels`` (default: the labels the policy was fitted on, in order).
        """
        scores = self._scores(probs, labels)
        return (scores >= np.array([self.thresholds[k] for k in self.labels])).astype(np.int64)

    def outcomes(self, probs: Any, labels: Any = None) -> np.ndarray:
        """``"block"``, ``"review"`` or ``"allow"`` per sample and label ``[N, len(self.labels)]`` (same inputs as
        :meth:`decide`)."""
        scores = self._scores(probs, labels)
        low = np.array([self.bands[k][0] for k in self.labels])
        high = np.array([self.bands[k][1] for k in self.labels])
        index = (scores >= low).astype(np.int64) + (scores >= high).astype(np.int64)
        return np.array(OUTCOMES, dtype=object)[index].astype(str)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what :meth:`save` writes)."""
        return {
            "format_version": FORMAT_VERSION,
            "source_labels": list(self.source_labels),
            "confidence": self.confidence,
            "validation_size": self.validation_size,
            "provenance": dict(self.provenance),
            "review_rate": self.review_rate,
            "rules": {
                label: {
                    "cut": rule.cut.to_dict(),
                    "review": None if rule.review is None else rule.review.to_dict(),
                    "validation": rule.validation,
                }
                for label, rule in self.rules.items()
            },
            "refused": dict(self.refused),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "the policy") -> Policy:
        """From :meth:`to_dict`'s output; a ``ValueError`` naming ``source`` for another version or a malformed one."""
        if not isinstance(data, dict) or "format_version" not in data:
            raise ValueError(
                f"{source} is not a policy file (no format_version); write one with "
                "marginal-generate policy or Policy.save."
            )
        version = data["format_version"]
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{source} has format_version {version!r}, but this marginal-generate reads version "
                f"{FORMAT_VERSION}; refit the policy with this version (marginal-generate policy)."
            )
        try:
            rules = {
                str(label): LabelRule(
                    Cut.from_dict(rule["cut"]),
                    None if rule.get("review") is None else Cut.from_dict(rule["review"]),
                    dict(rule.get("validation") or {}),
                )
                for label, rule in data["rules"].items()
            }
            policy = cls(
                rules=rules,
                source_labels=tuple(str(label) for label in data["source_labels"]),
                confidence=float(data["confidence"]),
                validation_size=int(data["validation_size"]),
                provenance=dict(data.get("provenance") or {}),
                refused={str(k): str(v) for k, v in (data.get("refused") or {}).items()},
                review_rate=None if data.get("review_rate") is None else float(data["review_rate"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            what = f"missing key {err}" if isinstance(err, KeyError) else str(err)
            raise ValueError(
                f"{source} is not a valid policy file ({what}); write it with marginal-generate policy."
            ) from None
        outside = [label for label in policy.labels if label not in policy.source_labels]
        if outside or not policy.rules:
            what = f"rules for {outside}, not in source_labels" if outside else "no rules"
            raise ValueError(f"{source} is not a valid policy file ({what}); write it with marginal-generate policy.")
        return policy

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the policy as JSON (``format_version`` :data:`FORMAT_VERSION`)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """A :class:`Policy` from a file written by :meth:`Policy.save`; one ``ValueError`` line for a missing file,
    a file that is not JSON, an unknown ``format_version`` or a malformed policy.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "policy.json")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"format_version": 99}')
    >>> load_policy(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: policy file .../policy.json has format_version 99, but this marginal-generate reads version 1; ...
    """
    source = f"policy file {os.fspath(path)}"
    if not os.path.isfile(path):
        raise ValueError(f"{source} does not exist; write one with marginal-generate policy RUN_DIR --out FILE.")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{source} is not JSON ({err}); pass a file written by marginal-generate policy.") from None
    return Policy.from_dict(data, source)


def score_columns(policy: Policy, probs: Any, labels: Any = None) -> np.ndarray:
    """The ``[N, len(policy.labels)]`` scores of the policy's labels, taken by name from a ``LabelScores`` or from an
    array whose columns are ``labels`` (default: ``policy.source_labels``); a ``ValueError`` naming the missing and
    extra labels when they are not the labels it was fitted on, or the strategy when it is another."""
    from ..calibration.validation import as_float_array

    strategy = getattr(probs, "strategy", None)
    if hasattr(probs, "labels") and hasattr(probs, "probs"):
        labels, probs = tuple(probs.labels), probs.probs
    scores = as_float_array("probs", probs, ndims=(2,))
    names = policy.source_labels if labels is None else tuple(labels)
    if len(names) != scores.shape[1]:
        raise ValueError(
            f"`probs` has {scores.shape[1]} columns but {len(names)} labels "
            f"({'the policy was fitted on ' if labels is None else ''}{list(names)}); pass one column per label."
        )
    policy.check_scores(names, strategy)
    out = scores[:, [names.index(k) for k in policy.labels]]
    bad = ~np.isfinite(out)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"`probs` has {out[row, col]} for label {policy.labels[col]!r} at row {row}; "
            "every label the policy decides needs a score."
        )
    return out
