# Copyright 2025 The marginal-generate authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
"""Calibration error (ECE, MCE, RMS), NLL, Brier score and the reliability table of probabilities."""

import datasets
import evaluate
import numpy as np

from marginal_generate import binary_calibration_metrics, multilabel_calibration_metrics
from marginal_generate.calibration.metrics import calibration_error_interval, classwise_calibration_error

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
per-label values, their macro mean, and the micro value over all (sample, label) pairs; with
average="classwise" also each class's error by name and the worst class.

The variants that papers quote are returned whatever `norm` and `binning` say: "ece_equal_width" (L1, equal-width
bins: the Llama Guard calibration study, torchmetrics) and "rms_equal_mass" (root mean square, equal-mass bins: Liu
et al., ICLR 2025). With n_resamples > 0, bootstrap confidence intervals of the error are returned too.
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
    average (`str`, defaults to None): "multilabel" only: "classwise" adds each class's error by name
        and the worst class.
    labels (`list` of `str`, defaults to None): "multilabel" only: the class names (default: column indices).
    n_resamples (`int`, defaults to 0): bootstrap resamples of the samples for confidence intervals (0: none).
    confidence_level (`float`, defaults to 0.95): the intervals' level.
    interval_method (`str`, defaults to "percentile"): "percentile" or "basic" (reflected about the estimate,
        which corrects the upward bias of binned errors).
    seed (`int`, defaults to 0): the bootstrap's seed.
Returns:
    Default configuration:
    calibration_error (`float`): the error under `norm`; 0 is perfectly calibrated, 1 the worst.
    ece (`float`), mce (`float`), rms_calibration_error (`float`): in [0, 1], lower is better.
    nll (`float`): mean binary cross-entropy, in [0, inf) (about 36 at most per prediction, as
        probabilities are clipped to [eps, 1 - eps]); lower is better.
    brier (`float`): mean squared difference between probability and reference, in [0, 1]; lower is better.
    bins (`dict`): edges (n_bins + 1), counts, mean_confidence and fraction_positive (n_bins each;
        None for an empty bin).
    ece_equal_width (`float`), rms_equal_mass (`float`): the quoted variants with n_bins bins, in [0, 1], lower is
        better.
    calibration_error_ci (`list` of 2 `float`): with n_resamples > 0, the interval of calibration_error.
    "multilabel" configuration: for each of calibration_error, ece, mce, rms_calibration_error, nll,
    brier, ece_equal_width and rms_equal_mass: `<name>_per_label` (list), `<name>_macro` and `<name>_micro`;
    plus `bins_per_label` and `bins_micro`. With average="classwise": `calibration_error_classwise` (dict: class ->
    error), `worst_label` and `calibration_error_worst`. With n_resamples > 0: `calibration_error_micro_ci`,
    `calibration_error_macro_ci` (and `calibration_error_worst_ci` with average="classwise").
Examples:
    >>> calibration = evaluate.load("metrics/calibration_error")
    >>> out = calibration.compute(predictions=[0.25, 0.25, 0.55, 0.75, 0.75], references=[0, 0, 1, 1, 1], n_bins=2)
    >>> round(out["ece"], 4), round(out["mce"], 4), out["bins"]["counts"]
    (0.29, 0.3167, [2, 3])

    >>> calibration = evaluate.load("metrics/calibration_error", "multilabel")
    >>> out = calibration.compute(predictions=[[0.9, 0.2], [0.1, 0.4]], references=[[1, 0], [0, 1]], n_bins=2)
    >>> [round(v, 4) for v in out["ece_per_label"]], round(out["ece_macro"], 4), round(out["ece_micro"], 4)
    ([0.1, 0.2], 0.15, 0.1)
    >>> out = calibration.compute(predictions=[[0.9, 0.2], [0.1, 0.4]], references=[[1, 0], [0, 1]], n_bins=2,
    ...                           average="classwise", labels=["S1", "S2"])
    >>> out["worst_label"], round(out["calibration_error_worst"], 4)
    ('S2', 0.2)
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

    def _compute(
        self,
        predictions,
        references,
        n_bins=15,
        binning="uniform",
        norm="l1",
        average=None,
        labels=None,
        n_resamples=0,
        confidence_level=0.95,
        interval_method="percentile",
        seed=0,
    ):
        multilabel = self.config_name == "multilabel"
        if average not in (None, "classwise") or (average is not None and not multilabel):
            raise ValueError(
                f"`average` must be None or 'classwise' (with the 'multilabel' configuration); got {average!r}."
            )
        if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
            raise ValueError(
                f"`n_resamples` must be an integer >= 0 (0: no intervals), e.g. 1000; got {n_resamples!r}."
            )
        if interval_method not in ("percentile", "basic"):
            raise ValueError(f"`interval_method` must be 'percentile' or 'basic'; got {interval_method!r}.")
        compute = multilabel_calibration_metrics if multilabel else binary_calibration_metrics
        out = compute(predictions, references, n_bins=n_bins, binning=binning, norm=norm)
        p, y = np.asarray(predictions, dtype=np.float64), np.asarray(references, dtype=np.int64)
        if average == "classwise":
            classwise = classwise_calibration_error(p, y, labels, n_bins=n_bins, binning=binning, norm=norm)
            out["calibration_error_classwise"] = classwise["per_label"]
            out["worst_label"] = classwise["worst_label"]
            out["calibration_error_worst"] = classwise["worst"]
        if n_resamples:
            kinds = ["micro", "macro"] + (["worst"] if average == "classwise" else []) if multilabel else [None]
            for of in kinds:
                interval = calibration_error_interval(
                    p, y, n_bins, binning, norm, of or "micro", n_resamples, confidence_level, seed, interval_method
                )
                out["calibration_error_ci" if of is None else f"calibration_error_{of}_ci"] = list(interval)
        return out
