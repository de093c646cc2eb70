"""The Space's model: a loaded guard with its label space, scoring one conversation under every strategy.

:func:`load_engine` loads what the operator's :class:`~marginal_generate.space.config.Settings` name;
:func:`get_engine` is the process's engine, loaded from the environment on first use.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import Any

from ..evaluation.config import LABEL_LIST_PROMPT
from ..labels.space import LabelSpace
from ..labels.taxonomy import get_taxonomy
from ..strategies import STRATEGIES
from .config import TOP_COMPLETIONS, Settings, check_label_list
from .inputs import InputError
from .policy_view import DEFAULT_POLICY_STRATEGY, check_space_policy, read_space_policy
from .verdict import check_row

__all__ = ["Engine", "load_engine", "get_engine", "set_engine", "calibrate_row"]

_DEFAULTS = Settings()


class Engine:
    """A loaded guard model with its label space, scoring one conversation at a time (a lock
    serializes calls, whatever the server's concurrency)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_id: str,
        taxonomy: int = 3,
        calibrator: Any = None,
        calibrator_name: str | None = None,
        max_new_tokens: int = _DEFAULTS.max_new_tokens,
        max_prompt_tokens: int = _DEFAULTS.max_prompt_tokens,
        grammar: str = "llama_guard",
        labels: Sequence[str] | None = None,
        prompt_template: str | None = None,
        max_message_chars: int = _DEFAULTS.max_message_chars,
        policy: Any = None,
        policy_name: str | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.taxonomy = get_taxonomy(taxonomy)
        self.grammar = grammar
        self.prompt_template = None
        if grammar == "label_list":  # a model that writes a list of label names (GRAMMAR=label_list LABELS=...)
            check_label_list(labels, prompt_template)
            self.space = LabelSpace.label_list(tokenizer, list(labels))
            self.prompt_template = prompt_template or LABEL_LIST_PROMPT
        elif grammar == "llama_guard":
            self.space = LabelSpace.llama_guard(tokenizer, taxonomy=taxonomy)
        else:
            raise ValueError(f"GRAMMAR must be llama_guard or label_list, got {grammar!r}.")
        #: the strategies this grammar supports (first_token needs a verbalizer)
        self.strategies = tuple(s for s in STRATEGIES if s != "first_token" or self.space.verbalizer is not None)
        self.calibrator = calibrator
        self.calibrator_name = calibrator_name
        #: the operator's :class:`~marginal_generate.Policy` (POLICY), checked against these labels and strategies
        self.policy = None
        self.policy_name = policy_name
        if policy is not None:
            policy.check_scores(list(self.space.labels), self.policy_strategy_of(policy))
            self.policy = policy
        self.max_new_tokens = max_new_tokens
        self.max_message_chars = max_message_chars
        context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        limit = max_prompt_tokens if context is None else min(max_prompt_tokens, int(context) - max_new_tokens)
        self.max_prompt_tokens = max(limit, 1)
        self._lock = threading.Lock()

    @staticmethod
    def policy_strategy_of(policy: Any) -> str:
        """The strategy whose scores ``policy`` decides."""
        return policy.provenance.get("strategy") or DEFAULT_POLICY_STRATEGY

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def encode(self, user_message: str, agent_response: str | None) -> Any:
        """The model's input for one conversation; :class:`InputError` when it is over ``max_prompt_tokens``."""
        from ..prompts.formats import conversation, encode_conversations

        if self.prompt_template is not None:
            text = self.prompt_template.format(
                text=user_message if agent_response is None else f"{user_message}\n{agent_response}",
                labels=", ".join(self.space.labels),
            )
            batch = self.tokenizer([text], return_tensors="pt", add_special_tokens=False).to(self.device)
        else:
            batch = encode_conversations(
                self.tokenizer, [conversation(user_message, agent_response)], device=self.device
            )
        n = int(batch["input_ids"].shape[1])
        if n > self.max_prompt_tokens:
            raise InputError(
                f"The conversation is {n:,} tokens long with the guard prompt; this model accepts at most "
                f"{self.max_prompt_tokens:,}. Shorten the message and try again."
            )
        return batch

    def score(
        self,
        user_message: str,
        agent_response: str | None,
        eps: float,
        top_p: float,
        strategies: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Every strategy's :class:`~marginal_generate.LabelScores` for one conversation (one pass)."""
        from ..generate import score

        strategies = self.strategies if strategies is None else strategies
        batch = self.encode(user_message, agent_response)
        with self._lock:
            return score(
                self.model,
                batch["input_ids"],
                batch["attention_mask"],
                self.space,
                list(strategies),
                max_new_tokens=self.max_new_tokens,
                top_p=float(top_p),
                eps=float(eps),
                top_completions=TOP_COMPLETIONS,
            )


def _auto_device_dtype(settings: Settings) -> tuple[str, str]:
    import torch

    device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = settings.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    return device, dtype


def load_engine(settings: Settings | None = None) -> Engine:
    """The model of ``settings.model_id`` (None: the embedded tiny guard) through the package's loader (the
    Auto classes), the calibrator saved at ``settings.calibrator`` and the policy at ``settings.policy``; all
    named by the operator, never the page. ``ValueError`` (one line) for a model, calibrator or policy that
    cannot be loaded or does not fit the model."""
    from ..calibration import load_calibrator
    from ..loading import load_model

    settings = settings or Settings()
    calibrator = None
    if settings.calibrator:
        if not os.path.isfile(settings.calibrator):
            raise ValueError(
                f"calibrator {settings.calibrator!r} (CALIBRATOR, --calibrator) is not a file; "
                "give the JSON that Calibrator.save wrote."
            )
        try:
            calibrator = load_calibrator(settings.calibrator)
        except ValueError as err:  # not JSON, or JSON that Calibrator.save did not write
            raise ValueError(
                f"calibrator {settings.calibrator!r} (CALIBRATOR, --calibrator) cannot be read: "
                f"{str(err).rstrip('.')}; give the JSON that Calibrator.save wrote."
            ) from None
    policy = read_space_policy(settings.policy) if settings.policy else None
    device, dtype = _auto_device_dtype(settings)
    model, tokenizer, _ = load_model(settings.model_id, device, dtype)
    engine = Engine(
        model,
        tokenizer,
        settings.model_id or "embedded tiny guard (marginal_generate/models/tiny-guard)",
        taxonomy=settings.guard_version,
        calibrator=calibrator,
        calibrator_name=os.path.basename(settings.calibrator) if settings.calibrator else None,
        max_new_tokens=settings.max_new_tokens,
        max_prompt_tokens=settings.max_prompt_tokens,
        grammar=settings.grammar,
        labels=settings.labels or None,
        prompt_template=settings.prompt_template,
        max_message_chars=settings.max_message_chars,
    )
    if policy is not None and settings.policy:
        check_space_policy(policy, settings.policy, engine.space.labels, engine.strategies)
        engine.policy, engine.policy_name = policy, os.path.basename(settings.policy)
    return engine


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> Engine:
    """The process's engine, loaded on first use from the environment (:meth:`Settings.from_env`)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = load_engine(Settings.from_env())
        return _ENGINE


def set_engine(engine: Engine | None) -> None:
    """Use ``engine`` from now on (the command, tests; None reloads from the environment on next use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        _ENGINE = engine


def calibrate_row(
    calibrator: Any, labels: Sequence[str], probs: Sequence[float], positive: str = "unsafe"
) -> list[float]:
    """One prompt's scores through a fitted calibrator; NaN stays NaN.

    A binary calibrator (fitted on ``p(unsafe)``) changes the ``unsafe`` column only; one fitted
    on ``k`` labels changes all columns (``k == len(labels)``) or the categories
    (``k == len(labels) - 1``).

    >>> class Halve:  # a binary calibrator: no num_labels_
    ...     def transform(self, p):
    ...         return [x / 2 for x in p]
    >>> calibrate_row(Halve(), ["unsafe", "S1"], [0.8, float("nan")])
    [0.4, nan]
    """
    import numpy as np

    check_row(labels, probs)
    p = np.asarray([float(v) for v in probs], dtype=np.float64)
    k = getattr(calibrator, "num_labels_", None)
    if k is None:
        columns = [list(labels).index(positive)]
    elif k == len(labels):
        columns = list(range(len(labels)))
    elif k == len(labels) - 1:
        columns = [j for j, label in enumerate(labels) if label != positive]
    else:
        raise ValueError(
            f"the calibrator was fitted on {k} labels but this model has {len(labels)} ({len(labels) - 1} categories); "
            "fit it on p(unsafe) alone, on every label or on the categories."
        )
    if k is None:
        if not math.isnan(p[columns[0]]):
            p[columns[0]] = float(np.asarray(calibrator.transform(p[columns])).reshape(-1)[0])
        return p.tolist()
    sub = p[columns]
    undefined = np.isnan(sub)
    out = np.asarray(calibrator.transform(np.where(undefined, 0.5, sub)[None, :]), dtype=np.float64).reshape(-1)
    p[columns] = np.where(undefined, np.nan, out)
    return p.tolist()
