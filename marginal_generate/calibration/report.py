"""The Llama Guard calibration study's table (Magazzù): calibration and classification metrics of raw and calibrated
binary scores.

Rows: ``raw``, ``+CC`` (contextual calibration), ``+BC`` (batch calibration), ``+TS`` (temperature
scaling); columns: ECE, MCE, NLL, F1, Precision, Recall, Accuracy, AUPRC. The calibrators are fitted
on the validation scores (contextual calibration on the content-free scores) and the metrics are
measured on the test scores.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, 400)
>>> p = 1 / (1 + np.exp(-(3 * (2 * y - 1) + rng.normal(0, 3, 400) + 2)))  # over-confident, biased to unsafe
>>> table = calibration_table(p[:200], y[:200], p[200:], y[200:], content_free_scores=[0.85, 0.9, 0.8])
>>> list(table.index), list(table.columns)
(['raw', '+CC', '+BC', '+TS'], ['ECE', 'MCE', 'NLL', 'F1', 'Precision', 'Recall', 'Accuracy', 'AUPRC'])
>>> (bool(table.loc["+TS", "NLL"] < table.loc["raw", "NLL"]),
...     bool(table.loc["+BC", "Accuracy"] > table.loc["raw", "Accuracy"]))
(True, True)
"""

from __future__ import annotations

from typing import Any, Literal

from .batch import BatchCalibration
from .contextual import ContextualCalibration
from .metrics import Binning, binary_calibration_metrics, binary_classification_metrics
from .temperature import TemperatureScaling
from .validation import check_binary_references, check_probabilities, check_same_shape

__all__ = ["COLUMNS", "calibration_table"]

COLUMNS: tuple[str, ...] = ("ECE", "MCE", "NLL", "F1", "Precision", "Recall", "Accuracy", "AUPRC")


def _row(
    scores: Any, references: Any, n_bins: int, binning: Binning, threshold: float, scale: float
) -> dict[str, float | None]:
    cal = binary_calibration_metrics(scores, references, n_bins=n_bins, binning=binning)
    cls = binary_classification_metrics(scores, references, threshold=threshold)
    auprc = cls["auprc"]
    return {
        "ECE": cal["ece"],
        "MCE": cal["mce"],
        "NLL": cal["nll"],
        "F1": cls["f1"] * scale,
        "Precision": cls["precision"] * scale,
        "Recall": cls["recall"] * scale,
        "Accuracy": cls["accuracy"] * scale,
        "AUPRC": None if auprc is None else auprc * scale,
    }


def calibration_table(
    validation_scores: Any,
    validation_references: Any,
    test_scores: Any,
    test_references: Any,
    content_free_scores: Any = None,
    n_bins: int = 15,
    binning: Binning = "uniform",
    threshold: float = 0.5,
    batch_metric: Literal["accuracy", "f1"] = "accuracy",
    batch_prior: Literal["batch", "validation"] = "batch",
    percent: bool = False,
    as_frame: bool = True,
) -> Any:
    """The Llama Guard calibration study's table (Magazzù) for binary ``p(unsafe)`` scores.

    Args:
        validation_scores, validation_references: ``[n]`` scores and 0/1 references on which
            temperature scaling and batch calibration are fitted (both classes needed).
        test_scores, test_references: ``[m]`` scores and references that are measured.
        content_free_scores: the model's ``p(unsafe)`` on the content-free inputs
            (:data:`~marginal_generate.calibration.CONTENT_FREE_INPUTS`); without them the ``+CC`` row is left out.
        n_bins, binning: the binning of ECE and MCE.
        threshold: the decision threshold of F1, precision, recall and accuracy (``p >= threshold``).
        batch_metric, batch_prior: :class:`~marginal_generate.calibration.BatchCalibration`'s ``metric``
            and ``prior``.
        percent: F1, precision, recall, accuracy and AUPRC in percent (as the calibration study prints them).
        as_frame: a pandas DataFrame indexed by row name; otherwise a list of dicts with a ``"row"`` key.

    The fitted parameters are in ``table.attrs["params"]`` (DataFrame) or in each dict's ``"params"``:
    ``temperature`` (+TS), ``gamma`` and ``prior`` (+BC), ``bias`` (+CC).
    """
    val_p = check_probabilities("validation_scores", validation_scores, ndims=(1,))
    val_y = check_binary_references("validation_references", validation_references, ndims=(1,))
    check_same_shape("validation_scores", val_p, "validation_references", val_y)
    test_p = check_probabilities("test_scores", test_scores, ndims=(1,))
    test_y = check_binary_references("test_references", test_references, ndims=(1,))
    check_same_shape("test_scores", test_p, "test_references", test_y)
    scale = 100.0 if percent else 1.0

    rows: list[tuple[str, Any, dict[str, Any]]] = [("raw", test_p, {})]
    if content_free_scores is not None:
        cc = ContextualCalibration().fit_content_free(
            check_probabilities("content_free_scores", content_free_scores, ndims=(1,))
        )
        rows.append(("+CC", cc.transform(test_p), {"bias": cc.bias_}))
    bc = BatchCalibration(metric=batch_metric, prior=batch_prior).fit(val_p, val_y)
    rows.append(("+BC", bc.transform(test_p), {"gamma": bc.gamma_, "prior": bc.prior_}))
    ts = TemperatureScaling().fit(val_p, val_y)
    rows.append(("+TS", ts.transform(test_p), {"temperature": ts.temperature_}))

    records = [
        {"row": name, **_row(p, test_y, n_bins, binning, threshold, scale), "params": params}
        for name, p, params in rows
    ]
    if not as_frame:
        return records
    import pandas as pd

    frame = pd.DataFrame([{k: r[k] for k in COLUMNS} for r in records], index=[r["row"] for r in records])
    frame.attrs["params"] = {r["row"]: r["params"] for r in records if r["params"]}
    return frame
