"""OpenAI's 13 moderation categories from a Llama Guard taxonomy: the table and the scores.

A key scores P(any of the Llama Guard categories it gathers), read from the joint distribution of ``any_place``'s
tree search (:meth:`~marginal_generate.LabelScores.prob_any`), not the max or the sum of the per-category
probabilities. A category is gathered under a key when what it covers lies inside what the key covers
(OpenAI's subcategories lie inside their parents: ``illicit/violent`` inside ``illicit``), so a key's score is
the probability of the part of it the guard can see. A key that no category lies inside scores 0, and its
``category_applied_input_types`` is ``[]``: the guard says nothing about it. Categories gathered under no key
(Defamation, Specialized Advice, Privacy, Intellectual Property, Elections) still count in ``label_scores`` and
in the decision.

>>> gathered(3)["illicit/violent"], gathered(2)["illicit/violent"]
(('S1', 'S9'), ('S1', 'S8'))
>>> gathered(3)["harassment"]
()
>>> print(mapping_table().splitlines()[2])
| `harassment` | none: scores 0 | none: scores 0 |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

from ..labels.taxonomy import get_taxonomy

__all__ = ["OPENAI_CATEGORIES", "GATHERS", "UNMAPPED", "gathered", "category_scores", "mapping_table"]

#: OpenAI's moderation category keys, in the order of the official SDK's ``Moderation`` model.
OPENAI_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

#: key -> the Llama Guard categories it gathers, by the name in the model's prompt (the same in Llama Guard 2 and
#: 3; a name a taxonomy lacks is skipped there, e.g. Code Interpreter Abuse in Llama Guard 2).
GATHERS: Mapping[str, tuple[str, ...]] = {
    "harassment": (),  # Llama Guard has no harassment category (Hate is about protected characteristics)
    "harassment/threatening": (),
    "hate": ("Hate",),
    "hate/threatening": (),  # hate AND violence: P(any) cannot express an intersection
    "illicit": (
        "Violent Crimes",
        "Non-Violent Crimes",
        "Sex Crimes",
        "Indiscriminate Weapons",
        "Code Interpreter Abuse",
    ),
    "illicit/violent": ("Violent Crimes", "Indiscriminate Weapons"),
    "self-harm": ("Self-Harm",),
    "self-harm/instructions": (),  # Self-Harm covers instructions, intent and encouragement alike
    "self-harm/intent": (),
    "sexual": ("Sexual Content", "Child Exploitation"),
    "sexual/minors": ("Child Exploitation",),
    "violence": ("Violent Crimes",),
    "violence/graphic": (),
}
#: keys nothing maps to: they score 0 with ``category_applied_input_types`` ``[]``.
UNMAPPED: tuple[str, ...] = tuple(k for k in OPENAI_CATEGORIES if not GATHERS[k])

Bound = Literal["estimate", "lower", "upper"]


def gathered(taxonomy: int = 3) -> dict[str, tuple[str, ...]]:
    """``{OpenAI key: category ids}`` for Llama Guard ``taxonomy`` (2 or 3), every key present (``()``: none)."""
    ids = {c.prompt_name: c.id for c in get_taxonomy(taxonomy)}
    return {key: tuple(ids[name] for name in GATHERS[key] if name in ids) for key in OPENAI_CATEGORIES}


def category_scores(scores: object, taxonomy: int = 3, bound: Bound = "estimate") -> dict[str, torch.Tensor]:
    """``{OpenAI key: float64 tensor [N]}`` from ``any_place`` :class:`~marginal_generate.LabelScores`: P(any of the
    key's categories) by :meth:`~marginal_generate.LabelScores.prob_any` (``bound`` picks the estimate or a bound),
    zeros for a key nothing maps to."""
    n = len(scores)  # type: ignore[arg-type]
    out = {}
    for key, ids in gathered(taxonomy).items():
        if ids:
            out[key] = scores.prob_any(list(ids), bound=bound).to(torch.float64)  # type: ignore[attr-defined]
        else:
            out[key] = torch.zeros(n, dtype=torch.float64)
    return out


def mapping_table() -> str:
    """The table as Markdown (README, section Serve): each key with the Llama Guard 3 and 2 categories it gathers."""

    def cell(taxonomy: int, key: str) -> str:
        ids = gathered(taxonomy)[key]
        if not ids:
            return "none: scores 0"
        names = get_taxonomy(taxonomy)
        return (
            "any of " + ", ".join(f"{i} {names[i].prompt_name}" for i in ids)
            if len(ids) > 1
            else (f"{ids[0]} {names[ids[0]].prompt_name}")
        )

    rows = ["| OpenAI key | Llama Guard 3 | Llama Guard 2 |", "| --- | --- | --- |"]
    rows += [f"| `{key}` | {cell(3, key)} | {cell(2, key)} |" for key in OPENAI_CATEGORIES]
    return "\n".join(rows)
