"""An any-guardrail guardrail whose score and categories are probabilities from the guard's own decoding.

any-guardrail's Llama Guard (and WildGuard, Granite Guardian) return ``score=None`` and, per category, only
``triggered=True`` for the ids the greedy answer names. :class:`MarginalGuardrail` is built on any-guardrail's own
:class:`~any_guardrail.ThreeStageGuardrail` (preprocess, inference, postprocess) and returns its
:class:`~any_guardrail.GuardrailOutput` with:

- ``score``: P(unsafe) under ``strategy`` (``any_place``: P(``unsafe`` in the answer), summed over the output tree);
- ``categories``: one :class:`~any_guardrail.CategoryResult` per category of the taxonomy, ``score`` = P(category),
  ``triggered`` = the policy's decision for it (``score >= 0.5`` without a policy; None where the strategy gives the
  category no score or the policy does not decide it);
- ``valid``: False when any label is flagged (``unsafe`` or a category), else True;
- ``action``: with a policy, ``"block"``, ``"review"`` or ``"allow"`` (its bands: the most severe over the labels);
- ``extra``: the strategy, ``any_place``'s estimate and per-label ``[lower, upper]`` bounds, the threshold source;
- ``explanation``: the guard's greedy answer.

``validate`` takes a list too (``output_text`` then a list of the same length, or None): the whole list is scored in
batches of ``batch_size``, not one text at a time.

Install the extra with ``pip install 'marginal-generate[any-guardrail]'``; importing this module without it raises
one ``ImportError`` that names the extra.

>>> import marginal_generate as mg
>>> model, tokenizer = mg.load_default()
>>> guard = MarginalGuardrail(model, tokenizer)
>>> out = guard.validate("How do I bake bread?")
>>> type(out).__name__, len(out.categories), out.categories[0].name, out.extra["strategy"]
('GuardrailOutput', 14, 'S1', 'any_place')
>>> 0 <= out.score <= 1, out.valid == (not any(c.triggered for c in out.categories) and out.score < 0.5)
(True, True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

from .extras import missing_extra

try:
    from any_guardrail import (
        BackendType,
        CategoryResult,
        GuardrailCategory,
        GuardrailInferenceOutput,
        GuardrailMetadata,
        GuardrailOutput,
        GuardrailPreprocessOutput,
        GuardrailStage,
        OutputShape,
        ThreeStageGuardrail,
    )
except ImportError as err:  # the extra is missing
    raise missing_extra("any_guardrail", "any-guardrail", "marginal_generate.integrations.any_guardrail", err) from None

import numpy as np

from ..labels.taxonomy import get_taxonomy
from ..policy import Policy
from ..prompts.formats import Message, PromptFormat, conversation
from ..scores import LabelScores
from .policies import policy_name, resolve_policy
from .scoring import ConversationScorer

__all__ = ["MarginalGuardrail", "METADATA"]

#: The guardrail's any-guardrail metadata (what its registry holds for the built-in guardrails).
METADATA = GuardrailMetadata(
    description="Per-category probabilities from a generative guard's own decoding (marginal-generate).",
    display_name="marginal-generate",
    categories=frozenset({GuardrailCategory.CONTENT_SAFETY}),
    primary_category=GuardrailCategory.CONTENT_SAFETY,
    stages=frozenset({GuardrailStage.INPUT, GuardrailStage.OUTPUT}),
    output_shapes=frozenset({OutputShape.SCORE, OutputShape.MULTI_LABEL, OutputShape.CATEGORICAL}),
    backend=BackendType.LOCAL_DECODER,
    optional_validate_kwargs=frozenset({"output_text"}),
    supports_batch=True,
    vendor="marginal-generate",
    default_license="apache-2.0",
)

_Data = dict[str, Any]
_SEVERITY = ("allow", "review", "block")


def _texts(input_text: Any, output_text: Any) -> tuple[list[str], list[str | None]]:
    """The validated ``(input texts, output texts)`` of one text or a list of them."""
    if isinstance(input_text, str):
        if output_text is not None and not isinstance(output_text, str):
            raise ValueError(
                f"`output_text` must be a string or None for one `input_text`, got {type(output_text).__name__}."
            )
        return [input_text], [output_text]
    if not isinstance(input_text, list) or not all(isinstance(t, str) for t in input_text):
        raise ValueError(
            f"`input_text` must be a string or a list of strings, got {type(input_text).__name__}"
            + (" with non-string items" if isinstance(input_text, list) else "")
            + "."
        )
    if output_text is None:
        return list(input_text), [None] * len(input_text)
    if not isinstance(output_text, list) or len(output_text) != len(input_text):
        shown = f"{len(output_text)} items" if isinstance(output_text, list) else type(output_text).__name__
        raise ValueError(
            f"`output_text` must be None or a list of {len(input_text)} strings (or None), one per `input_text`; "
            f"got {shown}."
        )
    bad = [k for k, t in enumerate(output_text) if t is not None and not isinstance(t, str)]
    if bad:
        raise ValueError(f"`output_text` item {bad[0]} is {type(output_text[bad[0]]).__name__}; pass a string or None.")
    return list(input_text), list(output_text)


class MarginalGuardrail(ThreeStageGuardrail[_Data, _Data]):
    """Per-category probabilities from a generative guard's own decoding (marginal-generate).

    Args:
        model, tokenizer: the guard (``mg.load_default()``, Llama Guard 3, ...).
        strategy: how the probabilities are read (see
            :data:`~marginal_generate.integrations.scoring.BRIDGE_STRATEGIES`; ``any_place`` gives bounds).
        policy: a :class:`~marginal_generate.Policy` or the path of a policy file (``marginal-generate policy``),
            fitted on ``strategy``'s scores of this taxonomy; ``triggered`` and ``valid`` follow its thresholds and
            ``action`` its bands. None: every label is flagged at ``score >= threshold``.
        threshold: the threshold without a policy (0.5).
        prompt_format, taxonomy, batch_size, max_new_tokens, eps, top_p, estimate: see
            :class:`~marginal_generate.integrations.scoring.ConversationScorer`.
        model_id: the ``usage.model_id`` of the outputs (default: the model's ``name_or_path``).

    Every argument is checked here, with one ``ValueError`` that names it.
    """

    METADATA: ClassVar[GuardrailMetadata] = METADATA

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        strategy: str = "any_place",
        policy: Policy | str | os.PathLike[str] | None = None,
        threshold: float = 0.5,
        prompt_format: PromptFormat = "auto",
        taxonomy: int = 3,
        batch_size: int = 16,
        max_new_tokens: int | None = None,
        eps: float = 0.01,
        top_p: float = 0.99,
        estimate: str = "best",
        model_id: str | None = None,
    ) -> None:
        self.scorer = ConversationScorer.from_settings(model, tokenizer, locals())
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise ValueError(f"`threshold` must be a number in [0, 1], got {threshold!r}; 0.5 is the usual one.")
        self.threshold = float(threshold)
        self.policy_source = None if policy is None else policy_name(policy)
        self.policy = resolve_policy(policy, self.scorer.labels, strategy)
        self.taxonomy = get_taxonomy(taxonomy)
        name = model_id if model_id is not None else getattr(getattr(model, "config", None), "name_or_path", None)
        self.model_id = name if isinstance(name, str) and name else type(model).__name__

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels scored: ``unsafe``, then the taxonomy's categories."""
        return self.scorer.labels

    def validate(  # type: ignore[override]
        self, input_text: str | list[str], output_text: str | list[str | None] | None = None
    ) -> GuardrailOutput | list[GuardrailOutput]:
        """One :class:`GuardrailOutput` for a user message (and the assistant's ``output_text`` reply to classify),
        or a list of them, in order, for a list of messages (and a list of replies or None)."""
        _texts(input_text, output_text)
        if isinstance(input_text, list) and not input_text:
            return []
        return super().validate(input_text, output_text=output_text)

    # ---- the three stages ---------------------------------------------------------------------------------------
    def _pre_processing(
        self, input_text: str, output_text: str | None = None, **kwargs: Any
    ) -> GuardrailPreprocessOutput[_Data]:
        """The guard conversation of one text (``[user]`` or ``[user, assistant]``)."""
        return GuardrailPreprocessOutput(data={"conversations": [conversation(input_text, output_text)]})

    def _inference(self, model_inputs: GuardrailPreprocessOutput[_Data]) -> GuardrailInferenceOutput[_Data]:
        """The conversations' :class:`~marginal_generate.LabelScores`."""
        return GuardrailInferenceOutput(data={"scores": self._score(model_inputs.data["conversations"])})

    def _post_processing(self, model_outputs: GuardrailInferenceOutput[_Data]) -> GuardrailOutput:
        """The first row's :class:`GuardrailOutput`."""
        return self._outputs(model_outputs.data["scores"])[0]

    def _validate_batch(self, input_texts: list[str], **kwargs: Any) -> list[GuardrailOutput]:
        """A list scored together, ``batch_size`` conversations per forward batch."""
        texts, replies = _texts(input_texts, kwargs.get("output_text"))
        return self._outputs(self._score([conversation(t, r) for t, r in zip(texts, replies)]))

    # ---- scores to outputs --------------------------------------------------------------------------------------
    def _score(self, conversations: Sequence[Sequence[Message]]) -> LabelScores:
        return self.scorer(conversations)

    def _decisions(self, scores: LabelScores) -> tuple[np.ndarray, np.ndarray | None]:
        """``[n, labels]`` flags (1, 0, or -1: no decision) and, with a policy, outcomes (or None)."""
        probs = scores.probs.numpy()
        flags = np.full(probs.shape, -1, dtype=np.int64)
        if self.policy is None:
            finite = np.isfinite(probs)
            flags[finite] = (probs[finite] >= self.threshold).astype(np.int64)
            return flags, None
        columns = [self.labels.index(label) for label in self.policy.labels]
        flags[:, columns] = self.policy.decide(probs, self.labels)
        outcomes = np.full(probs.shape, "", dtype=object)
        outcomes[:, columns] = self.policy.outcomes(probs, self.labels)
        return flags, outcomes

    def _outputs(self, scores: LabelScores) -> list[GuardrailOutput]:
        flags, outcomes = self._decisions(scores)
        probs = scores.probs.numpy()
        lower = None if scores.lower is None else scores.lower.numpy()
        upper = None if scores.upper is None else scores.upper.numpy()
        results = []
        for i in range(len(scores)):
            categories = [
                CategoryResult(
                    name=label,
                    description=self.taxonomy[label].name if label in self.taxonomy else None,
                    score=None if np.isnan(probs[i, j]) else float(probs[i, j]),
                    triggered=None if flags[i, j] < 0 else bool(flags[i, j]),
                )
                for j, label in enumerate(self.labels)
                if label != "unsafe"
            ]
            extra: dict[str, Any] = {
                "strategy": scores.strategy,
                "threshold": self.policy_source if self.policy is not None else self.threshold,
            }
            if scores.estimate is not None:
                extra["estimate"] = scores.estimate
            if lower is not None and upper is not None:
                extra["bounds"] = {
                    label: [float(lower[i, j]), float(upper[i, j])] for j, label in enumerate(self.labels)
                }
            action = None
            if outcomes is not None:
                decided = [str(o) for o in outcomes[i] if o]
                extra["outcomes"] = {label: str(o) for label, o in zip(self.labels, outcomes[i]) if o}
                action = max(decided, key=_SEVERITY.index)
            unsafe = probs[i, self.labels.index("unsafe")]
            results.append(
                GuardrailOutput(
                    valid=not bool((flags[i] == 1).any()),
                    explanation=scores.texts[i],
                    score=None if np.isnan(unsafe) else float(unsafe),
                    categories=categories,
                    action=action,
                    extra=extra,
                )
            )
        return results
