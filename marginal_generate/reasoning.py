"""Reasoning guards: answers that think in a ``<think>...</think>`` block, then write the verdict.

A walk of the whole output tree would branch over the block's free text, so it is refused; two modes score the
verdict instead (:func:`score_reasoning`):

- ``mode="greedy"``: the verdict's distribution conditioned on the greedy reasoning. The block is decoded greedily
  until its closing tag appears in the decoded text (a tag split over several tokens too), then ``any_place`` walks
  the verdict with prompt + reasoning as its prefix: exact after the block (``lower == upper`` at ``eps=0,
  top_p=1``), but only for that one reasoning.
- ``mode="sample"``: a Monte Carlo estimate of the verdict's marginal over the model's reasoning. ``k`` traces are
  sampled per prompt with the model's ``generate`` (seeded, ``temperature`` and ``sample_top_p`` as given), each
  one's verdict is walked as above, and per label the mean of the ``k`` conditional probabilities is the estimate,
  with its standard error ``std / sqrt(k)`` (the sample standard deviation over the traces). The estimate is
  unbiased for P(label) under the sampling distribution: the model's own at ``temperature=1, sample_top_p=1``.

The label space is the verdict's (:class:`~marginal_generate.labels.space.LabelSpace`), wrapped in a
:class:`ReasoningSpace` that names the tags; ``mg.score`` on a :class:`ReasoningSpace` refuses ``any_place`` with a
message naming the two modes. A trace that does not close within ``max_reasoning_tokens`` (or ends first) is kept in
:attr:`ReasoningScores.traces` with status ``"open"`` and left out of the estimate; a prompt with no closed trace gets
NaN. A token that closes the block and goes on with text other than whitespace (``</think>unsafe`` as one token)
cannot be walked from a token boundary: its trace gets status ``"merged"`` and is left out likewise.

>>> import marginal_generate as mg
>>> from marginal_generate.testing import byte_level_tokenizer, tiny_llama
>>> tok = byte_level_tokenizer(); model = tiny_llama(tok, seed=0)
>>> space = ReasoningSpace(mg.LabelSpace.llama_guard(tok))
>>> ids = tok(["User: hi"], return_tensors="pt")
>>> mg.score(model, ids.input_ids, ids.attention_mask, space, ["any_place"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: strategy 'any_place' would walk the <think> block's free text, ...(..., mode='greedy')...or mode='sample'...
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from .decoding.eos import eos_ids
from .generate import score
from .inputs import check_batch
from .labels.space import LabelSpace
from .padding import left_pad
from .scores import LabelScores

__all__ = ["ReasoningMode", "ReasoningSpace", "ReasoningScores", "score_reasoning"]

ReasoningMode = Literal["greedy", "sample"]

_MODES = (
    "mg.score_reasoning(..., mode='greedy') (the verdict conditioned on the greedy reasoning, exact after the block) "
    "or mode='sample' (a Monte Carlo estimate over k sampled reasoning traces, with its standard error)"
)


class ReasoningSpace(LabelSpace):
    """A verdict's label space whose answers begin with a reasoning block between ``open_tag`` and ``close_tag``.

    The labels, grammar and token facts are the verdict space's; :meth:`parse` reads the verdict after the first
    ``close_tag`` (no label before the block closes). ``mg.score`` takes it for ``greedy`` only: the other strategies
    read the verdict's steps from the answer's start, and ``any_place`` would walk the block's free text.

    >>> import marginal_generate as mg
    >>> from marginal_generate.testing import word_level_tokenizer
    >>> tok = word_level_tokenizer(["safe", "unsafe", "S1", ",", "\\n"])
    >>> space = ReasoningSpace(mg.LabelSpace.llama_guard(tok, categories=["S1"]))
    >>> sorted(space.parse("<think>safe?</think>\\n\\nunsafe\\nS1")), sorted(space.parse("<think>unsafe\\nS1"))
    (['S1', 'unsafe'], [])
    """

    def __init__(self, space: LabelSpace, open_tag: str = "<think>", close_tag: str = "</think>") -> None:
        if not isinstance(space, LabelSpace) or isinstance(space, ReasoningSpace):
            raise ValueError(
                f"`space` must be the verdict's LabelSpace, got {type(space).__name__}; "
                "e.g. ReasoningSpace(mg.LabelSpace.llama_guard(tokenizer))."
            )
        for name, tag in (("open_tag", open_tag), ("close_tag", close_tag)):
            if not isinstance(tag, str) or not tag.strip():
                raise ValueError(f"`{name}` must be a non-empty text such as '</think>', got {tag!r}.")
        super().__init__(space.tokenizer, grammar=space.grammar)
        self.verdict_space = space
        self.open_tag, self.close_tag = open_tag, close_tag

    def __repr__(self) -> str:
        return f"ReasoningSpace({self.verdict_space!r}, open_tag={self.open_tag!r}, close_tag={self.close_tag!r})"

    def verdict(self, text: str) -> str | None:
        """The text after the first ``close_tag``, or None while the block is open."""
        head, tag, tail = text.partition(self.close_tag)
        return tail if tag else None

    def parse(self, text: str) -> frozenset[str]:
        """The verdict's label set; the empty set while the block is open."""
        verdict = self.verdict(text)
        return frozenset() if verdict is None else self.grammar.parse(verdict)

    def check_strategy(self, strategy: str) -> None:
        """Only ``greedy`` reads a whole reasoning answer; the other strategies are refused with the two modes.

        >>> import marginal_generate as mg
        >>> from marginal_generate.testing import word_level_tokenizer
        >>> tok = word_level_tokenizer(["safe", "unsafe", "S1", ",", "\\n"])
        >>> space = ReasoningSpace(mg.LabelSpace.llama_guard(tok, categories=["S1"]))
        >>> space.check_strategy("fixed_place")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: strategy 'fixed_place' reads the verdict's steps from the answer's start, and these answers ...
        """
        if strategy == "any_place":
            raise ValueError(
                f"strategy 'any_place' would walk the {self.open_tag} block's free text, whose tree has no useful "
                f"bound; score the verdict after the block with {_MODES}."
            )
        if strategy != "greedy":
            raise ValueError(
                f"strategy {strategy!r} reads the verdict's steps from the answer's start, and these answers begin "
                f"with a {self.open_tag} block; use strategy 'greedy', or {_MODES}."
            )


class _BlockClosed(StoppingCriteria):
    """Stops a row once its generated text contains the closing tag (decoded text: a tag split over tokens too)."""

    def __init__(self, tokenizer: Any, close_tag: str, start: int) -> None:
        self.tokenizer, self.close_tag, self.start = tokenizer, close_tag, start

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=True)
        return torch.tensor([self.close_tag in t for t in texts], device=input_ids.device)


def _cut_at_close(space: LabelSpace, tokens: list[int], eos: set[int], close_tag: str) -> tuple[list[int], str]:
    """The tokens up to and including the one that closes the block, and the trace's status."""
    for end in range(1, len(tokens) + 1):
        if tokens[end - 1] in eos:  # the answer ended inside the block (what follows is padding)
            return tokens[: end - 1], "open"
        text = space.decode(tokens[:end])
        if close_tag in text:
            after = text.split(close_tag, 1)[1]
            return tokens[:end], ("closed" if not after.strip() else "merged")
    return tokens, "open"


@dataclass
class ReasoningScores:
    """What :func:`score_reasoning` returns.

    Attributes:
        mode: ``"greedy"`` or ``"sample"``.
        scores: per prompt, ``probs`` (greedy: the conditional ``any_place`` estimate; sample: the mean over the
            closed traces), ``lower`` / ``upper`` (the mean of the traces' bounds: they bound the conditional
            probabilities' mean, not the Monte Carlo error) and ``texts`` (the first trace's reasoning).
        stderr: ``[N, labels]``: the standard error of the mean over the closed traces (sample mode; NaN under two
            traces); None in greedy mode.
        k: per prompt, the closed traces the estimate averages.
        traces: per prompt, each trace's reasoning text (through the closing tag).
        status: per prompt, each trace's status: ``"closed"``, ``"open"`` (no closing tag within
            ``max_reasoning_tokens`` or the answer ended first) or ``"merged"`` (the closing token writes verdict
            text too).
        trace_probs: per prompt, ``[k, labels]``: each closed trace's conditional ``any_place`` estimate.
        walks: the verdict walks, one ``LabelScores`` row per closed trace in the order of the traces (label sets,
            completions), or None when no trace closed.
    """

    mode: str
    scores: LabelScores
    stderr: torch.Tensor | None
    k: list[int]
    traces: list[list[str]]
    status: list[list[str]]
    trace_probs: list[torch.Tensor]
    walks: LabelScores | None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.scores.labels

    @property
    def probs(self) -> torch.Tensor:
        return self.scores.probs


def _check(
    mode: Any, k: Any, temperature: Any, sample_top_p: Any, max_reasoning_tokens: Any, space: Any
) -> ReasoningSpace:
    if mode is None:
        raise ValueError(f"a walk over the reasoning block's free text is refused; pass {_MODES}.")
    if mode not in get_args(ReasoningMode):
        raise ValueError(f"`mode` must be 'greedy' or 'sample', got {mode!r}; {_MODES}.")
    if not isinstance(space, ReasoningSpace):
        hint = "ReasoningSpace(space)" if isinstance(space, LabelSpace) else "ReasoningSpace(mg.LabelSpace...)"
        raise ValueError(
            f"`label_space` must be a ReasoningSpace (the verdict's space and its tags), got {type(space).__name__}; "
            f"wrap it: {hint}."
        )
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ValueError(f"`k` must be an integer >= 2 (the standard error needs two traces), got {k!r}; e.g. k=16.")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ValueError(f"`temperature` must be a number > 0, got {temperature!r}; 1.0 samples the model's own.")
    if not isinstance(sample_top_p, (int, float)) or isinstance(sample_top_p, bool) or not 0 < sample_top_p <= 1:
        raise ValueError(f"`sample_top_p` must be a number in (0, 1], got {sample_top_p!r}; 1.0 keeps every token.")
    if not isinstance(max_reasoning_tokens, int) or isinstance(max_reasoning_tokens, bool) or max_reasoning_tokens < 1:
        raise ValueError(f"`max_reasoning_tokens` must be an integer >= 1, got {max_reasoning_tokens!r}; e.g. 512.")
    return space


def _reason(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    space: ReasoningSpace,
    eos: set[int],
    sample: bool,
    temperature: float,
    sample_top_p: float,
    seed: int,
    max_reasoning_tokens: int,
) -> list[list[int]]:
    """Each row's generated tokens, decoded until its block closes (or the length limit, or EOS)."""
    pad = space.tokenizer.pad_token_id
    config = GenerationConfig(
        max_new_tokens=max_reasoning_tokens,
        do_sample=sample,
        eos_token_id=sorted(eos),
        pad_token_id=pad if pad is not None else min(eos),
        **({"temperature": float(temperature), "top_p": float(sample_top_p), "top_k": 0} if sample else {}),
    )
    stop = StoppingCriteriaList([_BlockClosed(space.tokenizer, space.close_tag, input_ids.shape[1])])
    devices = [model.device] if getattr(model, "device", torch.device("cpu")).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=config, stopping_criteria=stop
        )
    return out[:, input_ids.shape[1] :].tolist()


@torch.no_grad()
def score_reasoning(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    label_space: ReasoningSpace,
    mode: ReasoningMode | None = None,
    *,
    k: int = 16,
    temperature: float = 1.0,
    sample_top_p: float = 1.0,
    seed: int = 0,
    max_reasoning_tokens: int = 512,
    max_new_tokens: int = 20,
    eps: float = 0.01,
    top_p: float = 0.99,
    eos_token_ids: set[int] | None = None,
    **score_kwargs: Any,
) -> ReasoningScores:
    """The verdict's per-label probabilities of a reasoning guard, for a left-padded batch (module docstring).

    ``mode``: ``"greedy"`` (conditioned on the greedy reasoning) or ``"sample"`` (``k`` sampled traces per prompt,
    ``temperature`` and ``sample_top_p`` as ``generate``'s ``temperature`` and ``top_p``, ``seed`` seeding
    torch's generator around the call). ``max_reasoning_tokens`` caps the block; ``max_new_tokens``, ``eps``,
    ``top_p`` and ``score_kwargs`` go to the verdict's ``any_place`` walk (:func:`marginal_generate.score`).
    """
    space = _check(mode, k, temperature, sample_top_p, max_reasoning_tokens, label_space)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    lengths = check_batch(input_ids, attention_mask)
    eos = eos_ids(eos_token_ids, name="eos_token_ids", model=model)
    copies = k if mode == "sample" else 1
    rows = input_ids.repeat_interleave(copies, dim=0)
    generated = _reason(
        model,
        rows,
        attention_mask.repeat_interleave(copies, dim=0),
        space,
        eos,
        mode == "sample",
        temperature,
        sample_top_p,
        seed,
        max_reasoning_tokens,
    )
    cuts = [_cut_at_close(space, tokens, eos, space.close_tag) for tokens in generated]
    prompts = [row[len(row) - n :] for row, n in zip(input_ids.tolist(), lengths)]
    closed = [r for r, (_, status) in enumerate(cuts) if status == "closed"]
    walks = None
    if closed:
        pad = space.tokenizer.pad_token_id
        ids, mask = left_pad(
            [prompts[r // copies] + cuts[r][0] for r in closed], pad if pad is not None else min(eos), input_ids.device
        )
        walks = score(
            model,
            ids,
            mask,
            space.verdict_space,
            ["any_place"],
            max_new_tokens=max_new_tokens,
            eps=eps,
            top_p=top_p,
            eos_token_ids=eos,
            **score_kwargs,
        )["any_place"]
    walk_row = {r: w for w, r in enumerate(closed)}
    n_labels = len(space.labels)
    nan = torch.full((len(prompts), n_labels), math.nan, dtype=torch.float64)
    probs, lower, upper, stderr = nan.clone(), nan.clone(), nan.clone(), nan.clone()
    trace_probs, ks = [], []
    for i in range(len(prompts)):
        mine = [walk_row[r] for r in range(i * copies, (i + 1) * copies) if r in walk_row]
        ks.append(len(mine))
        values = walks.probs[mine] if walks is not None else torch.zeros((0, n_labels), dtype=torch.float64)
        trace_probs.append(values)
        if mine:
            assert walks is not None and walks.lower is not None and walks.upper is not None
            probs[i], lower[i], upper[i] = values.mean(0), walks.lower[mine].mean(0), walks.upper[mine].mean(0)
        if len(mine) >= 2:
            stderr[i] = values.std(0, unbiased=True) / math.sqrt(len(mine))
    traces = [[space.decode(cuts[r][0]) for r in range(i * copies, (i + 1) * copies)] for i in range(len(prompts))]
    status = [[cuts[r][1] for r in range(i * copies, (i + 1) * copies)] for i in range(len(prompts))]
    stats = {"reasoning": mode, "k": ks, "eps": float(eps), "top_p": float(top_p)}
    if mode == "sample":
        stats.update(temperature=float(temperature), sample_top_p=float(sample_top_p), seed=seed)
    scores = LabelScores(
        labels=space.labels,
        probs=probs,
        texts=[t[0] for t in traces],
        strategy="any_place",
        lower=lower,
        upper=upper,
        estimate=walks.estimate if walks is not None else None,
        stats=stats,
    )
    return ReasoningScores(
        mode=mode,
        scores=scores,
        stderr=stderr if mode == "sample" else None,
        k=ks,
        traces=traces,
        status=status,
        trace_probs=trace_probs,
        walks=walks,
    )
