r"""Calibrators for guard-model probabilities: temperature, contextual, batch calibration and Platt scaling.

Each works on binary safe/unsafe scores (``p(unsafe)``, shape ``[n]``) and on per-label category
scores (shape ``[n, k]``; each label is calibrated on its own as a binary problem). The API follows
scikit-learn: ``fit`` then ``transform`` (``fit_transform`` for both); parameters save to and load
from JSON (never pickle). ``transform`` returns a new float64 numpy array, or a torch tensor when it
is given one; the input is left untouched.

For a binary problem with ``p = p(y=1)`` all four are shifts or scalings of the logit
:math:`z = \log p - \log(1 - p)` (probabilities are clipped to ``[eps, 1 - eps]`` first, so 0 and 1
are valid input):

- temperature scaling (Guo et al., 2017): :math:`z' = z / T`, with ``T`` in ``[0.1, 20]`` minimizing
  the validation NLL;
- contextual calibration (Zhao et al., 2021): :math:`\hat p \propto \mathrm{diag}(\bar q)^{-1} p` with
  :math:`\bar q = p(y \mid \text{content-free})` averaged over the content-free inputs, i.e.
  :math:`z' = z - \mathrm{logit}(\bar q_1)`;
- batch calibration (Zhou et al., 2024): :math:`\log \hat p(y) = \log p(y) - \gamma \log p(y \mid C)`
  with :math:`p(y \mid C)` the mean score over a batch, i.e. :math:`z' = z - \gamma\,\mathrm{logit}(\bar p)`;
  ``gamma`` in ``[-10, 10]`` maximizes validation accuracy (or F1);
- Platt scaling (Platt, 1999; per label as in Ma et al., 2025): :math:`\hat p = \sigma(a z + b)`, with
  ``a``, ``b`` minimizing the binary cross-entropy against references that may be soft (the fraction
  of annotators who chose the label); seed 3 uses :math:`z = \mathrm{logit}(p) - \mathrm{logit}(p_\text{none})`.

>>> ts = TemperatureScaling().fit([0.99, 0.9, 0.2, 0.01, 0.95, 0.05], [1, 0, 0, 0, 1, 1])
>>> round(ts.temperature_, 2)
3.6
>>> ts.transform([0.5, 0.99]).round(3).tolist()
[0.5, 0.782]
>>> cc = ContextualCalibration().fit_content_free([0.8, 0.7, 0.9])
>>> cc.transform([0.8]).round(3).tolist()
[0.5]
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from ._validation import (
    check_binary_references,
    check_both_classes,
    check_choice,
    check_probabilities,
    check_same_shape,
    check_soft_references,
)
from .calibration_metrics import EPS, mean_binary_cross_entropy

__all__ = [
    "CONTENT_FREE_INPUTS",
    "Calibrator",
    "TemperatureScaling",
    "ContextualCalibration",
    "BatchCalibration",
    "PlattScaling",
    "load_calibrator",
    "logit",
    "sigmoid",
]

#: The content-free inputs of contextual calibration (Zhao et al., 2021): run each through the same
#: model and prompt as the real inputs and pass the resulting scores to
#: :meth:`ContextualCalibration.fit_content_free`.
CONTENT_FREE_INPUTS: tuple[str, ...] = ("N/A", "", " ")

FORMAT_VERSION = 1


def logit(p: np.ndarray) -> np.ndarray:
    """``log p - log(1 - p)`` after clipping ``p`` to ``[eps, 1 - eps]`` (finite for 0 and 1).

    >>> logit(np.array([0.5, 0.0])).round(2).tolist()
    [0.0, -36.04]
    """
    p = np.clip(p, EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))``, without overflow.

    >>> sigmoid(np.array([0.0, 800.0, -800.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _columns(array: np.ndarray) -> np.ndarray:
    return array[:, None] if array.ndim == 1 else array


class Calibrator:
    """Base class: input checks, ``fit_transform``, JSON save/load. Subclasses set ``_params``."""

    _params: ClassVar[tuple[str, ...]] = ()  # fitted attributes saved to JSON (per label when multi-label)
    _config: ClassVar[tuple[str, ...]] = ()  # constructor arguments saved to JSON

    num_labels_: int | None = None  # None: binary [n] scores; k: [n, k] scores

    # -- checks -----------------------------------------------------------------------------
    def _check_fit(self, scores: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
        p = check_probabilities("scores", scores)
        y = check_binary_references("references", references)
        check_same_shape("scores", p, "references", y)
        check_both_classes("references", y)
        return p, y

    def _check_fitted(self) -> None:
        if any(getattr(self, name, None) is None for name in self._params):
            raise ValueError(
                f"This {type(self).__name__} is not fitted yet; call `fit` (or `load`) before `transform`."
            )

    def _check_transform(self, scores: Any) -> np.ndarray:
        self._check_fitted()
        p = check_probabilities("scores", scores)
        fitted_binary = self.num_labels_ is None
        if fitted_binary and p.ndim != 1:
            raise ValueError(
                f"`scores` has shape {p.shape} but this {type(self).__name__} was fitted on binary scores of "
                "shape [n]; pass p(unsafe) as a vector, or fit on [n, num_labels] scores."
            )
        if not fitted_binary and (p.ndim != 2 or p.shape[1] != self.num_labels_):
            raise ValueError(
                f"`scores` has shape {p.shape} but this {type(self).__name__} was fitted on {self.num_labels_} "
                f"labels; pass scores of shape [n, {self.num_labels_}] in the fitted label order."
            )
        return p

    @staticmethod
    def _wrap_like(result: np.ndarray, scores: Any) -> Any:
        if hasattr(scores, "detach") and hasattr(scores, "new_tensor"):
            import torch

            dtype = scores.dtype if scores.is_floating_point() else torch.float64
            return torch.as_tensor(result, dtype=dtype, device=scores.device)
        return result

    # -- API --------------------------------------------------------------------------------
    def fit(self, scores: Any, references: Any) -> Calibrator:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, scores: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_transform(self, scores: Any, references: Any) -> Any:
        """``fit(scores, references)`` then ``transform(scores)``."""
        return self.fit(scores, references).transform(scores)

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: the class, its configuration and the fitted parameters."""
        self._check_fitted()
        out: dict[str, Any] = {"calibrator": type(self).__name__, "format_version": FORMAT_VERSION}
        out["config"] = {name: _plain(getattr(self, name)) for name in self._config}
        out["num_labels"] = self.num_labels_
        out["params"] = {name: _plain(getattr(self, name)) for name in self._params}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`; the class is the one named in ``data`` (a subclass of ``cls``)."""
        if not isinstance(data, dict) or "calibrator" not in data:
            raise ValueError("`data` must be a dict from `Calibrator.to_dict` with a 'calibrator' key.")
        name = data["calibrator"]
        klass = _REGISTRY.get(name)
        if klass is None or not issubclass(klass, cls):
            raise ValueError(
                f"`data` describes a {name!r} calibrator, which is not a {cls.__name__}; "
                f"known calibrators: {sorted(_REGISTRY)}."
            )
        obj = klass(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.get("config", {}).items()})
        obj.num_labels_ = data.get("num_labels")
        for key, value in data.get("params", {}).items():
            setattr(obj, key, [float(v) for v in value] if obj.num_labels_ is not None and isinstance(value, list) else value)
        obj._check_fitted()
        return obj

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Calibrator:
        """Read a calibrator written by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"`path` {os.fspath(path)!r} is not a calibrator JSON file ({err}).") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        config = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._config)
        return f"{type(self).__name__}({config})"


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def _as_param(values: np.ndarray, binary: bool) -> float | list[float]:
    return float(values[0]) if binary else [float(v) for v in values]


def _param_vector(value: float | Sequence[float]) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=np.float64))


# --------------------------------------------------------------------------------- temperature


class TemperatureScaling(Calibrator):
    """Temperature scaling: ``p' = sigmoid(logit(p) / T)``, ``T`` minimizing the validation NLL.

    For a two-class softmax over (safe, unsafe) logits this is exactly dividing both logits by ``T``.
    ``T > 1`` softens over-confident scores; the 0.5 decision never changes.

    Args:
        bounds: the search interval for ``T`` (bounded scalar minimization); seed 2 uses ``[0.1, 20]``.

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
        z, yy = _columns(logit(p)), _columns(y)
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
        self.temperature_ = _as_param(np.array(temps), p.ndim == 1)
        return self

    def transform(self, scores: Any) -> Any:
        """``sigmoid(logit(scores) / T)``, per label."""
        p = self._check_transform(scores)
        t = _param_vector(self.temperature_)
        out = sigmoid(logit(p) / (t[0] if p.ndim == 1 else t))
        return self._wrap_like(out, scores)


# --------------------------------------------------------------------------------- contextual


class ContextualCalibration(Calibrator):
    """Contextual calibration: divide by the model's bias on content-free inputs, then renormalize.

    ``W = diag(p(y | content-free))^-1`` with ``p(y | content-free)`` averaged over the content-free
    inputs (:data:`CONTENT_FREE_INPUTS` by default) run through the same model and prompt. For
    binary scores with mean content-free ``q = p(unsafe | content-free)``:
    ``p' = (p / q) / (p / q + (1 - p) / (1 - q))``.

    It is fitted from the content-free scores alone, which have no references: use
    :meth:`fit_content_free` (``fit(content_free_scores)`` is the same, scikit-learn style).

    Args:
        content_free_inputs: the texts the caller ran through the model (kept for the record and
            saved to JSON; the calibrator itself only sees their scores).

    Attributes:
        bias_: mean ``p(y=1 | content-free)`` (a float, or one per label).

    >>> cc = ContextualCalibration().fit_content_free([[0.9, 0.1], [0.7, 0.3]])
    >>> cc.bias_
    [0.8, 0.2]
    >>> cc.transform([[0.8, 0.2], [0.9, 0.5]]).round(4).tolist()
    [[0.5, 0.5], [0.6923, 0.8]]
    """

    _params = ("bias_",)
    _config = ("content_free_inputs",)

    def __init__(self, content_free_inputs: Sequence[str] = CONTENT_FREE_INPUTS) -> None:
        if isinstance(content_free_inputs, str) or not all(isinstance(s, str) for s in content_free_inputs):
            raise ValueError(
                f"`content_free_inputs` must be a sequence of strings such as {CONTENT_FREE_INPUTS!r}; "
                f"got {content_free_inputs!r}."
            )
        if len(content_free_inputs) == 0:
            raise ValueError(f"`content_free_inputs` is empty; pass at least one, e.g. {CONTENT_FREE_INPUTS!r}.")
        self.content_free_inputs = tuple(content_free_inputs)
        self.bias_: float | list[float] | None = None
        self.num_labels_ = None

    def fit_content_free(self, content_free_scores: Any) -> ContextualCalibration:
        """Fit from the model's ``p(y=1)`` on each content-free input: ``[m]`` binary or ``[m, k]``.

        A content-free score of exactly 0 or 1 is clipped to ``[eps, 1 - eps]``.
        """
        q = check_probabilities("content_free_scores", content_free_scores)
        self.num_labels_ = None if q.ndim == 1 else q.shape[1]
        self.bias_ = _as_param(_columns(q).mean(axis=0), q.ndim == 1)
        return self

    def fit(self, scores: Any, references: Any = None) -> ContextualCalibration:
        """Same as :meth:`fit_content_free`: ``scores`` are the content-free scores; ``references`` must be None."""
        if references is not None:
            raise ValueError(
                "`references` must be None: ContextualCalibration is fitted from the model's scores on "
                f"content-free inputs ({', '.join(repr(s) for s in self.content_free_inputs)}), which have no "
                "references. Call `fit_content_free(content_free_scores)`."
            )
        return self.fit_content_free(scores)

    def fit_transform(self, scores: Any, references: Any = None) -> Any:  # noqa: D102
        raise ValueError(
            "ContextualCalibration is fitted on content-free scores, not on the scores it transforms; call "
            "`fit_content_free(content_free_scores)` and then `transform(scores)`."
        )

    def transform(self, scores: Any) -> Any:
        """``sigmoid(logit(scores) - logit(bias_))``, per label."""
        p = self._check_transform(scores)
        q = _param_vector(self.bias_)
        out = sigmoid(logit(p) - logit(q[0] if p.ndim == 1 else q))
        return self._wrap_like(out, scores)


# --------------------------------------------------------------------------------- batch


class BatchCalibration(Calibrator):
    """Batch calibration: ``log p'(y) = log p(y) - gamma * log p(y | C)``, then renormalize.

    ``p(y | C)`` is the mean score over a batch: the batch being transformed (``prior="batch"``,
    as the method defines it) or the estimate stored from the validation data at ``fit``
    (``prior="validation"``). ``gamma`` is chosen on the validation data from ``gammas`` (default
    ``-10, -9.9, ..., 10``) to maximize ``metric`` (``"accuracy"`` or ``"f1"``) of ``p' >= 0.5``;
    ties go to the lowest NLL, then to the smallest ``|gamma|``.

    Args:
        metric: ``"accuracy"`` (seed 2) or ``"f1"``.
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
        """Choose ``gamma`` (per label) on validation scores and 0/1 references; store their mean."""
        p, y = self._check_fit(scores, references)
        pc, yc = _columns(p), _columns(y)
        grid = np.asarray(self.gammas)
        prior = pc.mean(axis=0)
        gammas = []
        for j in range(pc.shape[1]):
            z = logit(pc[:, j])[None, :] - grid[:, None] * logit(prior[j])  # [g, n]
            calibrated = sigmoid(z)
            score = self._score(self.metric, yc[:, j], calibrated >= 0.5)
            nll = mean_binary_cross_entropy(calibrated, yc[:, j], axis=1)
            order = np.lexsort((np.abs(grid), nll, -score))
            gammas.append(float(grid[order[0]]))
        self.num_labels_ = None if p.ndim == 1 else p.shape[1]
        self.gamma_ = _as_param(np.array(gammas), p.ndim == 1)
        self.prior_ = _as_param(prior, p.ndim == 1)
        return self

    def transform(self, scores: Any) -> Any:
        """``sigmoid(logit(scores) - gamma * logit(p(y=1 | C)))``, per label."""
        p = self._check_transform(scores)
        gamma = _param_vector(self.gamma_)
        prior = _columns(p).mean(axis=0) if self.prior == "batch" else _param_vector(self.prior_)
        shift = gamma * logit(prior)
        out = sigmoid(logit(p) - (shift[0] if p.ndim == 1 else shift))
        return self._wrap_like(out, scores)


# --------------------------------------------------------------------------------- Platt


class PlattScaling(Calibrator):
    """Platt scaling per label: ``p' = sigmoid(a * z + b)``, fitted to soft or 0/1 references.

    The feature is ``z = logit(score)``, or ``z = logit(score) - logit(none_score)`` when
    ``none_scores`` are given (seed 3 fits on the logit of the label minus the logit of "none"; for a
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
        z, rr = _columns(self._feature(p, none_scores)), _columns(r)
        binary = p.ndim == 1
        slopes, intercepts = np.empty(z.shape[1]), np.empty(z.shape[1])
        for j in range(z.shape[1]):  # a loop, not a comprehension, so the warning's stacklevel is the caller
            slopes[j], intercepts[j] = self._fit_label(z[:, j], rr[:, j], None if binary else j)
        self.num_labels_ = None if binary else p.shape[1]
        self.slope_ = _as_param(slopes, binary)
        self.intercept_ = _as_param(intercepts, binary)
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
        a, b = _param_vector(self.slope_), _param_vector(self.intercept_)
        out = sigmoid(a[0] * z + b[0]) if p.ndim == 1 else sigmoid(a * z + b)
        return self._wrap_like(out, scores)

    def fit_transform(self, scores: Any, references: Any, none_scores: Any = None) -> Any:
        """``fit(scores, references, none_scores)`` then ``transform(scores, none_scores)``."""
        return self.fit(scores, references, none_scores).transform(scores, none_scores)


_REGISTRY: dict[str, type[Calibrator]] = {
    cls.__name__: cls for cls in (TemperatureScaling, ContextualCalibration, BatchCalibration, PlattScaling)
}


def load_calibrator(path: str | os.PathLike[str]) -> Calibrator:
    """Load any calibrator saved with :meth:`Calibrator.save` (the class is read from the file).

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ts.json")
    >>> TemperatureScaling().fit([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]).save(path)
    >>> type(load_calibrator(path)).__name__
    'TemperatureScaling'
    """
    return Calibrator.load(path)
