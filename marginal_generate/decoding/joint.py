"""Keeping the joint during the tree search: the mass of each label set, not only of each label.

The search (:func:`~marginal_generate.decoding.search.run_search`) tells a :class:`JointAccumulator` three things it
already knows: each explored answer with its label set (:meth:`~JointAccumulator.answer`), the mass each cut node
loses with its confirmed and possible labels (:meth:`~JointAccumulator.cut`), and, through the
:class:`~marginal_generate.decoding.estimate.CutEstimator`, where the estimate places a dropped child
(:meth:`~JointAccumulator.place`, :meth:`~JointAccumulator.spread`, :meth:`~JointAccumulator.arrive`). The estimate
credits a label with a child's mass when the child's set holds it; here the child's mass goes to that set instead,
so the per-label marginals of the placement are the per-label estimate, and the joint's estimate of one label is
``LabelScores.probs``.

Memory: one float per distinct set (or ``(confirmed, possible)`` pair) seen, at most one per explored answer or cut
node, the same order as the completions the search keeps; :meth:`~JointAccumulator.finish` keeps ``max_label_sets``
of each kind by name and folds the rest (:mod:`marginal_generate.label_sets`).

>>> from marginal_generate.labels.prefix_state import PrefixState
>>> joint = JointAccumulator(("unsafe", "S1"), ("S1",), batch_size=1, max_label_sets=8)
>>> joint.answer(0, frozenset(), 0.6)                                   # "safe"
>>> joint.answer(0, frozenset({"unsafe", "S1"}), 0.3)                   # "unsafe\\nS1"
>>> joint.cut(0, PrefixState(frozenset({"unsafe"}), frozenset({"S1"})), 0.1)  # cut after "unsafe\\n"
>>> d = joint.finish()[0]
>>> [(sorted(s), p) for s, p in d.label_sets], d.unexplored
([([], 0.6), (['S1', 'unsafe'], 0.3)], 0.1)
>>> [round(v, 3) for v in d.event("any", ("S1",))]   # lower, estimate (the cut mass stays at {unsafe}), upper
[0.3, 0.3, 0.4]
"""

from __future__ import annotations

from collections import defaultdict

from ..label_sets import LabelSetDistribution
from ..labels.prefix_state import PrefixState

__all__ = ["JointAccumulator", "check_max_label_sets"]

Sets = frozenset[str]


def check_max_label_sets(max_label_sets: object) -> None:
    """Raise a ``ValueError`` naming ``max_label_sets`` unless it is an integer >= 0.

    >>> check_max_label_sets(32)
    >>> check_max_label_sets(-1)
    Traceback (most recent call last):
    ...
    ValueError: `max_label_sets` must be an integer >= 0, got -1; 32 (the default) keeps the 32 most probable label \
sets per prompt and folds the rest into one entry, 0 keeps none.
    """
    if isinstance(max_label_sets, bool) or not isinstance(max_label_sets, int) or max_label_sets < 0:
        raise ValueError(
            f"`max_label_sets` must be an integer >= 0, got {max_label_sets!r}; 32 (the default) keeps the 32 most "
            "probable label sets per prompt and folds the rest into one entry, 0 keeps none."
        )


class JointAccumulator:
    """Collects a batch's label-set masses during the search; :meth:`finish` returns one
    :class:`~marginal_generate.label_sets.LabelSetDistribution` per prompt.

    Args:
        labels: the label space's labels (column order).
        categories: the labels an expected count counts by default.
        batch_size: prompts in the batch.
        max_label_sets: sets (and cut entries) kept by name per prompt, at least 1.
    """

    def __init__(self, labels: tuple[str, ...], categories: tuple[str, ...], batch_size: int, max_label_sets: int):
        self.labels, self.categories, self.keep = labels, categories, max_label_sets
        self.explored: list[defaultdict[Sets, float]] = [defaultdict(float) for _ in range(batch_size)]
        self.cuts: list[defaultdict[tuple[Sets, Sets], float]] = [defaultdict(float) for _ in range(batch_size)]
        self.placed: list[defaultdict[Sets, float]] = [defaultdict(float) for _ in range(batch_size)]

    def answer(self, row: int, labels: Sets, mass: float) -> None:
        """An explored answer of the tree (complete, or a prefix whose set can no longer change)."""
        self.explored[row][labels] += mass

    def cut(self, row: int, state: PrefixState, mass: float) -> None:
        """Mass the cuts removed below a node in ``state``; the estimate's placement starts it at the confirmed set."""
        self.cuts[row][state.confirmed, state.possible] += mass
        self.placed[row][state.confirmed] += mass

    def place(self, row: int, source: Sets, moves: list[tuple[Sets | None, float]]) -> None:
        """The estimate read the dropped children of a node that had confirmed ``source``: each ``(labels, mass)`` of
        ``moves``, in order, moves ``mass`` from ``source`` to ``labels`` (None: a roll-out, placed by :meth:`arrive`
        when it ends).

        >>> joint = JointAccumulator(("unsafe", "S1"), ("S1",), batch_size=1, max_label_sets=8)
        >>> joint.place(0, frozenset({"unsafe"}), [(frozenset({"unsafe", "S1"}), 0.25), (None, 0.5)])
        >>> sorted((sorted(s), m) for s, m in joint.placed[0].items())
        [(['S1', 'unsafe'], 0.25), (['unsafe'], -0.75)]
        """
        placed = self.placed[row]
        for labels, mass in moves:
            placed[source] -= mass
            if labels is not None:
                placed[labels] += mass

    def spread(self, row: int, source: Sets, moves: list[tuple[Sets, float]]) -> None:
        """The votes placed a child's mass held at ``source``: each ``(added, mass)`` moves ``mass`` from ``source`` to
        ``source | added``, in order.

        >>> joint = JointAccumulator(("unsafe", "S1", "S2"), ("S1", "S2"), batch_size=1, max_label_sets=8)
        >>> joint.spread(0, frozenset({"unsafe"}), [(frozenset({"S1"}), 0.25), (frozenset({"S2"}), 0.5)])
        >>> sorted((sorted(s), m) for s, m in joint.placed[0].items())
        [(['S1', 'unsafe'], 0.25), (['S2', 'unsafe'], 0.5), (['unsafe'], -0.75)]
        """
        placed = self.placed[row]
        for added, mass in moves:
            placed[source] -= mass
            placed[source | added] += mass

    def arrive(self, row: int, labels: Sets, mass: float) -> None:
        """A roll-out ended (or was stopped) with ``labels``: its mass goes there."""
        self.placed[row][labels] += mass

    def finish(self) -> list[LabelSetDistribution]:
        """One distribution per prompt."""
        return [
            LabelSetDistribution.of(self.labels, self.categories, explored, cuts, placed, self.keep)
            for explored, cuts, placed in zip(self.explored, self.cuts, self.placed)
        ]
