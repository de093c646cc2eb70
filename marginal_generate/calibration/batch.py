"""Batch calibration (Zhou et al., 2024): ``z' = z - gamma * logit(mean score of the batch)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .base import Calibrator, as_param, check_means_inside, columns, logit, param_vector, sigmoid
from .metrics import mean_binary_cross_entropy
from .validation import check_choice

__all__ = ["BatchCalibration"]


class BatchCalibration(Calibrator):
    """Batch calibration: ``log p'(y) = log p(y) - gamma * log p(y | C)``, then renormalize.

    ``p(y | C)`` is the mean score over a batch: the batch being transformed (``prior="batch"``,
    as the method defines it) or the estimate stored from the validation data at ``fit``
    (``prior="validation"``). ``gamma`` is chosen on the validation data from ``gammas`` (default
    ``-10, -9.9, ..., 10``) to maximize ``metric`` (``"accuracy"`` or ``"f1"``) of ``p' >= 0.5``;
    ties go to the lowest NLL, then to the smallest ``|gamma|``.

    Args:
        metric: ``"accuracy"`` (the calibration study) or ``"f1"``.
        prior: where ``p(y | C)`` comes from at ``transform`` time.
        gammas: the candidate values of ``gamma``.

    Attributes:
        gamma_: fitted ``gamma`` (a float, or one per label).
        prior_: mean validation score ``p(y=1)`` (a float, or one per label).

    >>> bc = BatchCalibration(prior="validation")
    >>> bc.gamma_, bc.prior_, bc.num_labels_ = 1.0, 0.8, None
    >>> bc.transform([0.8, 0.5]).round(4).tolist()
    [0.5, 0.2]
    """

    _params = ("gamma_", "prior_")
    _config = ("metric", "prior", "gammas")

    def __init__(
        self,
        metric: Literal["accuracy", "f1"] = "accuracy",
        prior: Literal["batch", "validation"] = "batch",
        gammas: Sequence[float] | None = None,
    ) -> None:
        self.metric = check_choice("metric", metric, ("accuracy", "f1"))
        self.prior = check_choice("prior", prior, ("batch", "validation"))
        if gammas is None:
            gammas = tuple(float(g) for g in np.round(np.linspace(-10.0, 10.0, 201), 10))
        grid = np.asarray(gammas, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
            raise ValueError(f"`gammas` must be a non-empty sequence of finite numbers; got {gammas!r}.")
        self.gammas = tuple(float(g) for g in grid)
        self.gamma_: float | list[float] | None = None
        self.prior_: float | list[float] | None = None
        self.num_labels_ = None

    @staticmethod
    def _score(metric: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Accuracy or F1 for each row of ``pred`` ([g, n]) against ``y`` ([n])."""
        if metric == "accuracy":
            return (pred == y).mean(axis=1)
        tp = (pred & (y == 1)).sum(axis=1)
        fp = (pred & (y == 0)).sum(axis=1)
        fn = (~pred & (y == 1)).sum(axis=1)
        denom = 2 * tp + fp + fn
        return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)

    def fit(self, scores: Any, references: Any) -> BatchCalibration:
        """Choose ``gamma`` (per label) on validation scores and 0/1 references; store their mean.

        A label whose scores average exactly 0 or 1 is refused (a ``ValueError`` naming it): the shift by
        ``logit(mean)`` would be infinite."""
        p, y = self._check_fit(scores, references)
        pc, yc = columns(p), columns(y)
        grid = np.asarray(self.gammas)
        prior = pc.mean(axis=0)
        check_means_inside("scores", prior, p.ndim == 1, "batch calibration")
        gammas = []
        for j in range(pc.shape[1]):
            z = logit(pc[:, j])[None, :] - grid[:, None] * logit(prior[j])  # [g, n]
            calibrated = sigmoid(z)
            score = self._score(self.metric, yc[:, j], calibrated >= 0.5)
            nll = mean_binary_cross_entropy(calibrated, yc[:, j], axis=1)
            order = np.lexsort((np.abs(grid), nll, -score))
            gammas.append(float(grid[order[0]]))
        self.num_labels_ = None if p.ndim == 1 else p.shape[1]
        self.gamma_ = as_param(np.array(gammas), p.ndim == 1)
        self.prior_ = as_param(prior, p.ndim == 1)
        return self

    def transform(self, scores: Any) -> Any:
        """``sigmoid(logit(scores) - gamma * logit(p(y=1 | C)))``, per label; with ``prior="batch"`` a label whose
        scores in this batch average exactly 0 or 1 is refused, as in :meth:`fit`."""
        p = self._check_transform(scores)
        gamma = param_vector(self.gamma_)
        if self.prior == "batch":
            prior = columns(p).mean(axis=0)
            check_means_inside("scores", prior, p.ndim == 1, "batch calibration (prior='batch')")
        else:
            prior = param_vector(self.prior_)
        shift = gamma * logit(prior)
        out = sigmoid(logit(p) - (shift[0] if p.ndim == 1 else shift))
        return self._wrap_like(out, scores)
