# Copyright 2025 The marginal-generate authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
"""Alignment of per-label probabilities with soft (annotator-fraction) references: L1, NLL, Brier, JSD."""

import datasets
import evaluate

from marginal_generate import distribution_alignment

_DESCRIPTION = """
How close a model's per-label probabilities are to soft references: the fraction of annotators who
chose each label (0/1 references also work). Per label j, averaged over the samples i:

L1 = mean |p - r|
NLL = mean -(r log p + (1 - r) log(1 - p))   (natural log, p clipped to [clip, 1 - clip])
Brier = mean (p - r) ** 2
JSD = mean Jensen-Shannon divergence between Bernoulli(p) and Bernoulli(r), in bits (in [0, 1])

The top-level values are the unweighted means over labels (macro); "per_label" holds each label's
values. With soft references the least NLL is the entropy of r, not 0. The default configuration
takes one probability per sample (one label, named "0"); the "multilabel" configuration takes one
probability per label (e.g. the 14 Llama Guard 3 categories).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`, or `list` of `list` of `float` for "multilabel"): probabilities in
        [0, 1] (0 and 1 included). Drop the label columns a strategy leaves NaN (first_token) first.
    references (same shape): values in [0, 1], the fraction of annotators who chose the label, or 0/1.
    labels (`list` of `str`, optional): one name per label column, the keys of "per_label"
        (defaults to "0", "1", ...).
    clip (`float`, defaults to 1e-12): probabilities are clipped to [clip, 1 - clip] for the NLL.
Returns:
    l1 (`float`): mean absolute difference, in [0, 1]; lower is better.
    nll (`float`): soft binary cross-entropy, in [0, -log(clip)] (about 27.6 at most); lower is better.
    brier (`float`): mean squared difference, in [0, 1]; lower is better.
    jsd (`float`): Jensen-Shannon divergence in bits, in [0, 1]; lower is better.
    per_label (`dict`): {label: {"l1", "nll", "brier", "jsd"}}; the top-level values are their means.
    n_samples (`int`): the number of samples.
Examples:
    >>> alignment = evaluate.load("metrics/distribution_alignment")
    >>> out = alignment.compute(predictions=[0.8, 0.2], references=[1.0, 0.5])
    >>> round(out["l1"], 4), round(out["brier"], 4), out["n_samples"]
    (0.25, 0.065, 2)

    >>> alignment = evaluate.load("metrics/distribution_alignment", "multilabel")
    >>> out = alignment.compute(predictions=[[0.0, 0.5], [1.0, 0.5]], references=[[1.0, 0.5], [0.0, 0.5]],
    ...                         labels=["S1", "S2"])
    >>> out["per_label"]["S1"]["jsd"], out["per_label"]["S2"]["jsd"], out["jsd"]
    (1.0, 0.0, 0.5)
"""

_CITATION = """
@misc{ma2025multilabel,
  title={Large Language Models Do Multi-Label Classification Differently},
  author={Ma, Marcus and Chochlakis, Georgios and Maruthu Pandiyan, Niyantha and Thomason, Jesse and
          Narayanan, Shrikanth},
  year={2025},
  note={arXiv preprint}
}
@article{lin1991divergence,
  title={Divergence Measures Based on the {S}hannon Entropy},
  author={Lin, Jianhua},
  journal={IEEE Transactions on Information Theory},
  volume={37},
  number={1},
  pages={145--151},
  year={1991}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class DistributionAlignment(evaluate.Metric):
    def _info(self):
        if self.config_name == "multilabel":
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("float64")),
                }
            )
        else:
            features = datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
        )

    def _compute(self, predictions, references, labels=None, clip=1e-12):
        return distribution_alignment(
            predictions, references, labels=labels, clip=clip, argument_names=("predictions", "references")
        )
