"""marginal-generate: per-label probabilities from a guard model's own decoding.

>>> import marginal_generate as mg
>>> mg.STRATEGIES[:3]
('greedy', 'first_token', 'token_probability')
"""

from .alignment import distribution_alignment
from .calibration import (
    CONTENT_FREE_INPUTS,
    BatchCalibration,
    Calibrator,
    ContextualCalibration,
    PlattScaling,
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
from .data import (
    GO_EMOTIONS_LABELS,
    ColumnMap,
    Record,
    SoftLabels,
    load_beavertails,
    load_dataset_source,
    load_go_emotions,
    load_rater_annotations,
    load_records_jsonl,
    load_seed_jsonl,
    save_records_jsonl,
)
from .default_model import DEFAULT_EVAL_DATA, DEFAULT_MODEL, load_default, load_default_eval_data
from .evaluation import EvalConfig, run_evaluation
from .generate import STRATEGIES, MarginalGenerationMixin, Strategy, enable, marginalize, score
from .labels import LLAMA_GUARD_2_CATEGORIES, LLAMA_GUARD_3_CATEGORIES, LabelSpace
from .metric_modules import load_metric, metric_path
from .params import load_params
from .parsing import LlamaGuardParser, PrefixState
from .prompted import PROMPTED_STRATEGIES, score_label_prompts
from .prompts import conversation, encode_conversations, render
from .scores import LabelScores
from .processor import LabelScoresProcessor

__all__ = [
    "EvalConfig",
    "run_evaluation",
    "load_params",
    "ColumnMap",
    "Record",
    "SoftLabels",
    "GO_EMOTIONS_LABELS",
    "load_rater_annotations",
    "load_go_emotions",
    "load_beavertails",
    "load_dataset_source",
    "load_records_jsonl",
    "load_seed_jsonl",
    "save_records_jsonl",
    "DEFAULT_EVAL_DATA",
    "DEFAULT_MODEL",
    "load_default",
    "load_default_eval_data",
    "conversation",
    "encode_conversations",
    "render",
    "CONTENT_FREE_INPUTS",
    "BatchCalibration",
    "Calibrator",
    "ContextualCalibration",
    "TemperatureScaling",
    "PlattScaling",
    "load_calibrator",
    "distribution_alignment",
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
    "PROMPTED_STRATEGIES",
    "score_label_prompts",
    "score",
    "enable",
    "MarginalGenerationMixin",
    "LabelScoresProcessor",
    "metric_path",
    "load_metric",
]
