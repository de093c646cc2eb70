"""Platt scaling (Platt, 1999), per label, on references that may be soft (the fraction of raters)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Calibrator, as_param, columns, logit, param_vector, sigmoid
from .validation import check_probabilities, check_same_shape, check_soft_references

__all__ = ["PlattScaling"]


class PlattScaling(Calibrator):
    """Platt scaling per label: ``p' = sigmoid(a * z + b)``, fitted to soft or 0/1 references.

    The feature is ``z = logit(score)``, or ``z = logit(score) - logit(none_score)`` when
    ``none_scores`` are given (Ma et al. (2025) fit on the logit of the label minus the logit of "none"; for a
    guard model "none" is ``p(safe) = 1 - p(unsafe)``, one value per sample). ``a`` and ``b`` (one
    pair per label) minimize the binary cross-entropy against references in [0, 1], such as the
    fraction of annotators who chose the label: scikit-learn's ``LogisticRegression`` is fitted with
    every sample twice, as class 1 with weight ``r`` and as class 0 with weight ``1 - r``, which is
    exactly the soft-target cross-entropy. Its L2 penalty ``1 / C`` is negligible at the default
    ``C``; it only keeps ``a`` finite when 0/1 references are perfectly separable by ``z``.

    A label whose references are all 0 or all 1 has no finite fit (``a`` or ``b`` would run to
    infinity): it gets ``a = 1, b = 0``, i.e. ``p' = sigmoid(z)`` (the score itself without
    ``none_scores``), and a ``UserWarning`` names it. Soft references that are all equal (e.g. all
    0.3) are fitted as usual.

    Args:
        C: inverse strength of scikit-learn's L2 penalty on ``a`` (positive; ``b`` is not penalized).

    Attributes:
        slope_: fitted ``a`` (a float for binary scores, a list with one per label otherwise).
        intercept_: fitted ``b`` (likewise).
        uses_none_scores_: whether ``fit`` was given ``none_scores`` (then ``transform`` needs them too).

    >>> z = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    >>> platt = PlattScaling().fit(sigmoid(z), sigmoid(2.0 * z - 1.0))  # soft references from a = 2, b = -1
    >>> round(platt.slope_, 4), round(platt.intercept_, 4)
    (2.0, -1.0)
    >>> platt.transform([0.5]).round(4).tolist()  # sigmoid(2 * 0 - 1)
    [0.2689]
    >>> platt = PlattScaling().fit([[0.9], [0.2]], [[1.0], [0.5]], none_scores=[0.1, 0.8])
    >>> platt.transform([[0.5]], none_scores=[0.5]).shape
    (1, 1)
    """

    _params = ("slope_", "intercept_", "uses_none_scores_")
    _config = ("C",)

    def __init__(self, C: float = 1e6) -> None:
        if isinstance(C, bool) or not isinstance(C, (int, float, np.floating)) or not (np.isfinite(C) and C > 0):
            raise ValueError(
                f"`C` must be a positive finite number (the inverse L2 penalty; large is negligible); got {C!r}."
            )
        self.C = float(C)
        self.slope_: float | list[float] | None = None
        self.intercept_: float | list[float] | None = None
        self.uses_none_scores_: bool | None = None
        self.num_labels_ = None

    def _check_fit(self, scores: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
        p = check_probabilities("scores", scores)
        r = check_soft_references("references", references)
        check_same_shape("scores", p, "references", r)
        return p, r

    @staticmethod
    def _feature(p: np.ndarray, none_scores: Any) -> np.ndarray:
        """``logit(p)``, minus ``logit(none_scores)`` (one per row) when given."""
        if none_scores is None:
            return logit(p)
        q = check_probabilities("none_scores", none_scores, ndims=(1,))
        if q.shape[0] != p.shape[0]:
            raise ValueError(
                f"`none_scores` has {q.shape[0]} values but `scores` has {p.shape[0]} rows; pass one 'none' "
                "probability per sample (for a guard model p(safe) = 1 - p(unsafe))."
            )
        return logit(p) - (logit(q) if p.ndim == 1 else logit(q)[:, None])

    def _fit_label(self, z: np.ndarray, r: np.ndarray, label: int | None) -> tuple[float, float]:
        """``(a, b)`` minimizing the soft-target cross-entropy of ``sigmoid(a * z + b)`` against ``r``."""
        from sklearn.linear_model import LogisticRegression

        if np.all(r == 0.0) or np.all(r == 1.0):
            where = "" if label is None else f" for label {label}"
            warnings.warn(
                f"`references` are all {int(r[0])}{where}, so Platt scaling has no finite fit; using a = 1, "
                "b = 0 (p = sigmoid(z)). Add examples of the other class or drop the label.",
                UserWarning,
                stacklevel=3,
            )
            return 1.0, 0.0
        n = z.shape[0]
        model = LogisticRegression(C=self.C, tol=1e-10, max_iter=10_000)
        model.fit(
            np.concatenate([z, z])[:, None],
            np.concatenate([np.ones(n), np.zeros(n)]),
            sample_weight=np.concatenate([r, 1.0 - r]),
        )
        return float(model.coef_[0, 0]), float(model.intercept_[0])

    def fit(self, scores: Any, references: Any, none_scores: Any = None) -> PlattScaling:
        """Fit ``a``, ``b`` per label on validation scores and references in [0, 1] (soft or 0/1).

        ``none_scores``: optional ``[n]`` probability of "none" per sample (e.g. ``p(safe)``).
        """
        p, r = self._check_fit(scores, references)
        z, rr = columns(self._feature(p, none_scores)), columns(r)
        binary = p.ndim == 1
        slopes, intercepts = np.empty(z.shape[1]), np.empty(z.shape[1])
        for j in range(z.shape[1]):  # a loop, not a comprehension, so the warning's stacklevel is the caller
            slopes[j], intercepts[j] = self._fit_label(z[:, j], rr[:, j], None if binary else j)
        self.num_labels_ = None if binary else p.shape[1]
        self.slope_ = as_param(slopes, binary)
        self.intercept_ = as_param(intercepts, binary)
        self.uses_none_scores_ = none_scores is not None
        return self

    def transform(self, scores: Any, none_scores: Any = None) -> Any:
        """``sigmoid(a * z + b)``, per label; pass ``none_scores`` exactly when ``fit`` had them."""
        p = self._check_transform(scores)
        if self.uses_none_scores_ and none_scores is None:
            raise ValueError(
                "This PlattScaling was fitted on logit(score) - logit(none); pass `none_scores` (one 'none' "
                "probability per sample, e.g. p(safe)) to `transform` too."
            )
        if not self.uses_none_scores_ and none_scores is not None:
            raise ValueError(
                "This PlattScaling was fitted without `none_scores`; call `transform(scores)` without them, or "
                "refit with `fit(scores, references, none_scores=...)`."
            )
        z = self._feature(p, none_scores)
        a, b = param_vector(self.slope_), param_vector(self.intercept_)
        out = sigmoid(a[0] * z + b[0]) if p.ndim == 1 else sigmoid(a * z + b)
        return self._wrap_like(out, scores)

    def fit_transform(self, scores: Any, references: Any, none_scores: Any = None) -> Any:
        """``fit(scores, references, none_scores)`` then ``transform(scores, none_scores)``."""
        return self.fit(scores, references, none_scores).transform(scores, none_scores)
