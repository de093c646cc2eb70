"""The served model: conversations to token ids, and one batch of them to per-prompt results.

:class:`Scorer` holds the model, its tokenizer and label space, the search settings the server fixes (``eps``,
``top_p``, ``max_new_tokens``) and the decision rule; :meth:`Scorer.score_batch` is the batcher's model call:
it left-pads the prompts and calls :func:`marginal_generate.score` once, as ``mg.score`` on the same list would.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from .decisions import Decider
from .mapping import category_scores, gathered

__all__ = ["Scorer", "BatchKey", "EMBEDDED_NAME", "served_name"]

#: the served name of the embedded tiny guard (``model`` in requests and responses)
EMBEDDED_NAME = "tiny-guard"
#: ``(strategy, labels)``: prompts with the same key may share a model call (``labels`` None: the server's own)
BatchKey = tuple[str, "tuple[str, ...] | None"]


class Scorer:
    """A loaded guard model ready to score batches.

    Args:
        model, tokenizer: from :func:`marginal_generate.loading.load_model` (the tokenizer pads on the left).
        name: the served model name (``model`` in requests and responses).
        grammar: ``llama_guard`` (a verdict and S-categories: ``/v1/moderations`` maps them to OpenAI's keys) or
            ``label_list`` (an instruct model answering with ``labels``; ``/v1/classify`` only).
        taxonomy: Llama Guard 3 or 2.
        labels, prompt_template: the label list and its prompt, for ``label_list``.
        strategies: the strategies requests may ask for (default: every one the grammar supports).
        policy: a loaded :class:`~marginal_generate.Policy`, or None for the 0.5 rule.
        max_new_tokens, eps, top_p: the search settings, fixed by the operator.
        search_budget_gb: the memory any_place's tree search may hold per model call, in GB (``math.inf``: no
            limit; None: the memory free on the model's device), as in :func:`marginal_generate.score`.
        prompt_format: how conversations become prompts (see :func:`marginal_generate.render`).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str,
        grammar: str = "llama_guard",
        taxonomy: int = 3,
        labels: Sequence[str] | None = None,
        prompt_template: str | None = None,
        strategies: Sequence[str] | None = None,
        policy: Any = None,
        max_new_tokens: int = 20,
        eps: float = 0.01,
        top_p: float = 0.99,
        prompt_format: str = "auto",
        search_budget_gb: float | None = None,
    ) -> None:
        from ..decoding.budget import SearchBudget
        from ..evaluation.config import LABEL_LIST_PROMPT
        from ..labels.space import LabelSpace
        from ..strategies import STRATEGIES

        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.grammar, self.taxonomy, self.prompt_format = grammar, taxonomy, prompt_format
        self.max_new_tokens, self.eps, self.top_p = max_new_tokens, eps, top_p
        if search_budget_gb is not None:
            SearchBudget.of(search_budget_gb)  # its check: a number of GB > 0 (math.inf: no limit)
        self.search_budget_gb = search_budget_gb
        if grammar == "llama_guard":
            self.space = LabelSpace.llama_guard(tokenizer, taxonomy=taxonomy)
            self.prompt_template = None
        elif grammar == "label_list":
            if not labels:
                raise ValueError("--grammar label_list needs --labels, e.g. --labels joy,anger,sadness.")
            self.space = LabelSpace.label_list(tokenizer, list(labels))
            self.prompt_template = prompt_template or LABEL_LIST_PROMPT
            if "{text}" not in self.prompt_template:
                raise ValueError(f"--prompt-template must contain {{text}}, got {self.prompt_template!r}.")
        else:
            raise ValueError(f"--grammar must be llama_guard or label_list, got {grammar!r}.")
        supported = [s for s in STRATEGIES if s != "first_token" or self.space.verbalizer is not None]
        chosen = list(strategies) if strategies else supported
        for s in chosen:
            if s not in STRATEGIES:
                raise ValueError(f"--strategies: {s!r} is not a strategy; choose from {', '.join(STRATEGIES)}.")
            self.space.check_strategy(s)
        self.strategies = tuple(chosen)
        if grammar == "llama_guard" and "any_place" not in self.strategies:
            raise ValueError(
                f"--strategies {','.join(self.strategies)} leaves out any_place, which /v1/moderations scores with; "
                "add it."
            )
        self.default_strategy = "any_place" if "any_place" in self.strategies else self.strategies[0]
        self.decider = Decider(policy, self.space.labels, self.default_strategy)
        self._spaces: dict[tuple[str, ...], Any] = {}
        context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        #: the longest prompt (guard template included) the model takes, leaving room for the answer
        self.max_prompt_tokens = math.inf if context is None else max(int(context) - max_new_tokens, 1)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.space.labels)

    def space_for(self, labels: tuple[str, ...] | None) -> Any:
        """The label space of a request (its own label list on a ``label_list`` server)."""
        if labels is None or labels == self.labels:
            return self.space
        if labels not in self._spaces:
            from ..labels.space import LabelSpace

            if len(self._spaces) >= 64:
                self._spaces.pop(next(iter(self._spaces)))
            self._spaces[labels] = LabelSpace.label_list(self.tokenizer, list(labels))
        return self._spaces[labels]

    def encode(self, conversation: Sequence[dict[str, str]], labels: tuple[str, ...] | None = None) -> list[int]:
        """The prompt's token ids (``ValueError`` for a conversation the prompt format refuses)."""
        from ..prompts.formats import check_conversation, render

        if self.prompt_template is not None:
            check_conversation(conversation)
            text = self.prompt_template.format(
                text="\n".join(m["content"] for m in conversation), labels=", ".join(labels or self.labels)
            )
        else:
            text = render(self.tokenizer, conversation, self.prompt_format, self.taxonomy)  # type: ignore[arg-type]
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def score_batch(self, key: Hashable, rows: list[list[int]]) -> list[dict[str, Any]]:
        """Score ``rows`` (token ids) as one left-padded batch under ``key = (strategy, labels)``; one result
        dict per row: ``label_scores``, ``label_bounds`` (``any_place``; else None), ``category_scores`` (OpenAI's
        keys; Llama Guard with ``any_place``; else None), ``text`` (the greedy answer), ``decision``,
        ``decision_by``, ``outcomes``."""
        import torch

        from ..generate import score
        from ..padding import left_pad

        strategy, labels = key  # type: ignore[misc]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        input_ids, attention_mask = left_pad(rows, pad)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            scores = score(
                self.model,
                input_ids.to(device),
                attention_mask.to(device),
                self.space_for(labels),
                [strategy],
                max_new_tokens=self.max_new_tokens,
                top_p=self.top_p,
                eps=self.eps,
                search_budget_gb=self.search_budget_gb,
            )[strategy]
        probs = scores.probs.cpu().numpy()
        keys = None
        if self.grammar == "llama_guard" and strategy == "any_place":
            keys = {k: v.cpu().numpy() for k, v in category_scores(scores, self.taxonomy).items()}
        decisions = (
            self.decider.rows(probs, strategy) if labels is None else Decider(None, scores.labels).rows(probs, strategy)
        )
        out = []
        for i in range(len(rows)):
            bounds = None
            if scores.lower is not None and scores.upper is not None:
                bounds = {
                    label: [float(scores.lower[i, j]), float(scores.upper[i, j])]
                    for j, label in enumerate(scores.labels)
                }
            out.append(
                {
                    "label_scores": {label: _json_float(probs[i, j]) for j, label in enumerate(scores.labels)},
                    "label_bounds": bounds,
                    "category_scores": None if keys is None else {k: float(v[i]) for k, v in keys.items()},
                    "text": scores.texts[i],
                    "decision": decisions[i]["decision"],
                    "decision_by": decisions[i]["by"],
                    "outcomes": decisions[i]["outcomes"],
                }
            )
        return out

    def category_flags(self, result: dict[str, Any]) -> dict[str, bool]:
        """OpenAI's ``categories``: a key is flagged when any label it gathers has an outcome other than allow."""
        ids = gathered(self.taxonomy)
        return {key: any(result["outcomes"][i] != "allow" for i in ids[key]) for key in ids}


def _json_float(x: float) -> float | None:
    """A probability for JSON: NaN (a label the strategy does not define) becomes None."""
    x = float(x)
    return None if np.isnan(x) else x


def served_name(model_id: str | None) -> str:
    """The name a model is served under: the embedded guard's ``tiny-guard``, else the id (a path's last folder).

    >>> from marginal_generate.default_model import DEFAULT_MODEL
    >>> served_name(None), served_name("meta-llama/Llama-Guard-3-8B"), served_name(DEFAULT_MODEL + "/")
    ('tiny-guard', 'meta-llama/Llama-Guard-3-8B', 'tiny-guard')
    """
    if model_id is None:
        return EMBEDDED_NAME
    if os.path.isdir(model_id):
        return os.path.basename(os.path.normpath(model_id))
    return model_id
