"""`LabelScores`: what marginalization returns, one row per prompt and one column per label.

>>> import torch
>>> s = LabelScores(labels=("unsafe", "S1"), probs=torch.tensor([[0.9, 0.25]], dtype=torch.float64),
...                 texts=["unsafe\\nS1"], strategy="token_probability")
>>> s.to_dict()["probs"]
[[0.9, 0.25]]
>>> s["S1"].tolist()
[0.25]
>>> s.to_records()[0]["unsafe"]
0.9
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from .label_sets import Bound, Event, LabelSetDistribution, check_bound

__all__ = ["Completion", "LabelScores"]


class Completion(NamedTuple):
    """One explored completion of ``any_place``'s output tree (an entry of :attr:`LabelScores.completions`).

    Still a tuple: ``text, probability, complete = c`` unpacks it, and :meth:`LabelScores.to_dict`
    writes it as the JSON list ``[text, probability, complete]``.

    Attributes:
        text: the completion's text (decoded, special tokens skipped); each text appears once.
        probability: its probability under the model: over the token paths that write the text (``sadness``
            as one token and as ``sad`` + ``ness``), the sum of their products of token probabilities
            (:mod:`~marginal_generate.decoding.completions`).
        complete: True for a finished completion (every path ended with EOS or reached ``max_new_tokens``);
            False for a prefix the search stopped expanding because its label set can no longer change
            (``probability`` is then the total of every completion that starts with it along those paths).

    >>> c = Completion("unsafe\\nS1", 0.75, True)
    >>> text, probability, complete = c
    >>> c.probability, list(c)
    (0.75, ['unsafe\\nS1', 0.75, True])
    """

    text: str
    probability: float
    complete: bool


@dataclass
class LabelScores:
    """Per-label probabilities for a batch of prompts.

    Attributes:
        labels: column names, e.g. ``("unsafe", "S1", ..., "S14")``.
        probs: float64 tensor ``[batch, len(labels)]``; NaN where a strategy does not define a label.
        texts: the greedy completion of each prompt.
        strategy: the strategy that produced ``probs``.
        lower, upper: for ``any_place``, bounds that always contain the exact probability.
        estimate: for ``any_place``, what ``probs`` holds: ``"best"`` (the best estimate of the
            exact probability, between ``lower`` and ``upper``) or ``"lower"`` (``lower`` itself);
            None for the other strategies.
        completions: for ``any_place``, per prompt, the most probable explored completions, each a
            :class:`Completion` ``(text, probability, complete)``; ``complete`` is False for a prefix
            whose label set can no longer change.
        stats: counters of the run (forward passes, frontier width per depth, ...).
        joint: for ``any_place``, per prompt, the distribution over label sets
            (:class:`~marginal_generate.label_sets.LabelSetDistribution`) behind :attr:`label_sets`,
            :meth:`prob_any`, :meth:`prob_all`, :meth:`cooccurrence`, :meth:`expected_count`,
            :meth:`expected_value` and :meth:`prob_at_least`; None for the other strategies or with
            ``max_label_sets=0``.
    """

    labels: tuple[str, ...]
    probs: torch.Tensor
    texts: list[str]
    strategy: str
    lower: torch.Tensor | None = None
    upper: torch.Tensor | None = None
    completions: list[list[Completion]] | None = None
    estimate: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    joint: list[LabelSetDistribution] | None = None

    def __post_init__(self) -> None:
        if self.probs.ndim != 2 or self.probs.shape[1] != len(self.labels):
            raise ValueError(
                f"`probs` must have shape [batch, {len(self.labels)}] (one column per label), "
                f"got {tuple(self.probs.shape)}."
            )
        if self.completions is not None:
            self.completions = [[Completion(*c) for c in row] for row in self.completions]

    def __len__(self) -> int:
        return self.probs.shape[0]

    def __getitem__(self, label: str) -> torch.Tensor:
        """The column of one label."""
        if label not in self.labels:
            raise KeyError(f"label {label!r} is not one of {list(self.labels)}")
        return self.probs[:, self.labels.index(label)]

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (JSON-ready; NaN stays NaN)."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "labels": list(self.labels),
            "probs": self.probs.tolist(),
            "texts": list(self.texts),
        }
        if self.lower is not None and self.upper is not None:
            out["lower"] = self.lower.tolist()
            out["upper"] = self.upper.tolist()
        if self.estimate is not None:
            out["estimate"] = self.estimate
        if self.completions is not None:
            out["completions"] = [[list(c) for c in row] for row in self.completions]
        if self.joint is not None:
            out["label_sets"] = [d.to_lists() for d in self.joint]
            out["unexplored"] = [d.unexplored for d in self.joint]
        out["stats"] = dict(self.stats)
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per prompt: the greedy text and one key per label."""
        rows = []
        for i, text in enumerate(self.texts):
            row: dict[str, Any] = {"text": text}
            row.update({label: float(self.probs[i, k]) for k, label in enumerate(self.labels)})
            rows.append(row)
        return rows

    def to_pandas(self) -> Any:
        """A DataFrame with one row per prompt (pandas comes with ``datasets``)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records())

    # ---- the distribution over label sets (any_place) ----------------------------------------------------------
    @property
    def label_sets(self) -> list[list[tuple[frozenset[str] | None, float]]] | None:
        """Per prompt, the explored label sets with their probabilities, most probable first (``any_place``; None
        otherwise).

        The empty set is "no label" (Llama Guard: ``safe``). With ``eps=0, top_p=1`` the list is the exact
        distribution and sums to 1; under a cut, :attr:`unexplored` holds the rest. Beyond ``max_label_sets``
        sets, the lighter ones are folded into one last entry ``(None, mass)`` (``[null, mass]`` in
        :meth:`to_dict`, where each set is a list of labels in column order).
        """
        return None if self.joint is None else [d.label_sets for d in self.joint]

    @property
    def unexplored(self) -> torch.Tensor | None:
        """float64 ``[batch]``: the mass the cuts removed before its answer's label set was known (``any_place``)."""
        return None if self.joint is None else torch.tensor([d.unexplored for d in self.joint], dtype=torch.float64)

    def prob_any(self, labels: str | Iterable[str], bound: Bound = "estimate") -> torch.Tensor:
        """float64 ``[batch]``: P(the answer's label set holds at least one of ``labels``).

        ``bound``: ``"lower"`` and ``"upper"`` are certified (the explored sets, plus each cut's mass when what its
        prefix had confirmed already decides the event, or when what it could still add might); ``"estimate"``
        lies between them: the explored sets plus the estimate's placement of the cut mass, which for one label is
        ``probs`` (with ``estimate="lower"``, the lower bound). See :mod:`~marginal_generate.label_sets`.

        >>> s = LabelScores.from_label_sets(("unsafe", "S1", "S9"), [{(): 0.5, ("unsafe", "S1"): 0.3,
        ...                                  ("unsafe", "S1", "S9"): 0.2}])
        >>> s.prob_any(["S1", "S9"]).tolist(), s.prob_all(["S1", "S9"]).tolist()
        ([0.5], [0.2])
        """
        return self._event("any", labels, bound, "prob_any")

    def prob_all(self, labels: str | Iterable[str], bound: Bound = "estimate") -> torch.Tensor:
        """float64 ``[batch]``: P(the answer's label set holds every one of ``labels``); ``bound`` as in
        :meth:`prob_any`."""
        return self._event("all", labels, bound, "prob_all")

    def cooccurrence(self, bound: Bound = "estimate") -> torch.Tensor:
        """float64 ``[batch, L, L]``: P(labels ``a`` and ``b`` both in the answer's set); the diagonal is each label's
        probability. Exact after folding (each fold keeps its pair masses).

        >>> s = LabelScores.from_label_sets(("unsafe", "S1"), [{(): 0.25, ("unsafe", "S1"): 0.75}])
        >>> s.cooccurrence()[0].tolist()
        [[0.75, 0.75], [0.75, 0.75]]
        """
        k = check_bound(bound)
        return torch.stack([d.cooccurrence()[k] for d in self._joint("cooccurrence")])

    def expected_count(self, labels: Iterable[str] | None = None, bound: Bound = "estimate") -> torch.Tensor:
        """float64 ``[batch]``: the expected number of ``labels`` in the answer's set.

        ``labels`` defaults to the label space's categories: for Llama Guard the ids ``S1``... and not the verdict
        ``unsafe`` (it would count every unsafe answer once more); pass ``labels=space.labels`` to count it.

        >>> s = LabelScores.from_label_sets(("unsafe", "S1", "S2"), [{(): 0.5, ("unsafe", "S1", "S2"): 0.5}],
        ...                                 categories=("S1", "S2"))
        >>> s.expected_count().tolist(), s.expected_count(labels=s.labels).tolist()
        ([1.0], [1.5])
        """
        joint = self._joint("expected_count")
        counted = joint[0].categories if labels is None else self._group(labels, "expected_count")
        ids = [self.labels.index(label) for label in counted]
        k = check_bound(bound)
        return torch.stack([d.cooccurrence()[k].diagonal()[ids].sum() for d in joint]).to(torch.float64)

    # ---- numeric answers (LabelSpace.numeric: each label is a value) --------------------------------------------
    def expected_value(self, bound: Bound = "estimate") -> torch.Tensor:
        """float64 ``[batch]``: E[value | the answer writes a value], for labels that are numbers
        (:meth:`~marginal_generate.labels.space.LabelSpace.numeric`; an answer holds at most one value).

        ``"lower"`` / ``"upper"`` are certified: each cut mass may go to any value its prefix could still write, or
        to no value, and the bound takes the placement that lowers (raises) the mean most. ``"estimate"``: the mean
        under the estimate's placement. NaN where no explored or cut mass can write a value.

        >>> s = LabelScores.from_label_sets(("1", "2", "3"), [{(): 0.2, ("1",): 0.4, ("3",): 0.4}])
        >>> s.expected_value().tolist(), s.prob_at_least(2).tolist()
        ([2.0], [0.4])
        """
        values = self._values("expected_value")
        k = check_bound(bound)
        out = []
        for d in self._joint("expected_value"):
            if k == 1:
                masses = d.cooccurrence()[1].diagonal().tolist()
                total = sum(masses)
                out.append(sum(v * m for v, m in zip(values, masses)) / total if total > 0 else math.nan)
                continue
            out.append(_extreme_mean(d, values, lowest=k == 0))
        return torch.tensor(out, dtype=torch.float64)

    def prob_at_least(self, value: float, bound: Bound = "estimate") -> torch.Tensor:
        """float64 ``[batch]``: P(the answer writes a value >= ``value``), for labels that are numbers; ``bound`` as
        in :meth:`prob_any`."""
        values = self._values("prob_at_least")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(f"`value` must be a number, got {value!r}; e.g. prob_at_least(50).")
        group = [label for label, v in zip(self.labels, values) if v >= value]
        if not group:
            check_bound(bound)
            return torch.zeros(len(self._joint("prob_at_least")), dtype=torch.float64)
        return self.prob_any(group, bound)

    @classmethod
    def from_label_sets(
        cls,
        labels: tuple[str, ...],
        sets: list[dict[tuple[str, ...], float]],
        categories: tuple[str, ...] | None = None,
        max_label_sets: int = 32,
    ) -> "LabelScores":
        """A ``LabelScores`` from known label-set distributions (one dict per prompt: labels -> probability), with
        nothing cut: for examples and tests of the methods above."""
        joint = [
            LabelSetDistribution.of(
                labels,
                labels if categories is None else categories,
                {frozenset(k): v for k, v in row.items()},
                {},
                {},
                max_label_sets,
            )
            for row in sets
        ]
        probs = torch.stack([d.cooccurrence()[1].diagonal() for d in joint])
        return cls(labels=labels, probs=probs, texts=[""] * len(sets), strategy="any_place", joint=joint)

    def _joint(self, what: str) -> list[LabelSetDistribution]:
        if self.joint is None:
            why = (
                "it was run with max_label_sets=0"
                if self.strategy == "any_place"
                else f"it comes from strategy {self.strategy!r}"
            )
            raise ValueError(
                f"`{what}` reads the distribution over label sets, which this LabelScores lacks ({why}); run strategy "
                "'any_place' with max_label_sets >= 1 (the default, 32)."
            )
        return self.joint

    def _group(self, labels: str | Iterable[str], what: str) -> tuple[str, ...]:
        group = (labels,) if isinstance(labels, str) else tuple(labels)
        unknown = [label for label in group if label not in self.labels]
        if unknown:
            raise ValueError(f"`{what}` got unknown labels {unknown}; the labels are {list(self.labels)}.")
        if not group:
            raise ValueError(f"`{what}` got no labels; pass one or more of {list(self.labels)}.")
        return group

    def _event(self, kind: Event, labels: str | Iterable[str], bound: Bound, what: str) -> torch.Tensor:
        group = self._group(labels, what)
        k = check_bound(bound)
        return torch.tensor([d.event(kind, group)[k] for d in self._joint(what)], dtype=torch.float64)

    def _values(self, what: str) -> list[float]:
        try:
            return [float(label) for label in self.labels]
        except ValueError:
            raise ValueError(
                f"`{what}` needs labels that are numbers (LabelSpace.numeric), got {list(self.labels)[:6]}"
                f"{'...' if len(self.labels) > 6 else ''}; use prob_any for other labels."
            ) from None


def _extreme_mean(d: LabelSetDistribution, values: list[float], lowest: bool) -> float:
    """The lowest (highest) mean value any placement of the cut mass allows: explored values are fixed, a cut
    entry with a confirmed value adds it, the others may add their lowest (highest) possible value or nothing; the
    optimum takes, in that order, every entry that moves the running mean (a linear-fractional program)."""
    index = d.index
    sign = 1.0 if lowest else -1.0
    masses = d.explored.pairs(index).diagonal().tolist()
    weight = sum(masses)
    total = sum(v * m for v, m in zip(values, masses))
    optional: list[tuple[float, float]] = []
    for c in d.cuts:
        if c.confirmed:
            v = values[index[next(iter(c.confirmed))]]
            total, weight = total + c.mass * v, weight + c.mass
        elif c.possible:
            reach = [values[index[label]] for label in c.possible]
            optional.append((min(reach) if lowest else max(reach), c.mass))
    for v, m in sorted(optional, key=lambda e: sign * e[0]):
        if weight > 0 and sign * v >= sign * total / weight:
            break
        total, weight = total + m * v, weight + m
    return total / weight if weight > 0 else math.nan
