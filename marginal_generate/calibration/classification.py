"""Binary and multi-label classification metrics (F1, precision, recall, accuracy, Hamming loss, ROC-AUC, AUPRC) of
thresholded probabilities or 0/1 predictions, via scikit-learn.

>>> out = binary_classification_metrics([0.9, 0.2], [1, 0])
>>> out["f1"], out["roc_auc"]
(1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .validation import check_binary_references, check_choice, check_pair, check_probabilities, check_same_shape

__all__ = [
    "PredictionType",
    "PREDICTION_TYPES",
    "apply_threshold",
    "binary_classification_metrics",
    "multilabel_classification_metrics",
]

PredictionType = Literal["probabilities", "labels"]
PREDICTION_TYPES: tuple[str, ...] = ("probabilities", "labels")


def apply_threshold(predictions: np.ndarray, threshold: float | Sequence[float] = 0.5) -> np.ndarray:
    """0/1 predictions: ``p >= threshold``; ``threshold`` one value or one per label (column).

    >>> apply_threshold(np.array([[0.5, 0.5], [0.2, 0.9]]), [0.5, 0.95]).tolist()
    [[1, 0], [0, 0]]
    """
    t = check_probabilities("threshold", np.atleast_1d(np.asarray(threshold, dtype=np.float64)), ndims=(1,))
    if t.size != 1:
        labels = predictions.shape[1] if predictions.ndim == 2 else 1
        if t.size != labels:
            raise ValueError(
                f"`threshold` has {t.size} values but `predictions` has {labels} label(s); "
                "pass one threshold, or one per label."
            )
    else:
        t = t[0]
    return (predictions >= t).astype(np.int64)


def _labels_from(
    predictions: Any, references: Any, threshold: Any, prediction_type: str, ndims: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    if prediction_type == "labels":
        y_pred = check_binary_references("predictions", predictions, ndims)
        y_true = check_binary_references("references", references, ndims)
        check_same_shape("predictions", y_pred, "references", y_true)
        return y_pred, y_true, None
    p, y_true = check_pair(predictions, references, ndims)
    return apply_threshold(p, threshold), y_true, p


def _ranking(score: Any, y: np.ndarray, p: np.ndarray) -> float | None:
    """A scikit-learn ranking score, or None where it is undefined (one class only in ``y``)."""
    if np.unique(y).size < 2:
        return None
    return float(score(y, p))


def binary_classification_metrics(
    predictions: Any,
    references: Any,
    threshold: float = 0.5,
    prediction_type: PredictionType = "probabilities",
) -> dict[str, float | None]:
    """F1, precision, recall, accuracy (of ``p >= threshold``), ROC-AUC and AUPRC via scikit-learn.

    Precision/recall/F1 are 0 where undefined (no predicted or no actual positives); ROC-AUC and
    AUPRC are None when ``references`` has one class only or when ``prediction_type="labels"``.

    >>> out = binary_classification_metrics([0.9, 0.6, 0.4, 0.1], [1, 0, 1, 0])
    >>> out["accuracy"], out["precision"], out["recall"], out["f1"], out["auprc"]
    (0.5, 0.5, 0.5, 0.5, 0.8333333333333333)
    """
    from sklearn import metrics as skm

    y_pred, y_true, p = _labels_from(predictions, references, threshold, prediction_type, ndims=(1,))
    return {
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "roc_auc": None if p is None else _ranking(skm.roc_auc_score, y_true, p),
        "auprc": None if p is None else _ranking(skm.average_precision_score, y_true, p),
    }


def _macro(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def multilabel_classification_metrics(
    predictions: Any,
    references: Any,
    threshold: float | Sequence[float] = 0.5,
    prediction_type: PredictionType = "probabilities",
) -> dict[str, Any]:
    """Multi-label F1/precision/recall (micro, macro, per label), subset accuracy, Hamming loss,
    ROC-AUC and AUPRC (micro, macro, per label), all via scikit-learn.

    ``predictions``: ``[n, k]`` probabilities (thresholded with ``p >= threshold``; one threshold,
    or one per label) or, with ``prediction_type="labels"``, 0/1 predictions. ``references``:
    ``[n, k]`` 0/1. Undefined precision/recall/F1 are 0 (``zero_division=0``). ROC-AUC and AUPRC of
    a label whose references hold one class only are None and left out of the macro mean (which
    then is scikit-learn's macro over the remaining labels); with 0/1 predictions they are None.

    >>> out = multilabel_classification_metrics([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]], [[1, 0], [0, 1], [0, 1]])
    >>> out["f1_per_label"], out["subset_accuracy"], round(out["hamming_loss"], 4)
    ([0.6666666666666666, 1.0], 0.6666666666666666, 0.1667)
    >>> out["roc_auc_per_label"], out["roc_auc_macro"]
    ([1.0, 1.0], 1.0)
    """
    from sklearn import metrics as skm

    y_pred, y_true, p = _labels_from(predictions, references, threshold, prediction_type, ndims=(2,))
    out: dict[str, Any] = {}
    for name, fn in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        out[f"{name}_micro"] = float(fn(y_true, y_pred, average="micro", zero_division=0))
        out[f"{name}_macro"] = float(fn(y_true, y_pred, average="macro", zero_division=0))
        out[f"{name}_per_label"] = [float(v) for v in fn(y_true, y_pred, average=None, zero_division=0)]
    out["subset_accuracy"] = float(skm.accuracy_score(y_true, y_pred))
    out["hamming_loss"] = float(skm.hamming_loss(y_true, y_pred))
    for name, fn in (("roc_auc", skm.roc_auc_score), ("auprc", skm.average_precision_score)):
        if p is None:
            out[f"{name}_micro"], out[f"{name}_macro"], out[f"{name}_per_label"] = None, None, None
            continue
        per_label = [_ranking(fn, y_true[:, j], p[:, j]) for j in range(p.shape[1])]
        micro_defined = np.unique(y_true).size == 2
        out[f"{name}_micro"] = float(fn(y_true, p, average="micro")) if micro_defined else None
        if all(v is not None for v in per_label):
            out[f"{name}_macro"] = float(fn(y_true, p, average="macro"))
        else:
            out[f"{name}_macro"] = _macro(per_label)
        out[f"{name}_per_label"] = per_label
    return out
