# Copyright 2025 The marginal-generate authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
"""Calibration error (ECE, MCE, RMS), NLL, Brier score and the reliability table of probabilities."""

import datasets
import evaluate

from marginal_generate import binary_calibration_metrics, multilabel_calibration_metrics

_DESCRIPTION = """
How far predicted probabilities can be trusted as probabilities. The predictions (probability of the
positive class, e.g. p(unsafe) from a guard model) are split into bins; in each bin the mean
predicted probability is compared with the fraction of positive references.

ECE = sum_m |B_m| / N * |fraction_positive(B_m) - mean_confidence(B_m)|   (norm "l1")
RMS = sqrt(sum_m |B_m| / N * (fraction_positive(B_m) - mean_confidence(B_m)) ** 2)   (norm "l2")
MCE = max over non-empty bins of |fraction_positive(B_m) - mean_confidence(B_m)|   (norm "max")

Bin m covers (edges[m], edges[m+1]]; a prediction of exactly 0 falls into the first bin. Edges are
equal-width (binning "uniform", 15 bins by default, as torchmetrics and the Llama Guard calibration
study) or equal-mass (binning "quantile", at the quantiles of the predictions). Also returned: the
negative log-likelihood (mean binary cross-entropy), the Brier score and the per-bin table for a
reliability diagram. The "multilabel" configuration takes one probability per label and returns
per-label values, their macro mean, and the micro value over all (sample, label) pairs.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`, or `list` of `list` of `float` for "multilabel"): probabilities in
        [0, 1] of the positive class (0 and 1 included).
    references (`list` of `int`, or `list` of `list` of `int` for "multilabel"): 0 or 1.
    n_bins (`int`, defaults to 15): number of bins.
    binning (`str`, defaults to "uniform"): "uniform" (equal width) or "quantile" (equal mass).
    norm (`str`, defaults to "l1"): which error `calibration_error` reports: "l1" (ECE), "l2" (RMS)
        or "max" (MCE).
Returns:
    Default configuration:
    calibration_error (`float`): the error under `norm`; 0 is perfectly calibrated, 1 the worst.
    ece (`float`), mce (`float`), rms_calibration_error (`float`): in [0, 1], lower is better.
    nll (`float`): mean binary cross-entropy, in [0, inf) (about 36 at most per prediction, as
        probabilities are clipped to [eps, 1 - eps]); lower is better.
    brier (`float`): mean squared difference between probability and reference, in [0, 1]; lower is better.
    bins (`dict`): edges (n_bins + 1), counts, mean_confidence and fraction_positive (n_bins each;
        None for an empty bin).
    "multilabel" configuration: for each of calibration_error, ece, mce, rms_calibration_error, nll
    and brier: `<name>_per_label` (list), `<name>_macro` and `<name>_micro`; plus `bins_per_label`
    and `bins_micro`.
Examples:
    >>> calibration = evaluate.load("metrics/calibration_error")
    >>> out = calibration.compute(predictions=[0.25, 0.25, 0.55, 0.75, 0.75], references=[0, 0, 1, 1, 1], n_bins=2)
    >>> round(out["ece"], 4), round(out["mce"], 4), out["bins"]["counts"]
    (0.29, 0.3167, [2, 3])

    >>> calibration = evaluate.load("metrics/calibration_error", "multilabel")
    >>> out = calibration.compute(predictions=[[0.9, 0.2], [0.1, 0.4]], references=[[1, 0], [0, 1]], n_bins=2)
    >>> [round(v, 4) for v in out["ece_per_label"]], round(out["ece_macro"], 4), round(out["ece_micro"], 4)
    ([0.1, 0.2], 0.15, 0.1)
"""

_CITATION = """
@inproceedings{guo2017calibration,
  title={On Calibration of Modern Neural Networks},
  author={Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.},
  booktitle={International Conference on Machine Learning},
  pages={1321--1330},
  year={2017}
}
@inproceedings{naeini2015obtaining,
  title={Obtaining Well Calibrated Probabilities Using Bayesian Binning},
  author={Naeini, Mahdi Pakdaman and Cooper, Gregory and Hauskrecht, Milos},
  booktitle={Proceedings of the AAAI Conference on Artificial Intelligence},
  year={2015}
}
@inproceedings{liu2025calibration,
  title={On Calibration of {LLM}-based Guard Models for Reliable Content Moderation},
  author={Liu, Hongfu and Huang, Hengguan and Gu, Xiangming and Wang, Hao and Wang, Ye},
  booktitle={The Thirteenth International Conference on Learning Representations},
  year={2025}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CalibrationError(evaluate.Metric):
    def _info(self):
        if self.config_name == "multilabel":
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            )
        else:
            features = datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("int32")}
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
            reference_urls=[
                "https://proceedings.mlr.press/v70/guo17a.html",
                "https://lightning.ai/docs/torchmetrics/stable/classification/calibration_error.html",
            ],
        )

    def _compute(self, predictions, references, n_bins=15, binning="uniform", norm="l1"):
        if self.config_name == "multilabel":
            return multilabel_calibration_metrics(predictions, references, n_bins=n_bins, binning=binning, norm=norm)
        return binary_calibration_metrics(predictions, references, n_bins=n_bins, binning=binning, norm=norm)
