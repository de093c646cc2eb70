"""Conversations in, :class:`~marginal_generate.LabelScores` out, batch by batch: what both bridges call.

:class:`ConversationScorer` fixes the model, the Llama Guard label space, the prompt format and one strategy's
settings once (each checked there, so a bad argument fails when the bridge is built, not inside a benchmark), then
scores any list of conversations in batches of ``batch_size``: one :func:`~marginal_generate.score` per batch for
the strategies one decode defines, one :func:`~marginal_generate.score_label_prompts` per batch for the prompted ones.

>>> import marginal_generate as mg
>>> model, tokenizer = mg.load_default()
>>> scorer = ConversationScorer(model, tokenizer, batch_size=2)
>>> out = scorer([mg.conversation("How do I bake bread?"), mg.conversation("Hi"), mg.conversation("Hello")])
>>> out.labels[:2], tuple(out.probs.shape), out.strategy, out.stats["batches"]
(('unsafe', 'S1'), (3, 15), 'any_place', 2)
>>> ConversationScorer(model, tokenizer, strategy="beam")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: `strategy` must be one of ['greedy', 'first_token', ..., 'unary'], got 'beam'; any_place gives ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..decoding.estimate import check_estimate
from ..inputs import check_conversations
from ..labels.space import LabelSpace
from ..prompts.formats import Message, PromptFormat, resolve_format
from ..scores import LabelScores
from ..strategies import PROMPTED_STRATEGIES, REGISTRY, STRATEGIES, check_search_param

__all__ = ["BRIDGE_STRATEGIES", "SCORER_SETTINGS", "ConversationScorer", "concat_scores"]

#: The strategies a bridge can score with: those of one decode (``mg.score``) and the prompted ones.
BRIDGE_STRATEGIES: tuple[str, ...] = (*STRATEGIES, *PROMPTED_STRATEGIES)
#: :class:`ConversationScorer`'s settings, which each bridge takes under the same names and passes on.
SCORER_SETTINGS: tuple[str, ...] = (
    "strategy",
    "prompt_format",
    "taxonomy",
    "batch_size",
    "max_new_tokens",
    "eps",
    "top_p",
    "estimate",
)


def concat_scores(parts: Sequence[LabelScores]) -> LabelScores:
    """The rows of several :class:`LabelScores` of one strategy and label set, in order, as one.

    ``stats`` keeps ``batches`` (how many were joined) and the sum of each integer counter they all have.

    >>> a = LabelScores(("unsafe",), torch.tensor([[0.25]], dtype=torch.float64), ["unsafe"], "greedy")
    >>> b = LabelScores(("unsafe",), torch.tensor([[0.5]], dtype=torch.float64), ["safe"], "greedy")
    >>> joined = concat_scores([a, b])
    >>> joined.probs.tolist(), joined.texts, joined.stats
    ([[0.25], [0.5]], ['unsafe', 'safe'], {'batches': 2})
    """
    if not parts:
        raise ValueError("`parts` is empty; pass at least one LabelScores.")
    first = parts[0]
    for k, part in enumerate(parts[1:], start=1):
        if part.labels != first.labels or part.strategy != first.strategy:
            raise ValueError(
                f"part {k} has strategy {part.strategy!r} and labels {list(part.labels)}, part 0 "
                f"{first.strategy!r} and {list(first.labels)}; join scores of one strategy and label set."
            )
    bounded = all(p.lower is not None and p.upper is not None for p in parts)
    counters = {
        key
        for key, value in first.stats.items()
        if isinstance(value, int) and all(isinstance(p.stats.get(key), int) for p in parts)
    }
    stats: dict[str, Any] = {"batches": len(parts)}
    stats.update({key: sum(p.stats[key] for p in parts) for key in sorted(counters)})
    return LabelScores(
        labels=first.labels,
        probs=torch.cat([p.probs for p in parts]),
        texts=[text for p in parts for text in p.texts],
        strategy=first.strategy,
        lower=torch.cat([p.lower for p in parts]) if bounded else None,  # type: ignore[misc]
        upper=torch.cat([p.upper for p in parts]) if bounded else None,  # type: ignore[misc]
        completions=[row for p in parts for row in p.completions] if all(p.completions for p in parts) else None,
        estimate=first.estimate,
        stats=stats,
        joint=[d for p in parts for d in p.joint or ()] if all(p.joint is not None for p in parts) else None,
    )


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}; 16 suits a CPU.")
    return batch_size


class ConversationScorer:
    """Scores conversations under one strategy with a Llama Guard label space (``unsafe`` then the categories).

    Args:
        model, tokenizer: a guard model and its tokenizer (``mg.load_default()``, Llama Guard 3, ...).
        strategy: one of :data:`BRIDGE_STRATEGIES` (``any_place``, the default, gives bounds too).
        prompt_format: how a conversation becomes a prompt (:func:`~marginal_generate.prompts.render`).
        taxonomy: 3 (Llama Guard 3, S1-S14) or 2 (Llama Guard 2, S1-S11).
        batch_size: conversations per forward batch.
        max_new_tokens: answer tokens (default: the strategy's, 20; 8 for the prompted strategies).
        eps, top_p, estimate: ``any_place``'s search (see :func:`~marginal_generate.score`).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        strategy: str = "any_place",
        prompt_format: PromptFormat = "auto",
        taxonomy: int = 3,
        batch_size: int = 16,
        max_new_tokens: int | None = None,
        eps: float = 0.01,
        top_p: float = 0.99,
        estimate: str = "best",
    ) -> None:
        if strategy not in BRIDGE_STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {list(BRIDGE_STRATEGIES)}, got {strategy!r}; "
                "any_place gives P(label in the answer) with bounds."
            )
        self.space = LabelSpace.llama_guard(tokenizer, taxonomy=taxonomy)  # checks taxonomy
        if strategy in STRATEGIES:
            self.space.check_strategy(strategy)
        self.format = resolve_format(tokenizer, prompt_format, taxonomy)  # checks prompt_format
        if max_new_tokens is None:
            max_new_tokens = int(REGISTRY[strategy].defaults["max_new_tokens"])
        self.max_new_tokens = int(check_search_param("max_new_tokens", max_new_tokens))
        self.eps = float(check_search_param("eps", eps))
        self.top_p = float(check_search_param("top_p", top_p))
        check_estimate(estimate)
        self.model, self.tokenizer = model, tokenizer
        self.strategy, self.prompt_format, self.taxonomy, self.estimate = strategy, prompt_format, taxonomy, estimate
        self.batch_size = _check_batch_size(batch_size)

    @classmethod
    def from_settings(cls, model: Any, tokenizer: Any, settings: Mapping[str, Any]) -> ConversationScorer:
        """A scorer with a bridge's settings: the :data:`SCORER_SETTINGS` entries of ``settings`` (the bridge's own
        arguments, each checked here as in ``__init__``).

        >>> import marginal_generate as mg
        >>> model, tokenizer = mg.load_default()
        >>> scorer = ConversationScorer.from_settings(model, tokenizer, {**dict.fromkeys(SCORER_SETTINGS),
        ...     "strategy": "greedy", "prompt_format": "auto", "taxonomy": 3, "batch_size": 4, "eps": 0.01,
        ...     "top_p": 0.99, "estimate": "best", "threshold": 0.5})
        >>> scorer.strategy, scorer.batch_size, scorer.max_new_tokens
        ('greedy', 4, 20)
        """
        return cls(model, tokenizer, **{name: settings[name] for name in SCORER_SETTINGS})

    @property
    def labels(self) -> tuple[str, ...]:
        """The score columns: ``unsafe``, then the taxonomy's categories."""
        return self.space.labels

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __call__(self, conversations: Sequence[Sequence[Message]]) -> LabelScores:
        """The scores of ``conversations`` (``[{"role", "content"}, ...]`` each), one row each, in order."""
        check_conversations(conversations)
        parts = [
            self._score_batch(conversations[start : start + self.batch_size])
            for start in range(0, len(conversations), self.batch_size)
        ]
        return concat_scores(parts)

    def _score_batch(self, conversations: Sequence[Sequence[Message]]) -> LabelScores:
        from ..generate import score
        from ..prompted import score_label_prompts
        from ..prompts.formats import encode_conversations

        if self.strategy in PROMPTED_STRATEGIES:
            return score_label_prompts(
                self.model,
                self.tokenizer,
                conversations,
                self.strategy,  # type: ignore[arg-type]
                self.space.categories,
                prompt_format=self.prompt_format,
                taxonomy=self.taxonomy,
                max_new_tokens=self.max_new_tokens,
                batch_size=len(conversations),
            )
        batch = encode_conversations(
            self.tokenizer, conversations, self.prompt_format, self.taxonomy, device=self.device
        )
        return score(
            self.model,
            batch["input_ids"],
            batch["attention_mask"],
            self.space,
            [self.strategy],
            max_new_tokens=self.max_new_tokens,
            top_p=self.top_p,
            eps=self.eps,
            estimate=self.estimate,  # type: ignore[arg-type]
        )[self.strategy]
