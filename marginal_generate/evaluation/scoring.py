"""Scoring a batch of samples under every strategy of the run (one decode per group of strategies that share
parameters)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from ..prompted import PROMPTED_STRATEGIES
from .config import EvalConfig, Sample
from .groups import group_scores
from .params import (
    UNCERTAINTY_STRATEGIES,
    StrategyParams,
)
from .records import sample_digest
from .results import write_atomic

__all__ = [
    "Scorer",
    "group_strategies",
    "make_batches",
    "result_base",
    "score_batch",
    "content_free_scores",
]


@dataclass(frozen=True)
class _Group:
    """Strategies scored by one ``score`` call (the same ``max_new_tokens``; any_place's top_p/eps)."""

    strategies: tuple[str, ...]
    max_new_tokens: int
    top_p: float
    eps: float


def group_strategies(resolved: dict[str, StrategyParams]) -> list[_Group]:
    """One group per distinct ``max_new_tokens`` of the core strategies (top_p and eps matter to any_place only).

    >>> from marginal_generate.evaluation.params import StrategyParams as P
    >>> [g.strategies for g in group_strategies({"greedy": P(),
    ...     "any_place": P(eps=0.1), "fixed_place": P(max_new_tokens=9)})]
    [('greedy', 'any_place'), ('fixed_place',)]
    """
    groups: dict[int, list[str]] = {}
    for name, p in resolved.items():
        if name not in UNCERTAINTY_STRATEGIES and name not in PROMPTED_STRATEGIES:
            groups.setdefault(p.max_new_tokens, []).append(name)
    out = []
    for mnt, names in groups.items():
        tree = resolved.get("any_place") if "any_place" in names else None
        out.append(_Group(tuple(names), mnt, tree.top_p if tree else 0.99, tree.eps if tree else 0.01))
    return out


def _plain(values: Any) -> list[float | None]:
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in values]


class Scorer:
    """Encodes samples and scores batches of them under the run's strategies."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        space: Any,
        resolved: dict[str, StrategyParams],
        prompt_format: str,
        taxonomy: int,
        prompt_template: str | None = None,
        label_groups: dict[str, tuple[str, ...]] | None = None,
        search_budget_gb: float | None = None,
    ) -> None:
        from ..uncertainty import forced_answer

        self.model, self.tokenizer, self.space = model, tokenizer, space
        self.groups = group_strategies(resolved)
        self.uncertainty = [s for s in resolved if s in UNCERTAINTY_STRATEGIES]
        self.prompted = {s: p for s, p in resolved.items() if s in PROMPTED_STRATEGIES}
        self.prompt_format, self.taxonomy, self.prompt_template = prompt_format, taxonomy, prompt_template
        self.label_groups = label_groups or {}  # --groups: name -> labels, P(any of them) from any_place's label sets
        self.search_budget_gb = search_budget_gb  # --search-budget-gb: any_place's memory budget (None: free memory)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        needed = max(
            [g.max_new_tokens for g in self.groups] + [len(forced_answer(space).tokens) + 1 if self.uncertainty else 0]
        )
        context = getattr(model.config, "max_position_embeddings", None)
        self.max_prompt = None if context is None else context - needed
        self.context, self.needed = context, needed

    def encode(self, record: Any) -> list[int]:
        """Prompt ids of one record; ``ValueError`` with the reason if it cannot be scored."""
        from ..prompts.formats import render

        if self.prompt_template is not None:  # a label-list model: the record's text in the instruct prompt
            body = "\n".join(m["content"] for m in record.conversation)
            try:
                text = self.prompt_template.format(text=body, labels=", ".join(self.space.labels))
            except (KeyError, IndexError, ValueError) as err:
                raise ValueError(
                    f"`--prompt-template` {self.prompt_template!r} cannot be filled in ({type(err).__name__}: {err}); "
                    "it may name only {text} and {labels}; write a literal brace twice ({{ or }})"
                ) from None
        else:
            text = render(self.tokenizer, list(record.conversation), self.prompt_format, self.taxonomy)
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.max_prompt is not None and len(ids) > self.max_prompt:
            raise ValueError(
                f"prompt is {len(ids)} tokens; with {self.needed} answer tokens it exceeds the model's context of "
                f"{self.context} tokens (max_position_embeddings)"
            )
        return ids

    def score(self, prompts: list[list[int]], conversations: list[Any] | None = None) -> list[dict[str, Any]]:
        """Per-prompt results (scores per strategy, greedy text, uncertainty readings) of one batch.

        ``conversations`` (the samples' conversations, in the order of ``prompts``) are needed by the
        strategies that prompt once per label (``per_category_prompt``, ``unary``)."""
        import torch

        from ..generate import score
        from ..prompted import score_label_prompts
        from ..uncertainty import uncertainty_scores

        device = next(self.model.parameters()).device
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p)
            attention_mask[i, width - len(p) :] = 1
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        out: list[dict[str, Any]] = [{"scores": {}} for _ in prompts]
        for group in self.groups:
            scored = score(
                self.model,
                input_ids,
                attention_mask,
                self.space,
                list(group.strategies),
                max_new_tokens=group.max_new_tokens,
                top_p=group.top_p,
                eps=group.eps,
                search_budget_gb=self.search_budget_gb,
            )
            for name, result in scored.items():
                for i in range(len(prompts)):
                    out[i]["scores"][name] = _plain(result.probs[i].tolist())
                    out[i].setdefault("text", result.texts[i])
                    if result.lower is not None and result.upper is not None:
                        # any_place: probs is the estimate (result.estimate); the certified bounds go along
                        out[i].setdefault("lower", {})[name] = _plain(result.lower[i].tolist())
                        out[i].setdefault("upper", {})[name] = _plain(result.upper[i].tolist())
                        out[i].setdefault("estimate", {})[name] = result.estimate
                    if result.joint is not None:  # any_place: label sets, most probable first ([null, mass]: folded)
                        out[i].setdefault("label_sets", {})[name] = result.joint[i].to_lists()
                        out[i].setdefault("unexplored", {})[name] = result.joint[i].unexplored
                if result.joint is not None and self.label_groups:
                    for i, scores in enumerate(group_scores(result, self.label_groups)):
                        out[i].setdefault("groups", {})[name] = scores  # name -> [lower, estimate, upper]
        if self.prompted:
            if conversations is None or len(conversations) != len(prompts):
                raise ValueError(
                    f"strategies {sorted(self.prompted)} need the conversation of each of the {len(prompts)} prompts."
                )
            for name, p in self.prompted.items():
                result = score_label_prompts(
                    self.model,
                    self.tokenizer,
                    [list(c) for c in conversations],
                    name,
                    self.space.categories,
                    prompt_format=self.prompt_format,
                    taxonomy=self.taxonomy,
                    max_new_tokens=p.max_new_tokens,
                    batch_size=len(prompts),
                )
                for i in range(len(prompts)):
                    out[i]["scores"][name] = _plain(result.probs[i].tolist())
                    out[i].setdefault("text", result.texts[i])
        if self.uncertainty:
            u = uncertainty_scores(self.model, input_ids, attention_mask, self.space)
            cats = self.space.categories
            for i in range(len(prompts)):
                out[i]["uncertainty"] = {
                    "lead": u.leads[i],
                    "p_unsafe": float(u.p_unsafe[i]),
                    "category_probs": [float(v) for v in u.category_probs[i]],
                    "top1": [c for c, v in zip(cats, u.top1[i].tolist()) if v],
                    "top2": [c for c, v in zip(cats, u.top2[i].tolist()) if v],
                    **{k: float(v[i]) for k, v in u.uncertainty.items()},
                }
            for name in self.uncertainty:
                probs = u.to_label_scores(name).probs
                for i in range(len(prompts)):
                    out[i]["scores"][name] = _plain(probs[i].tolist())
        return out


def result_base(sample: Sample) -> dict[str, Any]:
    """What every result line of a sample holds: its id, record index, split, references and record digest."""
    r = sample.record
    base = {
        "sample": sample.id,
        "index": r.index,
        "split": sample.split,
        "unsafe": 0 if r.is_safe else 1,
        "categories": list(r.categories),
        "record_digest": sample_digest(sample),
    }
    if getattr(r, "soft_labels", None) is not None:
        base["soft_labels"] = dict(r.soft_labels)
    return base


def make_batches(lengths: dict[int, int], batch_size: int) -> list[list[int]]:
    """Sample ids sorted by prompt length (ties by id), cut into batches.

    >>> make_batches({0: 5, 1: 2, 2: 9, 3: 2}, 2)
    [[1, 3], [0, 2]]
    """
    order = sorted(lengths, key=lambda k: (lengths[k], k))
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class _ContentFree:
    """A record-like holder of a content-free conversation (what :meth:`Scorer.encode` reads)."""

    conversation: tuple[dict[str, str], ...]


def content_free_scores(config: EvalConfig, scorer: Scorer) -> dict[str, list[list[float | None]]]:
    """Each strategy's scores on the content-free inputs (cached in ``content_free.json``)."""
    from ..calibration import CONTENT_FREE_INPUTS

    path = os.path.join(config.output_dir, "content_free.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    conversations = [({"role": "user", "content": text},) for text in CONTENT_FREE_INPUTS]
    prompts = [scorer.encode(_ContentFree(conv)) for conv in conversations]
    results = scorer.score(prompts, conversations)
    scores = {name: [r["scores"][name] for r in results] for name in results[0]["scores"]}
    write_atomic(path, json.dumps(scores) + "\n")
    return scores


def score_batch(
    scorer: Scorer, batch: list[int], encoded: dict[int, list[int]], by_id: dict[int, Sample], done: dict[int, Any]
) -> list[dict[str, Any]]:
    """Results of the not-done samples of a batch; the whole batch is scored so its numbers never change.
    If the batch fails, each sample is tried alone and a failing one is reported with its reason."""
    try:
        scored = scorer.score([encoded[k] for k in batch], [by_id[k].record.conversation for k in batch])
    except Exception:  # noqa: BLE001
        scored = []
        for k in batch:
            try:
                scored.append(scorer.score([encoded[k]], [by_id[k].record.conversation])[0])
            except Exception as err:  # noqa: BLE001
                scored.append({"error": f"{type(err).__name__}: {err}"})
    return [dict(result_base(by_id[k]), **s) for k, s in zip(batch, scored) if k not in done]
