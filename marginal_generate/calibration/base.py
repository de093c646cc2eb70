"""The calibrator base class: input checks, ``fit_transform``, JSON save/load, and the logit helpers.

Every calibrator subclasses :class:`Calibrator`; a subclass registers itself by name, so
:func:`load_calibrator` reads any saved calibrator back as its own class.

>>> from marginal_generate.calibration import TemperatureScaling
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ts.json")
>>> TemperatureScaling().fit([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]).save(path)
>>> type(load_calibrator(path)).__name__
'TemperatureScaling'
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from .metrics import EPS
from .validation import (
    check_binary_references,
    check_both_classes,
    check_probabilities,
    check_same_shape,
)

__all__ = [
    "Calibrator",
    "load_calibrator",
    "logit",
    "sigmoid",
    "columns",
    "as_param",
    "param_vector",
    "plain",
    "degenerate_means",
    "check_means_inside",
]

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


def degenerate_means(means: Any) -> np.ndarray:
    """Which mean scores are 0 or 1 (within eps): a calibrator that shifts the logit by ``logit(mean)`` (contextual,
    batch) would shift by an infinite amount there, which sends every score to 0.5 or to 0 or 1.

    >>> degenerate_means(np.array([0.0, 0.3, 1.0])).tolist()
    [True, False, True]
    """
    means = np.asarray(means, dtype=np.float64)
    return (means <= EPS) | (means >= 1.0 - EPS)


def check_means_inside(name: str, means: Any, binary: bool, method: str) -> None:
    """A ``ValueError`` naming ``name`` when a mean score is 0 or 1 (:func:`degenerate_means`); ``method`` is the
    calibration that would divide by it.

    >>> check_means_inside("content_free_scores", [0.2, 0.0], False, "contextual calibration")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `content_free_scores` average 0 on label 1; contextual calibration divides by that mean, so it is...
    """
    means = np.atleast_1d(np.asarray(means, dtype=np.float64))
    bad = np.flatnonzero(degenerate_means(means))
    if bad.size:
        j = int(bad[0])
        more = f" (and on {bad.size - 1} more label(s))" if bad.size > 1 else ""
        where = "" if binary else f" on label {j}{more}"
        raise ValueError(
            f"`{name}` average {means[j]:g}{where}; {method} divides by that mean, so it is undefined there (every "
            "score would move to 0.5, 0 or 1). Leave such labels uncalibrated, or use TemperatureScaling or "
            "PlattScaling."
        )


def columns(array: np.ndarray) -> np.ndarray:
    """A ``[n]`` vector as a ``[n, 1]`` matrix; a matrix unchanged."""
    return array[:, None] if array.ndim == 1 else array


class Calibrator:
    """Base class: input checks, ``fit_transform``, JSON save/load. Subclasses set ``_params``."""

    _params: ClassVar[tuple[str, ...]] = ()  # fitted attributes saved to JSON (per label when multi-label)
    _config: ClassVar[tuple[str, ...]] = ()  # constructor arguments saved to JSON

    num_labels_: int | None = None  # None: binary [n] scores; k: [n, k] scores
    _registry: ClassVar[dict[str, type[Calibrator]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Calibrator._registry[cls.__name__] = cls

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
        out["config"] = {name: plain(getattr(self, name)) for name in self._config}
        out["num_labels"] = self.num_labels_
        out["params"] = {name: plain(getattr(self, name)) for name in self._params}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`; the class is the one named in ``data`` (a subclass of ``cls``)."""
        if not isinstance(data, dict) or "calibrator" not in data:
            raise ValueError("`data` must be a dict from `Calibrator.to_dict` with a 'calibrator' key.")
        name = data["calibrator"]
        klass = Calibrator._registry.get(name)
        if klass is None or not issubclass(klass, cls):
            raise ValueError(
                f"`data` describes a {name!r} calibrator, which is not a {cls.__name__}; "
                f"known calibrators: {sorted(Calibrator._registry)}."
            )
        obj = klass(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.get("config", {}).items()})
        obj.num_labels_ = data.get("num_labels")
        for key, value in data.get("params", {}).items():
            setattr(
                obj,
                key,
                [float(v) for v in value] if obj.num_labels_ is not None and isinstance(value, list) else value,
            )
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


def plain(value: Any) -> Any:
    """A JSON-ready copy of a fitted value (arrays and tuples to lists, numpy scalars to floats)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def as_param(values: np.ndarray, binary: bool) -> float | list[float]:
    """A fitted parameter as saved: one float for binary scores, one per label otherwise."""
    return float(values[0]) if binary else [float(v) for v in values]


def param_vector(value: float | Sequence[float]) -> np.ndarray:
    """A saved parameter as a vector with one entry per label (one entry for binary scores)."""
    return np.atleast_1d(np.asarray(value, dtype=np.float64))


def load_calibrator(path: str | os.PathLike[str]) -> Calibrator:
    """Load any calibrator saved with :meth:`Calibrator.save` (the class is read from the file).

    (Example in the module docstring.)
    """
    return Calibrator.load(path)
