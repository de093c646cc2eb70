r"""How close per-label probabilities are to soft references (Ma et al., 2025).

A soft reference :math:`r_{ij} \in [0, 1]` is the fraction of annotators who chose label :math:`j`
for sample :math:`i` (0/1 references are the special case of one annotator, or of unanimity). The
model's probability :math:`p_{ij}` is compared with it as two Bernoulli distributions, per label
:math:`j` and averaged over the :math:`n` samples:

.. math::
    \mathrm{L1}_j = \frac1n \sum_i |p_{ij} - r_{ij}|,\qquad
    \mathrm{Brier}_j = \frac1n \sum_i (p_{ij} - r_{ij})^2,

    \mathrm{NLL}_j = -\frac1n \sum_i \big(r_{ij} \log p_{ij} + (1 - r_{ij}) \log(1 - p_{ij})\big),\qquad
    \mathrm{JSD}_j = \frac1n \sum_i \mathrm{JS}\big(\mathrm{Bern}(p_{ij}) \,\|\, \mathrm{Bern}(r_{ij})\big).

NLL is the binary cross-entropy against the soft reference (natural log; :math:`p` clipped to
``[clip, 1 - clip]``); its least value is the entropy of :math:`r`, not 0, unless the references
are 0/1. JS is the Jensen–Shannon divergence in bits (log base 2, so in ``[0, 1]``; 0 log 0 = 0),
symmetric and 0 exactly when :math:`p = r`. :func:`distribution_alignment` reports each measure
per label and its unweighted mean over labels (macro).

>>> out = distribution_alignment([[0.8, 0.0], [0.2, 0.5]], [[1.0, 1.0], [0.5, 0.5]], labels=["S1", "S2"])
>>> s1 = out["per_label"]["S1"]  # |0.8 - 1| = 0.2, |0.2 - 0.5| = 0.3
>>> round(s1["l1"], 4), round(s1["brier"], 4)  # (0.2 + 0.3) / 2, (0.04 + 0.09) / 2
(0.25, 0.065)
>>> out["per_label"]["S2"]["jsd"]  # (JS(Bern(0) || Bern(1)) = 1 bit + JS(Bern(0.5) || Bern(0.5)) = 0) / 2
0.5
>>> round(out["l1"], 4), out["n_samples"]  # macro: (0.25 + 0.5) / 2
(0.375, 2)
>>> round(float(soft_nll([0.5], [0.5])[0]), 4)  # log 2, the entropy of Bern(0.5): the least NLL for r = 0.5
0.6931
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import rel_entr

from .metrics import EPS, mean_binary_cross_entropy
from .validation import (
    as_float_array,
    check_probabilities,
    check_same_shape,
    check_soft_references,
)

__all__ = [
    "MEASURES",
    "distribution_alignment",
    "l1_distance",
    "soft_nll",
    "brier_score",
    "jensen_shannon",
]

#: The keys of :func:`distribution_alignment`'s output, one per measure.
MEASURES: tuple[str, ...] = ("l1", "nll", "brier", "jsd")

DEFAULT_CLIP: float = 1e-12


# ----------------------------------------------------------------------------- checks


def _check_labels(labels: Sequence[str] | None, num_labels: int, probs_name: str) -> list[str]:
    if labels is None:
        return [str(j) for j in range(num_labels)]
    if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"`labels` must be a sequence of label names such as ['S1', 'S2']; got {labels!r}.")
    if len(labels) != num_labels:
        raise ValueError(
            f"`labels` has {len(labels)} name(s) but `{probs_name}` has {num_labels} label column(s); "
            "pass one name per column, in column order."
        )
    repeated = sorted({label for label in labels if list(labels).count(label) > 1})
    if repeated:
        raise ValueError(f"`labels` repeats {repeated}; pass one distinct name per column.")
    return list(labels)


def _check_no_nan(name: str, columns: np.ndarray, labels: list[str], names: tuple[str, str]) -> None:
    """NaN is refused before the generic finiteness check, with the label columns that hold it."""
    bad = np.flatnonzero(np.isnan(columns).any(axis=0))
    if bad.size:
        first_row = int(np.flatnonzero(np.isnan(columns[:, bad[0]]))[0])
        where = ", ".join(f"{j} ({labels[j]!r})" for j in bad)
        if name == names[0]:
            fix = (
                "Strategies such as `first_token` give NaN for the categories they cannot score: drop those "
                f"columns from both `{names[0]}` and `{names[1]}` (and from `labels`)"
            )
        else:
            fix = f"Drop those columns (or the rows without annotations) from both `{names[0]}` and `{names[1]}`"
        raise ValueError(
            f"`{name}` has NaN in label column(s) {where}, first at row {first_row}. {fix} before computing "
            f"the alignment, e.g. `keep = ~np.isnan({name}).any(axis=0)`."
        )


def _check_inputs(
    probs: Any,
    references: Any,
    labels: Sequence[str] | None = None,
    clip: float = DEFAULT_CLIP,
    names: tuple[str, str] = ("probs", "references"),
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``probs`` and ``references`` as float64 ``[n, k]`` columns (a vector is one label), and the label names."""
    if isinstance(clip, bool) or not isinstance(clip, (int, float, np.floating)) or not EPS <= clip < 0.5:
        raise ValueError(f"`clip` must be a number in [{EPS:.3g}, 0.5); got {clip!r}. The default is {DEFAULT_CLIP}.")
    p = as_float_array(names[0], probs)
    r = as_float_array(names[1], references)
    check_same_shape(names[0], p, names[1], r)
    label_names = _check_labels(labels, 1 if p.ndim == 1 else p.shape[1], names[0])
    _check_no_nan(names[0], p.reshape(len(p), -1), label_names, names)
    _check_no_nan(names[1], r.reshape(len(r), -1), label_names, names)
    p = check_probabilities(names[0], p)
    r = check_soft_references(names[1], r)
    return p.reshape(len(p), -1), r.reshape(len(r), -1), label_names


# ----------------------------------------------------------------------------- measures on checked [n, k] arrays


def _l1(p: np.ndarray, r: np.ndarray, clip: float) -> np.ndarray:
    return np.abs(p - r).mean(axis=0)


def _nll(p: np.ndarray, r: np.ndarray, clip: float) -> np.ndarray:
    # mean_binary_cross_entropy clips to machine epsilon; clip >= that is checked, so this clip decides.
    return mean_binary_cross_entropy(np.clip(p, clip, 1.0 - clip), r, axis=0)


def _brier(p: np.ndarray, r: np.ndarray, clip: float) -> np.ndarray:
    return ((p - r) ** 2).mean(axis=0)


def _jsd(p: np.ndarray, r: np.ndarray, clip: float) -> np.ndarray:
    # scipy.spatial.distance.jensenshannon returns the distance sqrt(JS), and NaN where p and r differ by
    # a few ulps (the divergence rounds to -1e-16 before its square root), so the two KL terms are
    # summed from scipy's rel_entr (x log(x / y), 0 log 0 = 0) and the rounding is clipped at 0.
    # tests/test_alignment.py checks the result against jensenshannon(...) ** 2 on random data.
    bern_p = np.stack([p, 1.0 - p], axis=-1)
    bern_r = np.stack([r, 1.0 - r], axis=-1)
    mid = (bern_p + bern_r) / 2.0
    js = (rel_entr(bern_p, mid) + rel_entr(bern_r, mid)).sum(axis=-1) / (2.0 * np.log(2.0))
    return np.maximum(js, 0.0).mean(axis=0)


_MEASURE_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "l1": _l1,
    "nll": _nll,
    "brier": _brier,
    "jsd": _jsd,
}


# ----------------------------------------------------------------------------- public functions


def l1_distance(probs: Any, references: Any) -> np.ndarray:
    """Per-label mean absolute difference ``mean_i |p_ij - r_ij|``, shape ``[num_labels]``.

    >>> # (0.2 + 0.3) / 2, (0 + 0.5) / 2
    >>> l1_distance([[0.8, 0.5], [0.2, 0.5]], [[1.0, 0.5], [0.5, 0.0]]).round(4).tolist()
    [0.25, 0.25]
    """
    p, r, _ = _check_inputs(probs, references)
    return _l1(p, r, DEFAULT_CLIP)


def soft_nll(probs: Any, references: Any, clip: float = DEFAULT_CLIP) -> np.ndarray:
    """Per-label binary cross-entropy against soft references (natural log, ``p`` clipped to ``[clip, 1 - clip]``).

    >>> soft_nll([0.5, 0.5], [1.0, 0.0]).round(4).tolist()  # -log 0.5 for either reference
    [0.6931]
    >>> soft_nll([0.0], [1.0]).round(2).tolist()  # -log(1e-12)
    [27.63]
    """
    p, r, _ = _check_inputs(probs, references, clip=clip)
    return _nll(p, r, clip)


def brier_score(probs: Any, references: Any) -> np.ndarray:
    """Per-label mean squared difference ``mean_i (p_ij - r_ij)^2``; soft references allowed.

    >>> brier_score([0.8, 0.2], [1.0, 0.5]).round(4).tolist()  # (0.2^2 + 0.3^2) / 2
    [0.065]
    """
    p, r, _ = _check_inputs(probs, references)
    return _brier(p, r, DEFAULT_CLIP)


def jensen_shannon(probs: Any, references: Any) -> np.ndarray:
    """Per-label mean Jensen–Shannon divergence between ``Bern(p_ij)`` and ``Bern(r_ij)``, in bits.

    >>> jensen_shannon([[0.0, 0.3], [1.0, 0.3]], [[1.0, 0.3], [0.0, 0.3]]).tolist()
    [1.0, 0.0]
    """
    p, r, _ = _check_inputs(probs, references)
    return _jsd(p, r, DEFAULT_CLIP)


def _distribution_alignment(
    probs: Any,
    references: Any,
    labels: Sequence[str] | None = None,
    clip: float = DEFAULT_CLIP,
    names: tuple[str, str] = ("probs", "references"),
) -> dict[str, Any]:
    """:func:`distribution_alignment`, with the argument names its errors use (the evaluate module passes its own)."""
    p, r, label_names = _check_inputs(probs, references, labels, clip, names)
    values = {name: fn(p, r, clip) for name, fn in _MEASURE_FUNCTIONS.items()}
    out: dict[str, Any] = {name: float(np.mean(v)) for name, v in values.items()}
    out["per_label"] = {
        label: {name: float(values[name][j]) for name in MEASURES} for j, label in enumerate(label_names)
    }
    out["n_samples"] = int(p.shape[0])
    return out


def distribution_alignment(
    probs: Any,
    references: Any,
    labels: Sequence[str] | None = None,
    clip: float = DEFAULT_CLIP,
    *,
    argument_names: tuple[str, str] = ("probs", "references"),
) -> dict[str, Any]:
    """L1, NLL, Brier and Jensen–Shannon divergence between per-label probabilities and soft references.

    Args:
        probs: ``[n_samples, n_labels]`` probabilities in [0, 1] (``[n_samples]`` for one label), e.g.
            ``LabelScores.probs``. Drop the columns a strategy leaves NaN (``first_token``) first.
        references: the same shape; the fraction of annotators who chose each label, or 0/1.
        labels: one name per column (default ``"0"``, ``"1"``, ...), the keys of ``per_label``.
        clip: ``p`` is clipped to ``[clip, 1 - clip]`` for the NLL only (from machine epsilon to 0.5).
        argument_names: what error messages call ``probs`` and ``references`` (the evaluate
            module passes ``("predictions", "references")``, its own argument names).

    Returns:
        ``{"l1", "nll", "brier", "jsd"}``: floats, the unweighted mean over labels of the per-label
        values (lower is better for all four); ``"per_label"``: ``{label: {"l1", "nll", "brier",
        "jsd"}}``; ``"n_samples"``: the number of rows. L1, Brier and JSD lie in [0, 1]; NLL in
        ``[0, -log(clip)]`` (about 27.6 at most with the default ``clip``).

    Raises:
        ValueError: naming the argument, for a shape mismatch, NaN (with its label columns), values
            outside [0, 1], empty input, a wrong number of ``labels`` or a bad ``clip``.

    >>> out = distribution_alignment([0.8, 0.2], [1.0, 0.5])
    >>> sorted(out), list(out["per_label"])
    (['brier', 'jsd', 'l1', 'n_samples', 'nll', 'per_label'], ['0'])
    >>> round(out["brier"], 4)  # (0.2^2 + 0.3^2) / 2
    0.065
    >>> distribution_alignment([1.5], [1.0], argument_names=("predictions", "references"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `predictions` must hold probabilities in [0, 1]; got 1.5 at index 0. Pass probabilities, not logits...
    """
    return _distribution_alignment(probs, references, labels, clip, argument_names)
