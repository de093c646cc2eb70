"""The distribution over label *sets* that ``any_place``'s walk finds, and the events read from it.

Each answer of the output tree has one label set (Llama Guard: ``{}`` for ``safe``, ``{unsafe, S1, S10}`` for
``unsafe\\nS1,S10``). The walk leaves, per prompt, three kinds of mass that sum to 1:

- **explored** answers (complete, or a prefix whose set can no longer change): exact mass per label set;
- **cut** mass (``top_p``, ``eps``), removed below a prefix whose confirmed labels ``C`` and possible labels ``P``
  are known: every answer below it has a set ``S`` with ``C <= S <= C | P``;
- the estimate's **placement** of that cut mass (:mod:`~marginal_generate.decoding.estimate`, kept per set by
  :mod:`~marginal_generate.decoding.joint`): each dropped child the estimate reads moves its mass from ``C`` to the
  set it most likely ends in; what it does not read stays at ``C``.

An event is "at least one of the labels ``G``" (``any``) or "all of them" (``all``); both only grow with the set, so
a cut entry is certainly inside the event when ``C`` decides it (the ``lower`` bound) and possibly when ``C | P``
could (the ``upper`` bound). The ``estimate`` counts the explored sets and the placement: for one label it is the
per-label estimate (``LabelScores.probs``), since the placement moves exactly the mass the per-label estimate credits.

Memory: the ``keep`` heaviest sets of each kind are kept by name; the rest are *folded* into one entry (:class:`Folded`)
that keeps its mass, the mass of each label and of each pair of labels, and the labels every / some folded set
holds. Events of one or two labels (and so co-occurrence and expected counts) stay exact after folding; for larger
groups the folded entry gives certified bounds and its estimate is their midpoint.

>>> explored = {frozenset(): 0.3, frozenset({"unsafe", "S1"}): 0.5, frozenset({"unsafe", "S1", "S2"}): 0.2}
>>> d = LabelSetDistribution.of(("unsafe", "S1", "S2"), ("S1", "S2"), explored, {}, {}, keep=2)
>>> [(sorted(s) if s is not None else None, round(p, 2)) for s, p in d.label_sets]
[(['S1', 'unsafe'], 0.5), ([], 0.3), (None, 0.2)]
>>> [round(v, 3) for v in d.event("any", ("S2",))], [round(v, 3) for v in d.event("all", ("S1", "S2"))]
([0.2, 0.2, 0.2], [0.2, 0.2, 0.2])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch

__all__ = [
    "Bound",
    "BOUNDS",
    "Event",
    "Folded",
    "SetMasses",
    "CutEntry",
    "LabelSetDistribution",
    "check_bound",
    "set_text",
]

Bound = Literal["estimate", "lower", "upper"]
BOUNDS: tuple[str, ...] = get_args(Bound)
Event = Literal["any", "all"]
Triple = tuple[float, float, float]  # lower, estimate, upper


def check_bound(bound: object) -> int:
    """The position of ``bound`` in a ``(lower, estimate, upper)`` triple; a ``ValueError`` naming it otherwise.

    >>> check_bound("upper")
    2
    >>> check_bound("max")
    Traceback (most recent call last):
    ...
    ValueError: `bound` must be one of ['estimate', 'lower', 'upper'], got 'max'; 'lower' and 'upper' are certified \
bounds, 'estimate' lies between them.
    """
    if bound not in BOUNDS:
        raise ValueError(
            f"`bound` must be one of {list(BOUNDS)}, got {bound!r}; 'lower' and 'upper' are certified bounds, "
            "'estimate' lies between them."
        )
    return {"lower": 0, "estimate": 1, "upper": 2}[bound]


def set_text(labels: frozenset[str] | None, order: Sequence[str], empty: str = "no label") -> str:
    """A label set as text: its labels in ``order`` joined by commas, ``empty`` for the empty set (Llama Guard:
    ``safe``), ``other (folded)`` for the folded entry (None).

    >>> order = ("unsafe", "S1", "S10")
    >>> set_text(frozenset({"S10", "unsafe", "S1"}), order), set_text(frozenset(), order, "safe"), set_text(None, order)
    ('unsafe, S1, S10', 'safe', 'other (folded)')
    """
    if labels is None:
        return "other (folded)"
    return ", ".join(label for label in order if label in labels) or empty


def holds(kind: Event, group: frozenset[str], labels: frozenset[str]) -> bool:
    """Whether a label set is inside the event: ``any`` label of ``group`` in it, or ``all`` of them.

    >>> group = frozenset({"S1", "S9"})
    >>> holds("any", group, frozenset({"S9"})), holds("all", group, frozenset({"S9"}))
    (True, False)
    """
    return not group.isdisjoint(labels) if kind == "any" else group <= labels


@dataclass(frozen=True)
class Folded:
    """Label sets folded into one entry: their total ``mass``; ``pairs[a, b]``, the mass of the folded sets that hold
    labels ``a`` and ``b`` (the diagonal: each label's mass); the labels every folded set holds (``common``) and
    those some folded set holds (``union``)."""

    mass: float
    pairs: torch.Tensor
    common: frozenset[str]
    union: frozenset[str]

    @classmethod
    def of(cls, entries: list[tuple[frozenset[str], float]], index: Mapping[str, int]) -> Folded | None:
        """The fold of ``entries`` (None when there are none)."""
        if not entries:
            return None
        pairs = [[0.0] * len(index) for _ in index]  # plain floats: many small updates, one tensor at the end
        for labels, mass in entries:
            ids = [index[label] for label in labels]
            for i in ids:
                row = pairs[i]
                for j in ids:
                    row[j] += mass
        sets = [labels for labels, _ in entries]
        return cls(
            mass=sum(m for _, m in entries),
            pairs=torch.tensor(pairs, dtype=torch.float64),
            common=frozenset.intersection(*sets),
            union=frozenset.union(*sets),
        )

    def event(self, kind: Event, group: frozenset[str], index: Mapping[str, int]) -> Triple:
        """The folded mass inside the event: exact for one or two labels, else certified bounds and their midpoint.

        >>> index = {"a": 0, "b": 1, "c": 2}
        >>> f = Folded.of([(frozenset("ab"), 0.1), (frozenset("c"), 0.2), (frozenset("abc"), 0.1)], index)
        >>> [round(v, 3) for v in f.event("any", frozenset("ac"), index)]   # two labels: exact
        [0.4, 0.4, 0.4]
        >>> [round(v, 3) for v in f.event("all", frozenset("abc"), index)]  # three: bounds (the truth is 0.1)
        [0.0, 0.05, 0.1]
        """
        if holds(kind, group, self.common):
            return self.mass, self.mass, self.mass
        if not holds(kind, group, self.union):
            return 0.0, 0.0, 0.0
        ids = [index[label] for label in sorted(group & self.union, key=index.__getitem__)]
        single = [float(self.pairs[i, i]) for i in ids]
        pair = {(i, j): float(self.pairs[i, j]) for k, i in enumerate(ids) for j in ids[k + 1 :]}
        if kind == "any":
            if len(ids) == 1:
                return single[0], single[0], single[0]
            unions = [single[ids.index(i)] + single[ids.index(j)] - p for (i, j), p in pair.items()]
            lower = max(max(unions), sum(single) - sum(pair.values()))  # Bonferroni: P(union) >= sum - pairs
            upper = min(self.mass, sum(single))
        else:
            if len(ids) == 1:
                return single[0], single[0], single[0]
            lower = max(0.0, sum(single) - (len(ids) - 1) * self.mass)
            upper = min(pair.values())
        if len(ids) == 2:
            lower = upper = unions[0] if kind == "any" else upper
        lower = min(max(lower, 0.0), upper)
        return lower, (lower + upper) / 2, upper


@dataclass(frozen=True)
class SetMasses:
    """Masses of label sets: the heaviest ones by name (``top``, most probable first), the rest ``other``."""

    top: tuple[tuple[frozenset[str], float], ...]
    other: Folded | None

    @classmethod
    def of(cls, masses: Mapping[frozenset[str], float], keep: int, index: Mapping[str, int]) -> SetMasses:
        """The ``keep`` heaviest sets of ``masses`` by name and the rest folded; entries of mass <= 0 are dropped.

        >>> m = SetMasses.of({frozenset(): 0.5, frozenset({"a"}): 0.25, frozenset({"b"}): 0.25}, 2, {"a": 0, "b": 1})
        >>> [sorted(s) for s, _ in m.top], m.other.mass
        ([[], ['a']], 0.25)
        """
        entries = [(labels, m) for labels, m in masses.items() if m > 0.0]
        entries.sort(key=_mass, reverse=True)  # heaviest first; stable, so equal masses keep their order ...
        if len({m for _, m in entries}) < len(entries):  # ... which only they need: then the smaller sets first
            entries = _break_ties(entries, index)
        return cls(tuple(entries[:keep]), Folded.of(entries[keep:], index))

    @property
    def mass(self) -> float:
        return sum(m for _, m in self.top) + (self.other.mass if self.other is not None else 0.0)

    def event(self, kind: Event, group: frozenset[str], index: Mapping[str, int]) -> Triple:
        """The mass inside the event: exact over ``top``, :meth:`Folded.event` over ``other``."""
        inside = sum(m for labels, m in self.top if holds(kind, group, labels))
        if self.other is None:
            return inside, inside, inside
        lower, estimate, upper = self.other.event(kind, group, index)
        return inside + lower, inside + estimate, inside + upper

    def pairs(self, index: Mapping[str, int]) -> torch.Tensor:
        """``[L, L]``: the mass of the sets that hold both labels (exact, folded ones included)."""
        out = torch.zeros(len(index), len(index), dtype=torch.float64)
        for labels, m in self.top:
            out += m * _outer(labels, index)
        return out + self.other.pairs if self.other is not None else out


def _mass(entry: tuple[frozenset[str], float]) -> float:
    return entry[1]


def _break_ties(
    entries: list[tuple[frozenset[str], float]], index: Mapping[str, int]
) -> list[tuple[frozenset[str], float]]:
    """``entries`` (sorted by mass, heaviest first) with each run of equal masses ordered by set size, then by the
    sets' label columns: the order of ``(-mass, size, columns)``, which only ties need.

    >>> index = {"a": 0, "b": 1, "c": 2}
    >>> entries = [(frozenset("c"), 0.5), (frozenset("ab"), 0.25), (frozenset("b"), 0.25), (frozenset("a"), 0.25)]
    >>> [("".join(sorted(s)), m) for s, m in _break_ties(entries, index)]
    [('c', 0.5), ('a', 0.25), ('b', 0.25), ('ab', 0.25)]
    """
    out: list[tuple[frozenset[str], float]] = []
    start = 0
    for end in range(1, len(entries) + 1):
        if end == len(entries) or entries[end][1] != entries[start][1]:
            run = entries[start:end]
            if len(run) > 1:
                run.sort(key=lambda e: (len(e[0]), sorted(index[label] for label in e[0])))
            out.extend(run)
            start = end
    return out


@dataclass(frozen=True)
class CutEntry:
    """Mass cut below prefixes that had confirmed ``confirmed`` and could still add ``possible``."""

    confirmed: frozenset[str]
    possible: frozenset[str]
    mass: float


@dataclass(frozen=True)
class LabelSetDistribution:
    """One prompt's label-set distribution (see the module docstring).

    Attributes:
        labels: every label, in column order.
        categories: the labels :meth:`expected_count` counts by default (Llama Guard: the categories, not the
            verdict ``unsafe``).
        explored: the explored answers' sets.
        cuts: the cut mass by what its prefixes knew (the lightest entries beyond ``keep`` merged into one, which
            keeps the bounds certified: their common confirmed labels, every label they could add).
        placed: where the estimate places the cut mass.
    """

    labels: tuple[str, ...]
    categories: tuple[str, ...]
    explored: SetMasses
    cuts: tuple[CutEntry, ...]
    placed: SetMasses

    @classmethod
    def of(
        cls,
        labels: tuple[str, ...],
        categories: tuple[str, ...],
        explored: Mapping[frozenset[str], float],
        cuts: Mapping[tuple[frozenset[str], frozenset[str]], float],
        placed: Mapping[frozenset[str], float],
        keep: int,
    ) -> LabelSetDistribution:
        """Build from plain masses: ``cuts`` maps ``(confirmed, possible)`` to mass; ``keep`` entries of each kind
        are kept by name."""
        index = {label: k for k, label in enumerate(labels)}
        entries = sorted(((c, p, m) for (c, p), m in cuts.items() if m > 0.0), key=lambda e: -e[2])
        kept = [CutEntry(c, p, m) for c, p, m in entries[:keep]]
        rest = entries[keep:]
        if rest:
            common = frozenset.intersection(*(c for c, _, _ in rest))
            reach = frozenset.union(*(c | p for c, p, _ in rest))
            kept.append(CutEntry(common, reach - common, sum(m for _, _, m in rest)))
        return cls(
            labels, categories, SetMasses.of(explored, keep, index), tuple(kept), SetMasses.of(placed, keep, index)
        )

    @property
    def index(self) -> dict[str, int]:
        return {label: k for k, label in enumerate(self.labels)}

    @property
    def label_sets(self) -> list[tuple[frozenset[str] | None, float]]:
        """The explored sets, most probable first; ``(None, mass)`` last for the folded ones, if any."""
        out: list[tuple[frozenset[str] | None, float]] = list(self.explored.top)
        if self.explored.other is not None:
            out.append((None, self.explored.other.mass))
        return out

    @property
    def unexplored(self) -> float:
        """The mass cut before its answer's set was known."""
        return sum(c.mass for c in self.cuts)

    def event(self, kind: Event, group: tuple[str, ...] | frozenset[str]) -> Triple:
        """``(lower, estimate, upper)`` of P(any / all of ``group``)."""
        group = frozenset(group)
        index = self.index
        lower, estimate, upper = self.explored.event(kind, group, index)
        sure = sum(c.mass for c in self.cuts if holds(kind, group, c.confirmed))
        could = sum(c.mass for c in self.cuts if holds(kind, group, c.confirmed | c.possible))
        placed = self.placed.event(kind, group, index)
        lower, upper = lower + sure, upper + could
        estimate = min(max(estimate + placed[1], lower), upper)
        return lower, estimate, upper

    def cooccurrence(self) -> torch.Tensor:
        """``[3, L, L]``: lower, estimate and upper of P(a and b) (exact matrix sums, folded sets included)."""
        index = self.index
        explored = self.explored.pairs(index)
        sure = torch.zeros_like(explored)
        could = torch.zeros_like(explored)
        for c in self.cuts:
            sure += c.mass * _outer(c.confirmed, index)
            could += c.mass * _outer(c.confirmed | c.possible, index)
        lower, upper = explored + sure, explored + could
        estimate = torch.minimum(torch.maximum(explored + self.placed.pairs(index), lower), upper)
        return torch.stack([lower, estimate, upper])

    def to_lists(self) -> list[list[object]]:
        """:attr:`label_sets` as JSON-ready lists: ``[[labels in column order], probability]``, ``[None, mass]``."""
        index = self.index
        return [
            [sorted(labels, key=index.__getitem__) if labels is not None else None, mass]
            for labels, mass in self.label_sets
        ]


def _outer(labels: frozenset[str], index: Mapping[str, int]) -> torch.Tensor:
    """``v v^T`` for the indicator ``v`` of ``labels``."""
    v = torch.zeros(len(index), dtype=torch.float64)
    for label in labels:
        v[index[label]] = 1.0
    return torch.outer(v, v)
