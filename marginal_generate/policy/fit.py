"""``fit_policy``: per-label thresholds that meet a target in the population with probability ``confidence``,
from a validation sample alone (the bounds are in :mod:`marginal_generate.policy.bounds`).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = (rng.random((400, 2)) < 0.5).astype(int)
>>> p = np.where(y == 1, rng.beta(5, 2, (400, 2)), rng.beta(2, 5, (400, 2)))
>>> policy = fit_policy(p, y, labels=["unsafe", "S1"], target=("recall", 0.9), review="fpr=0.05")
>>> {k: round(v, 3) for k, v in policy.thresholds.items()}
{'unsafe': 0.522, 'S1': 0.456}
>>> {k: round(v, 3) for k, v in policy.review_thresholds.items()}, policy.review_rate
({'unsafe': 0.634, 'S1': 0.636}, 0.1775)
>>> policy.validation_size, policy.rules["unsafe"].validation["positives"]
(400, 175)
>>> rates = policy.rules["unsafe"].validation["at_threshold"]
>>> round(rates["recall"]["value"], 3), [round(v, 3) for v in rates["recall"]["interval"]]
(0.931, [0.891, 0.96])
>>> fit_policy(p[:30], y[:30], labels=["unsafe", "S1"], target=("recall", 0.95))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: cannot guarantee the target at confidence 0.9 for 2 label(s): unsafe (11 positives, needs 45 for ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .bounds import (
    clopper_pearson,
    empirical_threshold,
    fpr_rank,
    min_samples,
    precision_threshold,
    recall_rank,
)
from .policy import Cut, LabelRule, Policy
from .targets import Target, TargetSpec, per_label_targets

__all__ = ["fit_policy", "refusals", "validation_rates"]


def fit_policy(
    probs: Any,
    references: Any,
    labels: Sequence[str] | None = None,
    target: TargetSpec = ("recall", 0.9),
    confidence: float = 0.9,
    review: TargetSpec | None = None,
    best_effort: bool = False,
    *,
    skip_refused: bool = False,
    provenance: Mapping[str, Any] | None = None,
) -> Policy:
    """Fit one threshold per label (and a review threshold with ``review``) on validation scores.

    Args:
        probs: ``[N, L]`` scores (numpy array or torch tensor), or a :class:`~marginal_generate.LabelScores`
            (its labels, strategy and estimate are taken along). A column that is all NaN (a label the strategy
            does not score) is left out.
        references: ``[N, L]`` 0/1, the same columns.
        labels: the column names (default: the ``LabelScores``' labels, else ``"0"``, ``"1"``, ...).
        target: ``(kind, value)`` or ``"kind=value"`` with kind ``recall`` (``>= value``), ``fpr`` (``<= value``)
            or ``precision`` (``>= value``); or a dict ``{label: target}`` (labels it leaves out are not fitted).
        confidence: the probability with which each guaranteed threshold meets its target in the population (a
            per-label guarantee; for all ``L`` labels at once, pass ``1 - (1 - confidence) / L``).
        review: an optional second target (same forms) per label; the two thresholds cut the scores into block
            (above both), review (between) and allow (below both).
        best_effort: for a label with too few positives (or negatives) for the guarantee, take the threshold that
            meets the target on the validation sample, marked ``guaranteed=False``, instead of refusing it.
        skip_refused: leave refused labels out (listed in :attr:`Policy.refused`) instead of raising.
        provenance: what the scores came from (model, prompt format, strategy, estimate, calibrator, ...), saved
            with the policy.

    Raises:
        ValueError: one line for bad input, scores that are 0/1 only, or labels that cannot be guaranteed (with the
            number of positives or negatives they need) unless ``best_effort`` or ``skip_refused``.
    """
    from ..calibration.validation import as_float_array, check_binary_references, check_same_shape

    meta: dict[str, Any] = {}
    if hasattr(probs, "labels") and hasattr(probs, "probs"):  # a LabelScores
        labels = tuple(probs.labels) if labels is None else labels
        meta = {"strategy": probs.strategy, "estimate": getattr(probs, "estimate", None)}
        probs = probs.probs
    p = as_float_array("probs", probs, ndims=(2,))
    finite = p[np.isfinite(p)]
    if ((finite < 0) | (finite > 1)).any() or np.isinf(p).any():
        bad = p[~np.isnan(p) & ((p < 0) | (p > 1))][0]
        raise ValueError(f"`probs` must hold probabilities in [0, 1] (NaN: no score); got {bad}.")
    y = check_binary_references("references", references, ndims=(2,))
    check_same_shape("probs", p, "references", y)
    names = tuple(str(k) for k in labels) if labels is not None else tuple(str(j) for j in range(p.shape[1]))
    if len(names) != p.shape[1] or len(set(names)) != len(names):
        raise ValueError(
            f"`labels` must name each of the {p.shape[1]} columns once; got {list(names)}."
            if len(names) != p.shape[1]
            else f"`labels` has duplicates: {list(names)}; name each column once."
        )
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be a number strictly between 0 and 1, e.g. 0.9; got {confidence!r}.")
    if finite.size and np.all((finite == 0) | (finite == 1)):
        raise ValueError(
            "`probs` holds only 0 and 1 (greedy scores?): there is no threshold to fit between them; "
            "score with a strategy that gives probabilities, e.g. any_place."
        )
    targets = per_label_targets(target, names, "target")
    reviews = per_label_targets(review, names, "review") if review is not None else {}
    orphans = [k for k in reviews if k not in targets]
    if orphans:
        raise ValueError(f"`review` names {orphans}, which `target` leaves out; give each reviewed label a target.")

    rules: dict[str, LabelRule] = {}
    refused: dict[str, str] = {}
    for j, label in enumerate(names):
        if label not in targets:
            continue
        column, truth = p[:, j], y[:, j]
        nan = np.isnan(column)
        if nan.all():
            refused[label] = "no scores (NaN: the strategy does not score this label)"
            continue
        if nan.any():
            raise ValueError(
                f"`probs` has NaN for label {label!r} at row {int(np.flatnonzero(nan)[0])} but scores elsewhere; "
                "drop those rows or fill them."
            )
        if np.all((column == 0) | (column == 1)):
            refused[label] = "scores are 0/1 only: no threshold to fit"
            continue
        cuts = []
        for wanted in (targets[label], reviews.get(label)):
            if wanted is None:
                continue
            cut, why = _fit_cut(wanted, column, truth, confidence, best_effort)
            if cut is None:
                refused[label] = why
                break
            cuts.append(cut)
        else:
            rule = LabelRule(cuts[0], cuts[1] if len(cuts) > 1 else None)
            rules[label] = LabelRule(rule.cut, rule.review, _validation(rule, column, truth, confidence))
    if refused and not skip_refused:
        raise ValueError(
            f"cannot guarantee the target at confidence {confidence:g} for {len(refused)} label(s): "
            + refusals(refused)
            + ". Collect more validation data, lower the target or the confidence, pass best_effort=True for "
            "unguaranteed thresholds, or skip_refused=True to leave these labels out."
        )
    if not rules:
        raise ValueError(
            f"no label could be fitted at confidence {confidence:g}: "
            + (refusals(refused) or "`target` names none")
            + ". Collect more validation data or lower the target or the confidence."
        )
    policy = Policy(
        rules=rules,
        source_labels=names,
        confidence=float(confidence),
        validation_size=int(p.shape[0]),
        provenance={**meta, **dict(provenance or {})},
        refused=refused,
    )
    if any(rule.review is not None for rule in rules.values()):
        outcomes = policy.outcomes(p, names)
        policy.review_rate = float(np.mean(np.any(outcomes == "review", axis=1) & ~np.any(outcomes == "block", axis=1)))
    return policy


def refusals(refused: Mapping[str, str]) -> str:
    """The refused labels in one line: ``S1 (2 positives, needs 22 for recall >= 0.9); S2 (...)``."""
    return "; ".join(f"{label} ({why})" for label, why in refused.items())


def _fit_cut(
    target: Target, scores: np.ndarray, truth: np.ndarray, confidence: float, best_effort: bool
) -> tuple[Cut | None, str]:
    """The guaranteed cut for ``target``, else (``best_effort``) the validation-only one, else None and why."""
    kind, value = target
    n = int((truth == 0).sum() if kind == "fpr" else (truth == 1).sum())
    counted = ("negative" if kind == "fpr" else "positive") + ("" if n == 1 else "s")
    threshold: float | None = None
    if kind == "recall":
        k = recall_rank(n, value, confidence)
        threshold = None if k is None else float(np.sort(scores[truth == 1])[k - 1])
    elif kind == "fpr":
        k = fpr_rank(n, value, confidence)
        threshold = None if k is None else float(np.nextafter(np.sort(scores[truth == 0])[k - 1], np.inf))
    else:
        threshold = precision_threshold(scores, truth, value, confidence)
    if threshold is not None and threshold <= scores.min():
        why = f"its threshold for {target} is {threshold:.4g} and would flag every sample: positives score that low"
        return None, why
    if threshold is not None:
        return Cut(threshold, target), ""
    need = min_samples(kind, value, confidence)
    why = f"{n} {counted}, needs {need} for {target}"
    if kind == "precision" and n >= need:
        why = f"{n} positives, but Learn-then-Test certified no threshold for {target}"
    if best_effort:
        fallback = empirical_threshold(kind, scores, truth, value)  # type: ignore[arg-type]
        if fallback is not None:
            return Cut(fallback, target, guaranteed=False, why=why), ""
        why = f"no {counted} in the validation split" if n == 0 else why + ", and none meets it on validation"
    return None, why


def validation_rates(scores: np.ndarray, truth: np.ndarray, flagged: np.ndarray, confidence: float) -> dict[str, Any]:
    """Recall, false positive rate, precision and flag rate of 0/1 ``flagged`` decisions, each
    ``{"value", "interval" (Clopper-Pearson at confidence), "count", "of"}`` (value and interval None when ``of``
    is 0).

    >>> r = validation_rates(np.zeros(4), np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]), 0.9)
    >>> r["recall"]["value"], r["fpr"]["count"], r["precision"]["of"]
    (0.5, 1, 2)
    """
    flagged = flagged.astype(bool)
    positive = truth == 1

    def rate(count: int, of: int) -> dict[str, Any]:
        interval = clopper_pearson(count, of, confidence)
        return {
            "value": count / of if of else None,
            "interval": None if interval is None else list(interval),
            "count": count,
            "of": of,
        }

    tp, fp = int((flagged & positive).sum()), int((flagged & ~positive).sum())
    return {
        "recall": rate(tp, int(positive.sum())),
        "fpr": rate(fp, int((~positive).sum())),
        "precision": rate(tp, tp + fp),
        "flag_rate": rate(tp + fp, len(truth)),
    }


def _validation(rule: LabelRule, scores: np.ndarray, truth: np.ndarray, confidence: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "positives": int((truth == 1).sum()),
        "negatives": int((truth == 0).sum()),
        "at_threshold": validation_rates(scores, truth, scores >= rule.cut.threshold, confidence),
    }
    if rule.review is not None:
        low, high = rule.band
        out["at_review_threshold"] = validation_rates(scores, truth, scores >= rule.review.threshold, confidence)
        out["review_rate"] = float(np.mean((scores >= low) & (scores < high)))
    return out
