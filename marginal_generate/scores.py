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

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

__all__ = ["Completion", "LabelScores"]


class Completion(NamedTuple):
    """One explored completion of ``any_place``'s output tree (an entry of :attr:`LabelScores.completions`).

    Still a tuple: ``text, probability, complete = c`` unpacks it, and :meth:`LabelScores.to_dict`
    writes it as the JSON list ``[text, probability, complete]``.

    Attributes:
        text: the completion's text (decoded, special tokens skipped).
        probability: its probability under the model (the product of its token probabilities).
        complete: True for a finished completion (it ended with EOS or reached ``max_new_tokens``);
            False for a prefix the search stopped expanding because its label set can no longer change
            (``probability`` is then the total of every completion that starts with it).

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
