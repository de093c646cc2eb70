# Copyright 2025 The marginal-generate authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
"""Multi-label classification quality (F1, precision, recall, subset accuracy, Hamming loss, ROC-AUC, AUPRC)."""

import datasets
import evaluate

from marginal_generate import multilabel_classification_metrics

_DESCRIPTION = """
Quality of multi-label predictions such as a guard model's per-category (S1..S14) probabilities, all
computed with scikit-learn. Predictions are per-label probabilities thresholded with
p >= threshold (one threshold, or one per label), or 0/1 predictions (prediction_type="labels").

- F1, precision, recall: micro (pooled over all (sample, label) pairs), macro (mean over labels)
  and per label; 0 where undefined (no predicted or no actual positives).
- subset accuracy: fraction of samples whose whole label set is right.
- Hamming loss: fraction of wrong (sample, label) pairs.
- ROC-AUC and AUPRC (average precision), micro and macro, from the probabilities.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): per-label probabilities in [0, 1], or 0/1 predictions
        with prediction_type="labels".
    references (`list` of `list` of `int`): per-label 0/1 references.
    threshold (`float` or `list` of `float`, defaults to 0.5): a label is predicted when p >= threshold.
    prediction_type (`str`, defaults to "probabilities"): "probabilities" or "labels".
Returns:
    f1_micro, f1_macro, precision_micro, precision_macro, recall_micro, recall_macro (`float`): in [0, 1],
        higher is better.
    f1_per_label, precision_per_label, recall_per_label (`list` of `float`): one per label.
    subset_accuracy (`float`): in [0, 1], higher is better.
    hamming_loss (`float`): in [0, 1], lower is better.
    roc_auc_micro, roc_auc_macro, auprc_micro, auprc_macro (`float` or None): in [0, 1], higher is better.
        A label whose references hold one class only has no ROC-AUC/AUPRC (None in the per-label lists)
        and is left out of the macro mean; all are None with prediction_type="labels".
    roc_auc_per_label, auprc_per_label (`list`, or None with prediction_type="labels").
Examples:
    >>> multilabel = evaluate.load("metrics/multilabel_classification")
    >>> out = multilabel.compute(predictions=[[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]], references=[[1, 0], [0, 1], [0, 1]])
    >>> round(out["f1_macro"], 4), round(out["subset_accuracy"], 4), round(out["hamming_loss"], 4), out["roc_auc_macro"]
    (0.8333, 0.6667, 0.1667, 1.0)
    >>> out = multilabel.compute(predictions=[[1, 0], [1, 1]], references=[[1, 0], [0, 1]], prediction_type="labels")
    >>> out["f1_micro"], out["hamming_loss"], out["roc_auc_micro"]
    (0.8, 0.25, None)
"""

_CITATION = """
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V. and Thirion, B. and Grisel, O. and
          Blondel, M. and Prettenhofer, P. and Weiss, R. and Dubourg, V. and Vanderplas, J. and Passos, A. and
          Cournapeau, D. and Brucher, M. and Perrot, M. and Duchesnay, E.},
  journal={Journal of Machine Learning Research},
  volume={12},
  pages={2825--2830},
  year={2011}
}
@article{tsoumakas2007multilabel,
  title={Multi-Label Classification: An Overview},
  author={Tsoumakas, Grigorios and Katakis, Ioannis},
  journal={International Journal of Data Warehousing and Mining},
  volume={3},
  number={3},
  pages={1--13},
  year={2007}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html#multilabel-ranking-metrics"],
        )

    def _compute(self, predictions, references, threshold=0.5, prediction_type="probabilities"):
        return multilabel_classification_metrics(
            predictions, references, threshold=threshold, prediction_type=prediction_type
        )
