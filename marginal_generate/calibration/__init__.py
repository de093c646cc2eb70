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
  of annotators who chose the label); Ma et al. (2025) use :math:`z = \mathrm{logit}(p) -
  \mathrm{logit}(p_\text{none})`.

Contextual and batch calibration divide by a mean score (content-free, or of the batch): a label where it is
exactly 0 or 1 is refused with a ``ValueError`` naming it (the shift would be infinite and send every score to
0.5, 0 or 1), which is what 0/1 decisions such as greedy's give.

>>> ts = TemperatureScaling().fit([0.99, 0.9, 0.2, 0.01, 0.95, 0.05], [1, 0, 0, 0, 1, 1])
>>> round(ts.temperature_, 2)
3.6
>>> ts.transform([0.5, 0.99]).round(3).tolist()
[0.5, 0.782]
>>> cc = ContextualCalibration().fit_content_free([0.8, 0.7, 0.9])
>>> cc.transform([0.8]).round(3).tolist()
[0.5]
"""

from .alignment import distribution_alignment
from .base import Calibrator, load_calibrator, logit, sigmoid
from .batch import BatchCalibration
from .contextual import CONTENT_FREE_INPUTS, ContextualCalibration
from .metrics import (
    binary_calibration_metrics,
    binary_classification_metrics,
    multilabel_calibration_metrics,
    multilabel_classification_metrics,
    reliability_table,
)
from .platt import PlattScaling
from .report import calibration_table
from .temperature import TemperatureScaling

__all__ = [
    "Calibrator",
    "TemperatureScaling",
    "ContextualCalibration",
    "BatchCalibration",
    "PlattScaling",
    "CONTENT_FREE_INPUTS",
    "load_calibrator",
    "logit",
    "sigmoid",
    "binary_calibration_metrics",
    "binary_classification_metrics",
    "multilabel_calibration_metrics",
    "multilabel_classification_metrics",
    "reliability_table",
    "distribution_alignment",
    "calibration_table",
]
