"""Operating points: per-label thresholds fitted with a finite-sample guarantee, review bands, the versioned policy
file, and ``decide``.

``bounds.py`` (order statistics, Clopper-Pearson, Learn-then-Test), ``targets.py`` (:class:`Target`), ``fit.py``
(:func:`fit_policy`), ``policy.py`` (:class:`Policy`, :func:`load_policy`), ``run.py`` (an evaluation run's
scores, reports with bootstrap intervals), ``cli.py`` (``marginal-generate policy`` and ``evaluate --policy``).
"""

from .bounds import KINDS, clopper_pearson, fpr_rank, min_samples, precision_threshold, recall_rank
from .fit import fit_policy
from .policy import FORMAT_VERSION, Cut, LabelRule, Policy, load_policy
from .targets import Target

__all__ = [
    "KINDS",
    "FORMAT_VERSION",
    "Cut",
    "LabelRule",
    "Policy",
    "Target",
    "clopper_pearson",
    "fit_policy",
    "fpr_rank",
    "load_policy",
    "min_samples",
    "precision_threshold",
    "recall_rank",
]
