r"""Finite-sample thresholds: where to cut one label's scores so that a population rate meets a target with
probability at least ``confidence``, from the validation sample alone.

A sample is flagged when its score is ``>= threshold``. With :math:`\delta = 1 - \mathrm{confidence}`:

**recall >= r** (the positives' scores :math:`s_{(1)} \le \dots \le s_{(n)}`). The threshold is the order
statistic :math:`s_{(k)}`. Its population miss rate :math:`F(s_{(k)}^-)` is at most that of the
:math:`k`-th smallest of :math:`n` uniforms, and :math:`P(U_{(k)} \le 1 - r) = P(\mathrm{Bin}(n, 1 - r) \ge k)`:
so any :math:`k` with ``binom.sf(k - 1, n, 1 - r) >= confidence`` meets the target with that probability, for any
score distribution (ties only raise recall). :func:`recall_rank` takes the largest such :math:`k` (the highest
threshold). None exists when :math:`1 - r^n < \mathrm{confidence}`: :func:`min_samples` gives the smallest
:math:`n` that has one.

**fpr <= a** (the negatives' scores). The threshold sits just above the order statistic :math:`s_{(k)}`
(``nextafter``: flag ``score > s_(k)``), so that ties at :math:`s_{(k)}` are not flagged. The smallest
:math:`k` with ``binom.cdf(k - 1, n, 1 - a) >= confidence`` (the lowest threshold) meets
:math:`P(\mathrm{fpr} \le a) \ge \mathrm{confidence}` (:func:`fpr_rank`); none exists when
:math:`1 - (1 - a)^n < \mathrm{confidence}`.

**precision >= p** (Learn-then-Test, Angelopoulos et al. 2021). Precision is a ratio, so there is no
order statistic for it; each threshold :math:`\lambda` is a hypothesis :math:`H_\lambda`: precision(:math:`\lambda`)
< p. Given the :math:`m` samples flagged at :math:`\lambda`, their true positives are
:math:`\mathrm{Bin}(m, \mathrm{precision}(\lambda))`, so ``binom.sf(tp - 1, m, p)`` is a valid p-value. Fixed-sequence
testing (each hypothesis at level :math:`\delta`, down a descending grid, stopping at the first one not rejected)
controls the family-wise error at :math:`\delta` when the grid and its order do not depend on the data it tests, and it
stops at once where the top of the grid flags no sample. So the validation sample is split at random (seeded): a third
gives the grid (its own distinct scores, descending) and the start (the threshold with the smallest p-value on that
third); the other two thirds are tested (a third to choose gave fewer refusals than a half in simulation). The lowest
threshold rejected before the first failure is returned (:func:`precision_threshold`): with probability
:math:`\ge` confidence its precision is at least p.

>>> recall_rank(200, 0.9, 0.9), fpr_rank(200, 0.05, 0.9)
(15, 195)
>>> min_samples("recall", 0.9, 0.9), min_samples("fpr", 0.01, 0.9), min_samples("precision", 0.9, 0.9)
(22, 230, 33)
>>> [round(v, 4) for v in clopper_pearson(18, 20, 0.95)]
[0.683, 0.9877]
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = [
    "Kind",
    "KINDS",
    "recall_rank",
    "fpr_rank",
    "min_samples",
    "clopper_pearson",
    "precision_pvalues",
    "precision_threshold",
    "empirical_threshold",
]

Kind = Literal["recall", "fpr", "precision"]
#: The target kinds: recall (of the positives), false positive rate (of the negatives), precision (of the flagged).
KINDS: tuple[str, ...] = ("recall", "fpr", "precision")


def recall_rank(n: int, recall: float, confidence: float) -> int | None:
    """The largest ``k`` (1-based, among ``n`` positives sorted ascending) whose order statistic as threshold
    keeps population recall ``>= recall`` with probability ``>= confidence``; None when ``n`` is too small.

    >>> recall_rank(21, 0.9, 0.9), recall_rank(22, 0.9, 0.9)
    (None, 1)
    """
    from scipy.stats import binom

    if n < 1:
        return None
    ks = np.arange(1, n + 1)
    ok = binom.sf(ks - 1, n, 1.0 - recall) >= confidence  # True for k = 1 .. k*, then False
    return int(ok.sum()) or None


def fpr_rank(n: int, fpr: float, confidence: float) -> int | None:
    """The smallest ``k`` (1-based, among ``n`` negatives sorted ascending) such that flagging ``score > s_(k)``
    keeps the population false positive rate ``<= fpr`` with probability ``>= confidence``; None when ``n`` is
    too small.

    >>> fpr_rank(44, 0.05, 0.9), fpr_rank(45, 0.05, 0.9)
    (None, 45)
    """
    from scipy.stats import binom

    if n < 1:
        return None
    ks = np.arange(1, n + 1)
    ok = binom.cdf(ks - 1, n, 1.0 - fpr) >= confidence  # False for k < k*, then True
    return int(n - ok.sum() + 1) if ok.any() else None


def min_samples(kind: Kind, value: float, confidence: float) -> int:
    """The smallest number of positives (recall, precision) or negatives (fpr) with which any threshold can meet
    ``kind`` at ``value`` with probability ``confidence``.

    recall: ``1 - value ** n >= confidence``; fpr: ``1 - (1 - value) ** n >= confidence``; precision: the tested two
    thirds must flag ``m`` positives and no negative with ``value ** m <= 1 - confidence``, so about ``1.5 m``
    positives in all (a necessary count: with negatives among the top scores it takes more).

    >>> min_samples("recall", 0.99, 0.95), min_samples("fpr", 0.05, 0.95)
    (299, 59)
    """
    miss = value if kind in ("recall", "precision") else 1.0 - value
    bound = 1.0 - confidence
    n = max(1, math.ceil(math.log(bound) / math.log(miss)))
    while miss**n > bound:  # floating point: make it the exact smallest n
        n += 1
    while n > 1 and miss ** (n - 1) <= bound:
        n -= 1
    return math.ceil(1.5 * n) if kind == "precision" else n


def clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float] | None:
    """The two-sided Clopper-Pearson interval of a binomial proportion at ``confidence``; None when ``trials`` is 0.

    >>> clopper_pearson(0, 10, 0.9)[0], clopper_pearson(10, 10, 0.9)[1]
    (0.0, 1.0)
    """
    from scipy.stats import beta

    if trials == 0:
        return None
    tail = (1.0 - confidence) / 2.0
    lo = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta.ppf(1.0 - tail, successes + 1, trials - successes))
    return lo, hi


def precision_pvalues(
    scores: np.ndarray, positive: np.ndarray, precision: float, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per threshold of ``grid``: samples flagged (``score >= threshold``), true positives among them, and the
    binomial p-value of "precision < ``precision``" (1 where nothing is flagged).

    >>> flagged, tp, p = precision_pvalues(np.array([0.9, 0.8, 0.2]), np.array([1, 1, 0]), 0.5, [0.85, 0.5, 0.1])
    >>> flagged.tolist(), tp.tolist(), p.round(3).tolist()
    ([1, 2, 3], [1, 2, 2], [0.5, 0.25, 0.5])
    """
    from scipy.stats import binom

    order = np.argsort(scores, kind="stable")
    ranked, truth = scores[order], positive[order]
    below = np.searchsorted(ranked, np.asarray(grid, dtype=np.float64), side="left")  # scores < threshold
    positives_from = np.concatenate([np.cumsum(truth[::-1])[::-1], [0]])  # positives at or above each rank
    flagged, tp = len(ranked) - below, positives_from[below]
    p = np.where(flagged > 0, binom.sf(tp - 1, np.maximum(flagged, 1), precision), 1.0)
    return flagged, tp, p


def precision_threshold(
    scores: np.ndarray, positive: np.ndarray, precision: float, confidence: float, seed: int = 0
) -> float | None:
    """The lowest threshold that Learn-then-Test certifies for precision ``>= precision`` at ``confidence``: the
    grid and its start from a random third of the sample (``seed``), fixed-sequence testing on the rest; None when it
    certifies none.

    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(300), np.zeros(300)].astype(int)
    >>> s = np.r_[rng.beta(5, 2, 300), rng.beta(2, 5, 300)]
    >>> round(precision_threshold(s, y, 0.9, 0.9), 4)  # population precision there: 0.914
    0.5345
    >>> precision_threshold(s[:30], y[:30], 0.9, 0.9) is None  # 30 positives are too few (33 needed)
    True
    """
    index = np.random.default_rng(seed).permutation(len(scores))
    first, second = index[: len(index) // 3], index[len(index) // 3 :]
    grid = np.unique(scores[first])[::-1]
    if grid.size == 0:
        return None
    _, _, p_first = precision_pvalues(scores[first], positive[first], precision, grid)
    grid = grid[int(np.argmin(p_first)) :]
    _, _, p_second = precision_pvalues(scores[second], positive[second], precision, grid)
    failed = np.flatnonzero(p_second > 1.0 - confidence)
    passed = int(failed[0]) if failed.size else len(grid)  # rejected before the first failure
    return float(grid[passed - 1]) if passed else None


def empirical_threshold(kind: Kind, scores: np.ndarray, positive: np.ndarray, value: float) -> float | None:
    """A threshold that meets the target on the validation sample only (no guarantee): the ``best_effort``
    fallback. recall: the highest threshold with validation recall ``>= value``; fpr: the lowest with validation
    fpr ``<= value``; precision: the lowest grid threshold with validation precision ``>= value``. None when the
    sample has no positive (recall), no negative (fpr) or no grid threshold qualifies (precision).

    >>> s, y = np.array([0.1, 0.4, 0.6, 0.9]), np.array([0, 1, 0, 1])
    >>> empirical_threshold("recall", s, y, 0.5), empirical_threshold("fpr", s, y, 0.5)
    (0.9, 0.1000000000000000...)
    """
    if kind == "recall":
        pos = np.sort(scores[positive == 1])
        if pos.size == 0:
            return None
        k = int(math.floor(pos.size * (1.0 - value) + 1e-9))  # misses allowed on validation
        return float(pos[k])
    if kind == "fpr":
        neg = np.sort(scores[positive == 0])
        if neg.size == 0:
            return None
        k = int(math.ceil(neg.size * (1.0 - value) - 1e-9))  # negatives kept below the threshold
        return float(np.nextafter(neg[k - 1], np.inf)) if k >= 1 else float(neg[0])
    grid = np.unique(scores)[::-1]
    flagged, tp, _ = precision_pvalues(scores, positive, value, grid)
    ok = (flagged > 0) & (tp >= value * flagged)
    return float(grid[ok][-1]) if ok.any() else None
