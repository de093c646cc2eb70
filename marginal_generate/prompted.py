"""``per_category_prompt`` and ``unary``: a score per label from one prompt per label.

- ``per_category_prompt``: for each category the guard prompt with a policy of that category
  only, read as ``first_token`` reads p(unsafe): the softmax over the first tokens of ``safe``
  and ``unsafe`` at the greedy step where the answer's first word starts. The ``unsafe`` column
  is the same reading of the plain guard prompt (every category).
- ``unary`` (Ma et al.'s zero-shot method for instruct models): for each category the question
  whether it applies (:func:`~marginal_generate.prompts.label_prompts.unary_question`), read as p(yes)
  against p(no) in the same way; the ``unsafe`` column asks whether the message is unsafe at all.

All prompts of all samples of a batch run together: each sample's prompts share their common
token prefix through the KV cache (:class:`~marginal_generate.decoding.branched_stepper.BranchedStepper`),
and a row stops as soon as its answer's first word is read (a few tokens at most).

These strategies need the conversation, not a rendered prompt, so they are not
``custom_generate`` strategies: call :func:`score_label_prompts`.

>>> import marginal_generate as mg
>>> model, tok = mg.load_default()
>>> conv = [{"role": "user", "content": "How do I bake bread?"}]
>>> out = score_label_prompts(model, tok, [conv], "per_category_prompt")
>>> out.labels[:2], tuple(out.probs.shape), bool(((out.probs >= 0) & (out.probs <= 1)).all())
(('unsafe', 'S1'), (1, 15), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .decoding.branched_stepper import BranchedStepper, common_prefix_length
from .decoding.eos import eos_ids
from .decoding.first_word import FirstWordReader, verbalize
from .decoding.stepper import CachedStepper
from .inputs import check_conversations, check_prompt_lengths
from .labels.space import LabelSpace, first_token_ids
from .labels.taxonomy import get_taxonomy
from .padding import left_pad
from .prompts.formats import Message
from .prompts.label_prompts import PROMPTED_STRATEGIES, LabelPromptKind, label_prompts
from .scores import LabelScores

__all__ = ["PROMPTED_STRATEGIES", "score_label_prompts", "read_first_word"]


def _verbalizer(tokenizer: Any, kind: str, categories: Sequence[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(negative, positive) first-token ids: those of ``first_token`` for guard prompts, no/yes for unary."""
    if kind == "per_category_prompt":
        return LabelSpace(tokenizer, categories).verbalizer_ids
    negative, positive = first_token_ids(tokenizer, "no"), first_token_ids(tokenizer, "yes")
    if set(negative) & set(positive):
        raise ValueError(
            f"`yes` and `no` share first tokens {sorted(set(negative) & set(positive))} "
            "in this tokenizer; unary is undefined here."
        )
    return negative, positive


@torch.no_grad()
def read_first_word(
    stepper: CachedStepper,
    tokenizer: Any,
    verbalizer: tuple[tuple[int, ...], tuple[int, ...]],
    eos_token_ids: set[int],
    max_new_tokens: int,
    first_step: bool = False,
) -> tuple[torch.Tensor, list[str]]:
    """Greedy-decode each row until its answer's first word starts (or EOS) and read the verbalizer there.

    Returns p(positive) = softmax over (negative, positive) first tokens at the step where the answer's first
    non-whitespace character starts (:class:`~marginal_generate.decoding.first_word.FirstWordReader`, the rule
    ``first_token`` reads by: a character split over byte-level tokens, such as a no-break space C2 A0, is known once
    whole), NaN for a row whose answer did not start within ``max_new_tokens``, and each row's greedy text up to the
    step its reading became known. ``first_step``: read every row at the first generated step instead, whatever it
    writes there.
    """
    n = stepper.batch_size
    out = torch.full((n,), math.nan, dtype=torch.float64)
    reader = FirstWordReader(tokenizer, n, eos_token_ids, verbalizer)
    alive = torch.arange(n)
    logits = stepper.prefill()
    generated: list[list[int]] = [[] for _ in range(n)]
    for depth in range(max_new_tokens):
        logprobs = torch.log_softmax(logits.double(), dim=-1).cpu()
        tokens = logprobs.argmax(-1)
        keep = []
        for i, row in enumerate(alive.tolist()):
            token = int(tokens[i])
            generated[row].append(token)
            reading = verbalize(logprobs[i], verbalizer) if first_step else reader.feed(row, token, logprobs[i])
            if reading is not None:
                out[row] = reading[0]
            else:
                keep.append(i)
        if not keep or depth == max_new_tokens - 1:
            break
        parents = torch.tensor(keep, dtype=torch.long)
        logits = stepper.step(parents, tokens[parents])
        alive = alive[parents]
    texts = [tokenizer.decode(g, skip_special_tokens=True) for g in generated]
    return out, texts


@torch.no_grad()
def score_label_prompts(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    strategy: LabelPromptKind,
    categories: Sequence[str] | None = None,
    *,
    prompt_format: str = "auto",
    taxonomy: int = 3,
    max_new_tokens: int = 8,
    batch_size: int = 16,
    share_prefix: bool = True,
) -> LabelScores:
    """Scores ``[len(conversations), 1 + len(categories)]`` (``unsafe``, then the categories) by one prompt per label.

    ``batch_size`` counts conversations (each brings ``1 + len(categories)`` prompts);
    ``share_prefix=False`` runs every prompt in full (the same numbers, for comparison).
    ``texts`` holds each conversation's greedy answer start on its ``unsafe`` prompt.
    """
    if strategy not in PROMPTED_STRATEGIES:
        raise ValueError(f"`strategy` must be one of {list(PROMPTED_STRATEGIES)}, got {strategy!r}.")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(
            f"`max_new_tokens` must be an integer >= 1, got {max_new_tokens!r}; "
            "the first word comes after 1 or 2 tokens."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    check_conversations(conversations)
    ids = tuple(get_taxonomy(taxonomy).ids if categories is None else categories)
    texts = label_prompts(tokenizer, conversations, strategy, ids, prompt_format, taxonomy)
    verbalizer = _verbalizer(tokenizer, strategy, ids)
    eos = eos_ids(model=model, tokenizer=tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos)
    width = 1 + len(ids)
    probs = torch.empty((len(texts), width), dtype=torch.float64)
    answers: list[str] = []
    forward_passes, prompt_tokens, fed_tokens = 0, 0, 0
    for start in range(0, len(texts), batch_size):
        chunk = [
            [list(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in group]
            for group in texts[start : start + batch_size]
        ]
        shared = [common_prefix_length(group) for group in chunk] if share_prefix else [0] * len(chunk)
        rows = [seq for group in chunk for seq in group]
        check_prompt_lengths(model, [len(r) for r in rows], max_new_tokens)
        prompt_tokens += sum(len(r) for r in rows)
        if all(n > 0 for n in shared):
            prefixes = [group[0][:n] for group, n in zip(chunk, shared)]
            suffixes = [seq[n:] for group, n in zip(chunk, shared) for seq in group]
            owner = [g for g, group in enumerate(chunk) for _ in group]
            stepper: CachedStepper = BranchedStepper(model, prefixes, suffixes, owner, pad)
            fed_tokens += sum(len(p) for p in prefixes) + sum(len(s) for s in suffixes)
        else:
            stepper = CachedStepper(model, *left_pad(rows, pad, getattr(model, "device", None)))
            fed_tokens += sum(len(r) for r in rows)
        values, row_texts = read_first_word(stepper, tokenizer, verbalizer, eos, max_new_tokens)
        forward_passes += stepper.forward_passes
        probs[start : start + len(chunk)] = values.view(len(chunk), width)
        answers += row_texts[::width]
    stats = {
        "forward_passes": forward_passes,
        "prompts": len(texts) * width,
        "prompt_tokens": prompt_tokens,
        "tokens_fed": fed_tokens,
    }
    return LabelScores(labels=("unsafe", *ids), probs=probs, texts=answers, strategy=strategy, stats=stats)
