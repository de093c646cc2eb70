"""marginal-generate: per-label probabilities from a guard model's own decoding.

>>> import marginal_generate as mg
>>> mg.STRATEGIES[:3]
('greedy', 'first_token', 'token_probability')
"""

from .calibration import (
    CONTENT_FREE_INPUTS,
    BatchCalibration,
    Calibrator,
    ContextualCalibration,
    TemperatureScaling,
    load_calibrator,
)
from .calibration_metrics import (
    binary_calibration_metrics,
    binary_classification_metrics,
    multilabel_calibration_metrics,
    multilabel_classification_metrics,
    reliability_table,
)
from .calibration_report import calibration_table
from .generate import STRATEGIES, MarginalGenerationMixin, Strategy, enable, marginalize, score
from .labels import LLAMA_GUARD_2_CATEGORIES, LLAMA_GUARD_3_CATEGORIES, LabelSpace
from .parsing import LlamaGuardParser, PrefixState
from .scores import LabelScores

__all__ = [
    "CONTENT_FREE_INPUTS",
    "BatchCalibration",
    "Calibrator",
    "ContextualCalibration",
    "TemperatureScaling",
    "load_calibrator",
    "binary_calibration_metrics",
    "binary_classification_metrics",
    "multilabel_calibration_metrics",
    "multilabel_classification_metrics",
    "reliability_table",
    "calibration_table",
    "STRATEGIES",
    "Strategy",
    "LabelSpace",
    "LabelScores",
    "LlamaGuardParser",
    "PrefixState",
    "LLAMA_GUARD_3_CATEGORIES",
    "LLAMA_GUARD_2_CATEGORIES",
    "marginalize",
    "score",
    "enable",
    "MarginalGenerationMixin",
]
