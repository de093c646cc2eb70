"""marginal-generate: per-label probabilities from a guard model's own decoding.

The package by concern, data flowing one way (inputs -> decoding -> scores -> calibration -> metrics -> report):
``prompts/`` (conversations to model inputs), ``labels/`` (label sets, output grammars, taxonomies),
``decoding/`` (steppers, the greedy-path recorder, the tree search), ``generate.py`` (the
``custom_generate`` callable and the flag form), ``strategies.py`` (the registry), ``scores.py``
(:class:`LabelScores`), ``calibration/``, ``data/``, ``evaluation/`` (the benchmark runner) and
``loading.py`` (models and devices).

>>> import marginal_generate as mg
>>> mg.STRATEGIES[:3]
('greedy', 'first_token', 'token_probability')
"""

from .calibration import (
    CONTENT_FREE_INPUTS,
    BatchCalibration,
    Calibrator,
    ContextualCalibration,
    PlattScaling,
    TemperatureScaling,
    binary_calibration_metrics,
    binary_classification_metrics,
    calibration_table,
    distribution_alignment,
    load_calibrator,
    multilabel_calibration_metrics,
    multilabel_classification_metrics,
    reliability_table,
)
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
from .decoding.budget import SearchBudgetError
from .default_model import (
    DEFAULT_EVAL_DATA,
    DEFAULT_MODEL,
    load_default,
    load_default_eval_data,
)
from .evaluation import EvalConfig, load_params, run_evaluation
from .generate import MarginalGenerationMixin, enable, marginalize, score
from .labels import (
    LLAMA_GUARD_2_CATEGORIES,
    LLAMA_GUARD_3_CATEGORIES,
    LabelSpace,
    LlamaGuardParser,
    PrefixState,
)
from .metric_modules import load_metric, metric_path
from .policy import Policy, Target, fit_policy, load_policy
from .processor import LabelScoresProcessor
from .prompted import score_label_prompts
from .prompts import conversation, encode_conversations, render
from .reasoning import ReasoningScores, ReasoningSpace, score_reasoning
from .scores import Completion, LabelScores
from .strategies import PROMPTED_STRATEGIES, STRATEGIES, Strategy

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
    "Completion",
    "LlamaGuardParser",
    "PrefixState",
    "LLAMA_GUARD_3_CATEGORIES",
    "LLAMA_GUARD_2_CATEGORIES",
    "marginalize",
    "PROMPTED_STRATEGIES",
    "score_label_prompts",
    "score",
    "score_reasoning",
    "ReasoningSpace",
    "ReasoningScores",
    "enable",
    "MarginalGenerationMixin",
    "LabelScoresProcessor",
    "SearchBudgetError",
    "metric_path",
    "load_metric",
    "fit_policy",
    "load_policy",
    "Policy",
    "Target",
]
