"""Temperature scaling (Guo et al., 2017): ``z' = z / T`` on the logit, with ``T`` minimizing the validation NLL."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Calibrator, as_param, columns, logit, param_vector, sigmoid
from .metrics import mean_binary_cross_entropy

__all__ = ["TemperatureScaling"]


class TemperatureScaling(Calibrator):
    """Temperature scaling: ``p' = sigmoid(logit(p) / T)``, ``T`` minimizing the validation NLL.

    For a two-class softmax over (safe, unsafe) logits this is exactly dividing both logits by ``T``.
    ``T > 1`` softens over-confident scores; the 0.5 decision never changes.

    Args:
        bounds: the search interval for ``T`` (bounded scalar minimization); the calibration study uses ``[0.1, 20]``.

    Attributes:
        temperature_: fitted ``T`` (a float for binary scores, a list with one per label otherwise).

    >>> ts = TemperatureScaling(bounds=(0.1, 20.0))
    >>> ts.temperature_ = 2.0; ts.num_labels_ = None
    >>> ts.transform([0.9]).round(4).tolist()
    [0.75]
    """

    _params = ("temperature_",)
    _config = ("bounds",)

    def __init__(self, bounds: tuple[float, float] = (0.1, 20.0)) -> None:
        lo, hi = (float(b) for b in bounds) if len(bounds) == 2 else (np.nan, np.nan)
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
            raise ValueError(f"`bounds` must be (low, high) with 0 < low < high; got {tuple(bounds)!r}.")
        self.bounds = (lo, hi)
        self.temperature_: float | list[float] | None = None
        self.num_labels_ = None

    def fit(self, scores: Any, references: Any) -> TemperatureScaling:
        """Fit ``T`` (one per label for ``[n, k]`` scores) on validation scores and 0/1 references."""
        from scipy.optimize import minimize_scalar

        p, y = self._check_fit(scores, references)
        z, yy = columns(logit(p)), columns(y)
        temps = []
        for j in range(z.shape[1]):
            res = minimize_scalar(
                lambda t, j=j: mean_binary_cross_entropy(sigmoid(z[:, j] / t), yy[:, j]),
                bounds=self.bounds,
                method="bounded",
                options={"xatol": 1e-6},
            )
            temps.append(float(res.x))
        self.num_labels_ = None if p.ndim == 1 else p.shape[1]
        self.temperature_ = as_param(np.array(temps), p.ndim == 1)
        return self

    def transform(self, scores: Any) -> Any:
        """``sigmoid(logit(scores) / T)``, per label."""
        p = self._check_transform(scores)
        t = param_vector(self.temperature_)
        out = sigmoid(logit(p) / (t[0] if p.ndim == 1 else t))
        return self._wrap_like(out, scores)
