"""`LabelScoresProcessor`: the greedy-path strategies from a plain ``generate``, as a logits processor.

Pass it to an ordinary ``model.generate(..., logits_processor=[proc])`` (greedy or multinomial
sampling, with or without a streamer), then ask it for per-label scores of the path that was
decoded::

    proc = mg.LabelScoresProcessor(space)
    out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=20)
    scores = proc.label_scores(out, strategy="fixed_place")      # a LabelScores

It only reads: ``__call__`` returns the scores tensor it was given, untouched, so it fits any
engine that calls logits processors with ``(token ids, scores)``. Every strategy that one decoded
path defines is available (``greedy``, ``first_token``, ``token_probability``, ``fixed_place``,
``max_over_generations``, ``first_generation``), computed by the same recorder as
:func:`marginal_generate.score`: with greedy decoding the values equal ``mg.score``'s on the same
inputs; with sampling they are read along the sampled path. ``any_place`` needs the tree search
(many paths), so it is not here: use ``custom_generate=mg.marginalize``.

Which distribution it reads: the ``scores`` handed to it. transformers runs a user's processors
after its own (repetition penalty, minimum length, bad words, ... when configured) and before the
sampling warpers (temperature, top-k, top-p), so a processor listed first reads the model's
next-token distribution, unwarped, whatever the sampling settings. Put it first in the list:
processors listed before it change what it reads.

State: the first call of a ``generate`` fixes the prompt length (left padding is fine); a row is
finished at its first EOS and the tokens after it (padding) are ignored. A call whose ids do not
continue the previous call's (another prompt, another batch) starts a fresh state, so one
processor serves successive ``generate`` calls; call :meth:`~LabelScoresProcessor.reset` to start
fresh explicitly (e.g. before continuing from a previous output's ids). Rows must keep their
order between steps: beam search, which reorders them, is refused.

>>> import torch, marginal_generate as mg
>>> from marginal_generate.testing import byte_level_tokenizer, tiny_llama
>>> tok = byte_level_tokenizer(); model = tiny_llama(tok, seed=0)
>>> space = mg.LabelSpace.llama_guard(tok)
>>> inputs = tok(["User: hello there", "Agent: no"], return_tensors="pt", padding=True)
>>> proc = mg.LabelScoresProcessor(space)
>>> out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=6, do_sample=False)
>>> scores = proc.label_scores(out, strategy="fixed_place")
>>> direct = mg.score(model, inputs.input_ids, inputs.attention_mask, space, ["fixed_place"], max_new_tokens=6)
>>> scores.texts == direct["fixed_place"].texts, torch.allclose(scores.probs, direct["fixed_place"].probs)
(True, True)
>>> tuple(scores.probs.shape), scores.strategy
((2, 15), 'fixed_place')
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import LogitsProcessor

from .decoding.eos import eos_ids
from .decoding.greedy_path import GREEDY_PATH_STRATEGIES, GreedyRecorder
from .decoding.search import Node
from .labels.space import LabelSpace
from .scores import LabelScores
from .strategies import PROMPTED_STRATEGIES

__all__ = ["LabelScoresProcessor"]


class LabelScoresProcessor(LogitsProcessor):
    """Records the decoded path of each row and turns it into :class:`~marginal_generate.LabelScores`.

    Args:
        label_space: the labels the guard model writes, e.g. ``mg.LabelSpace.llama_guard(tokenizer)``.
        eos_token_id: the id(s) that end a completion; default the label space tokenizer's
            ``eos_token_id``. Pass ``model.generation_config.eos_token_id`` when the model ends on
            more ids than the tokenizer's EOS (Llama Guard 3 does).
        label_normalization: how ``max_over_generations`` reads a category position; only
            ``"label_tokens"`` (softmax restricted to the ids' distinguishing tokens): ``"vocab"``
            needs lookahead forwards that a logits processor cannot run (use ``mg.marginalize``).

    Raises:
        ValueError: for a ``label_space`` that is not a LabelSpace, a missing EOS id, or a
            ``label_normalization`` other than ``"label_tokens"``.
    """

    def __init__(
        self,
        label_space: Any,
        *,
        eos_token_id: int | list[int] | tuple[int, ...] | None = None,
        label_normalization: str = "label_tokens",
    ) -> None:
        if not isinstance(label_space, LabelSpace):
            raise ValueError(
                f"`label_space` must be a marginal_generate.LabelSpace, got {type(label_space).__name__}; "
                "build one with mg.LabelSpace.llama_guard(tokenizer)."
            )
        if label_normalization == "vocab":
            raise ValueError(
                "`label_normalization='vocab'` needs extra forwards (a lookahead per category id) that a logits "
                "processor cannot run; use label_normalization='label_tokens', or "
                "model.generate(..., custom_generate=mg.marginalize, label_normalization='vocab')."
            )
        if label_normalization != "label_tokens":
            raise ValueError(
                f"`label_normalization` must be 'label_tokens' for a logits processor, got {label_normalization!r}."
            )
        self.label_space = label_space
        self.eos_token_ids = eos_ids(eos_token_id, tokenizer=label_space.tokenizer)
        self.reset()

    def reset(self) -> None:
        """Forget the watched decode; the next call starts a fresh state."""
        self._recorder: GreedyRecorder | None = None
        self._ids: torch.Tensor | None = None  # the ids of the last call (or of the flushed output)
        self._pending: torch.Tensor | None = None  # log-probabilities of the last call, token not yet known
        self._active: list[bool] = []
        self._steps = 0
        self.prompt_length: int | None = None

    # ---- the logits-processor interface ---------------------------------------------------------
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Record the next-token distribution of each row; return ``scores`` itself, unchanged."""
        with torch.no_grad():
            if self._continues(input_ids):
                self._observe(input_ids[:, -1])
            else:
                self._start(input_ids)
            self._ids = input_ids.detach().clone()
            self._pending = torch.log_softmax(scores.detach().to(torch.float64), dim=-1)
        return scores

    # ---- results --------------------------------------------------------------------------------
    def label_scores(self, sequences: Any, strategy: str) -> LabelScores:
        """Per-label scores of the decoded path under ``strategy``.

        Args:
            sequences: what ``generate`` returned (the ids ``[batch, prompt + new]``, or an output
                with ``.sequences``); its last token is one the processor has not seen yet.
            strategy: one of ``greedy``, ``first_token``, ``token_probability``, ``fixed_place``,
                ``max_over_generations``, ``first_generation``.

        Returns:
            :class:`~marginal_generate.LabelScores`; ``texts`` are the decoded completions.
        """
        _check_strategy(strategy)
        if self._recorder is None or self._ids is None:
            raise ValueError(
                "label_scores() was called before any generate call reached this processor: pass it to "
                "model.generate(..., logits_processor=[proc]) first."
            )
        self._flush(sequences)
        return LabelScores(
            labels=self.label_space.labels,
            probs=self._recorder.read(strategy),
            texts=self._recorder.texts(),
            strategy=strategy,
            stats={"steps": self._steps, "prompt_length": self.prompt_length, "source": "logits_processor"},
        )

    # ---- internals ------------------------------------------------------------------------------
    def _start(self, input_ids: torch.Tensor) -> None:
        if input_ids.ndim != 2:
            raise ValueError(f"`input_ids` must be [batch, length], got shape {tuple(input_ids.shape)}.")
        self.reset()
        batch = input_ids.shape[0]
        self._recorder = GreedyRecorder(self.label_space, batch, self.eos_token_ids, normalization="label_tokens")
        self._active = [True] * batch
        self.prompt_length = int(input_ids.shape[1])

    def _continues(self, input_ids: torch.Tensor) -> bool:
        """True if ``input_ids`` is the previous call's ids plus one token per row."""
        previous = self._ids
        if previous is None or self._pending is None or input_ids.ndim != 2:
            return False
        if input_ids.shape[0] != previous.shape[0] or input_ids.shape[1] != previous.shape[1] + 1:
            return False
        if torch.equal(input_ids[:, :-1].to(previous.device), previous):
            return True
        assert self.prompt_length is not None
        if torch.equal(input_ids[:, : self.prompt_length].to(previous.device), previous[:, : self.prompt_length]):
            raise ValueError(
                "the rows' generated ids changed between two calls (beam search reorders its rows): "
                "LabelScoresProcessor follows one path per row; use greedy decoding or sampling (num_beams=1)."
            )
        return False

    def _observe(self, tokens: torch.Tensor) -> None:
        """Hand each running row's pending distribution and its chosen token to the recorder."""
        assert self._recorder is not None and self._pending is not None
        for row, token in enumerate(tokens.tolist()):
            if not self._active[row]:
                continue  # finished at an EOS: what follows is padding
            previous = tuple(self._recorder.tokens[row])
            extra = self._recorder.observe(Node(row, previous, None), self._steps, self._pending[row], int(token))  # type: ignore[arg-type]
            assert not extra, "label_tokens normalization runs no lookahead"
            if token in self.eos_token_ids:
                self._active[row] = False
        self._steps += 1
        self._pending = None

    def _flush(self, sequences: Any) -> None:
        """Record the last token (chosen after the last call) from ``generate``'s output, once."""
        assert self._ids is not None
        ids = getattr(sequences, "sequences", sequences)
        if not isinstance(ids, torch.Tensor) or ids.ndim != 2:
            raise ValueError(
                "`sequences` must be what generate returned (a [batch, length] tensor of ids, or an output with "
                f".sequences), got {type(ids).__name__}{'' if not isinstance(ids, torch.Tensor) else tuple(ids.shape)}."
            )
        ids = ids.to(self._ids.device)
        if self._pending is None and ids.shape == self._ids.shape and torch.equal(ids, self._ids):
            return  # already recorded
        if (
            self._pending is not None
            and ids.shape[0] == self._ids.shape[0]
            and ids.shape[1] == self._ids.shape[1] + 1
            and torch.equal(ids[:, :-1], self._ids)
        ):
            self._observe(ids[:, -1])
            self._ids = ids.clone()
            return
        raise ValueError(
            f"`sequences` (shape {tuple(ids.shape)}) is not the output of the generate call this processor watched "
            f"last (batch {self._ids.shape[0]}, {self._ids.shape[1] + (1 if self._pending is not None else 0)} ids "
            "per row, starting with the ids it saw); pass that call's output."
        )


def _check_strategy(strategy: Any) -> None:
    if strategy in GREEDY_PATH_STRATEGIES:
        return
    if strategy == "any_place":
        raise ValueError(
            "strategy 'any_place' sums over the output tree, which needs the tree search (many paths, not the one a "
            "logits processor sees): use model.generate(..., custom_generate=mg.marginalize, label_space=space, "
            "strategy='any_place')."
        )
    if strategy in PROMPTED_STRATEGIES:
        raise ValueError(
            f"strategy {strategy!r} prompts the model once per label: use mg.score_label_prompts(model, tokenizer, "
            f"conversations, {strategy!r})."
        )
    raise ValueError(f"`strategy` must be one of {list(GREEDY_PATH_STRATEGIES)}, got {strategy!r}.")
