"""Calibrating a run's label columns on its validation split, and why a column or a row is left uncalibrated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ONE_CLASS",
    "CC_DEGENERATE",
    "BC_DEGENERATE",
    "HARD_SCORES",
    "calibrate_columns",
    "hard_scores",
    "uncalibrated",
]

#: Why a label column is left uncalibrated (``metrics.json``'s ``calibrators``: ``"not fitted: <reason>"``).
ONE_CLASS = "one class in validation"
CC_DEGENERATE = "content-free score 0 or 1, which contextual calibration divides by"
BC_DEGENERATE = "mean score 0 or 1, which batch calibration divides by"
#: Why contextual calibration is skipped for a strategy of 0/1 decisions (greedy).
HARD_SCORES = "its scores are 0/1 decisions, which a shift of the logit cannot calibrate"


def calibrate_columns(
    kind: str,
    val: np.ndarray,
    val_refs: np.ndarray,
    test: np.ndarray,
    content_free: np.ndarray | None,
    val_soft: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Calibrate each label column on its own; a column that cannot be fitted (NaN, one class in
    validation, a mean score of 0 or 1 that contextual or batch calibration would divide by) is left as it is.
    Returns the calibrated test scores and, per column, the fitted parameters or ``"not fitted: <reason>"``.

    ``platt`` fits on ``val_soft``'s column where every validation sample has a soft reference, else
    on the 0/1 ``val_refs``; a category column's feature is ``logit(p) - logit(none)`` with
    ``none = 1 - p(unsafe)`` (column 0 of the same scores) where that column is finite.

    >>> val, refs = np.array([[0.2, 0.0], [0.7, 0.0]]), np.array([[0, 0], [1, 1]])
    >>> _, fitted = calibrate_columns("cc", val, refs, val, content_free=np.array([[0.3, 0.0], [0.5, 0.0]]))
    >>> fitted["col0"], fitted["col1"]
    ({'bias_': 0.4}, 'not fitted: content-free score 0 or 1, which contextual calibration divides by')
    """
    from ..calibration import (
        BatchCalibration,
        ContextualCalibration,
        PlattScaling,
        TemperatureScaling,
    )
    from ..calibration.base import degenerate_means

    out = test.copy()
    params: dict[str, Any] = {}
    j0_finite = bool(np.all(np.isfinite(val[:, 0])) and np.all(np.isfinite(test[:, 0])))
    for j in range(test.shape[1]):
        column = f"col{j}"
        if not (np.all(np.isfinite(val[:, j])) and np.all(np.isfinite(test[:, j]))):
            continue
        if kind == "cc":
            if content_free is None or not np.all(np.isfinite(content_free[:, j])):
                continue
            if degenerate_means(content_free[:, j].mean()):
                params[column] = f"not fitted: {CC_DEGENERATE}"
                continue
            cal = ContextualCalibration().fit_content_free(content_free[:, j])
        else:
            refs, soft = val_refs[:, j], False
            if kind == "platt" and val_soft is not None and np.all(np.isfinite(val_soft[:, j])):
                refs, soft = val_soft[:, j], True
            if np.all(refs == 0) or np.all(refs == 1):
                params[column] = f"not fitted: {ONE_CLASS}"
                continue
            if kind == "platt":
                none = j > 0 and j0_finite
                platt = PlattScaling().fit(val[:, j], refs, none_scores=1.0 - val[:, 0] if none else None)
                out[:, j] = platt.transform(test[:, j], none_scores=1.0 - test[:, 0] if none else None)
                params[column] = {**platt.to_dict()["params"], "references": "soft" if soft else "0/1"}
                continue
            if kind == "bc" and degenerate_means([val[:, j].mean(), test[:, j].mean()]).any():
                params[column] = f"not fitted: {BC_DEGENERATE}"
                continue
            cal = (TemperatureScaling() if kind == "ts" else BatchCalibration()).fit(val[:, j], val_refs[:, j])
        out[:, j] = cal.transform(test[:, j])
        params[column] = cal.to_dict()["params"]
    return out, params


def hard_scores(*scores: np.ndarray) -> bool:
    """Whether every finite score is 0 or 1 (a strategy of 0/1 decisions, such as greedy).

    >>> hard_scores(np.array([[0.0, 1.0]]), np.array([[1.0, np.nan]])), hard_scores(np.array([0.0, 0.4]))
    (True, False)
    """
    values = np.concatenate([np.ravel(s) for s in scores])
    values = values[np.isfinite(values)]
    return bool(values.size) and bool(np.all((values == 0.0) | (values == 1.0)))


def uncalibrated(fitted: dict[str, Any], labels: Sequence[str]) -> tuple[str | None, str | None]:
    """``(skip, note)`` for a calibrated row's fitted columns: ``skip`` says why the row is left out when no
    label could be fitted; ``note`` names the labels left uncalibrated because contextual or batch calibration
    would divide by a mean score of 0 or 1 (one class in validation is only recorded in ``metrics.json``).

    >>> one = "not fitted: one class in validation"
    >>> uncalibrated({"col0": one, "col1": one}, ["unsafe", "S1"])
    ('every label has one class in validation', None)
    >>> uncalibrated({"col0": {"gamma_": 1.0}, "col1": f"not fitted: {BC_DEGENERATE}"}, ["unsafe", "S1"])
    (None, 'S1 left uncalibrated (mean score 0 or 1, which batch calibration divides by)')
    """
    reasons: dict[str, list[str]] = {}
    for j, label in enumerate(labels):
        value = fitted.get(f"col{j}")
        if isinstance(value, str):
            reasons.setdefault(value.removeprefix("not fitted: "), []).append(label)
    if not any(isinstance(v, dict) for v in fitted.values()):
        every = len(reasons) == 1
        why = "; ".join(
            f"{'every label has' if every else ', '.join(names) + (' has' if len(names) == 1 else ' have')} {r}"
            for r, names in reasons.items()
        )
        return why or "no label has scores to calibrate", None
    noted = [f"{', '.join(names)} left uncalibrated ({r})" for r, names in reasons.items() if r != ONE_CLASS]
    return None, "; ".join(noted) or None
