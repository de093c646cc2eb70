"""Slow, obvious implementations of the definitions: the yardstick for tests and benchmarks.

- :func:`tree_search_reference`: the project's reference walk for ``any_place``'s bounds: a
  depth-first walk of the output tree asking the model for one node at a time with the whole
  sequence (no cache, batch size 1), crediting a label once at the prefix that confirms it and
  keeping the cut mass for the upper bound. It has the *cost shape* of the seed repository's
  search (one model call per node) but not its crediting, which differs (see the README's notes
  on seed 1). ``next_logits`` chooses how: a plain forward (:func:`forward_next_logits`, the
  tests' float64 brute force) or one ``model.generate`` call per node
  (:func:`generate_next_logits`, the seed code's way of calling the model; the speed
  benchmark's baseline).
- :func:`enumerate_label_probs`: P(label in label set) by enumerating *every* completion up to
  EOS or the length limit, no pruning at all: the definition itself, for small vocabularies.
- :func:`greedy_reference`: greedy decoding by full forwards, with each step's log-probabilities.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import TopPLogitsWarper

from ..labels.space import LabelSpace
from .prefixes import PrefixReader

__all__ = [
    "forward_next_logits",
    "generate_next_logits",
    "tree_search_reference",
    "enumerate_label_probs",
    "greedy_reference",
]

NextLogits = Callable[[list[int]], torch.Tensor]


def forward_next_logits(model: torch.nn.Module, prompt: list[int]) -> NextLogits:
    """Next-token logits after ``prompt + tokens`` by one full forward, no cache."""

    def next_logits(tokens: list[int]) -> torch.Tensor:
        ids = torch.tensor([prompt + tokens], device=model.device)
        with torch.no_grad():
            return model(input_ids=ids, use_cache=False).logits[0, -1].to(torch.float64).cpu()

    return next_logits


def generate_next_logits(model: torch.nn.Module, prompt: list[int]) -> NextLogits:
    """Next-token logits by one ``model.generate`` call per node, no cache: how the seed repo calls the model."""

    def next_logits(tokens: list[int]) -> torch.Tensor:
        ids = torch.tensor([prompt + tokens], device=model.device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=1,
            do_sample=False,
            use_cache=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
        return out.logits[0][0].to(torch.float64).cpu()

    return next_logits


def tree_search_reference(
    next_logits: NextLogits,
    space: LabelSpace,
    eos_token_ids: set[int],
    max_new_tokens: int,
    top_p: float = 1.0,
    eps: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Depth-first ``any_place`` bounds: returns ``(lower, upper, nodes visited)`` for one prompt.

    Prefix states come from a :class:`~marginal_generate.decoding.prefixes.PrefixReader`, as in the search (a prefix
    that ends inside a character split over byte tokens stays open).
    """
    lower = torch.zeros(len(space.labels), dtype=torch.float64)
    reader = PrefixReader(space)
    cut = torch.zeros(len(space.labels), dtype=torch.float64)
    warper = TopPLogitsWarper(top_p) if top_p < 1.0 else None
    visited = 0

    def visit(tokens: list[int], prob: float, confirmed: frozenset[str], possible: frozenset[str]) -> None:
        nonlocal visited
        visited += 1
        scores = next_logits(tokens)
        probs = prob * torch.softmax(scores, dim=-1)
        keep = (probs >= eps) & (probs > 0)
        if warper is not None:
            keep &= torch.isfinite(warper(None, scores[None].clone())[0])
        removed = max(prob - float(probs[keep].sum()), 0.0)
        for label in possible:
            cut[space.index[label]] += removed
        for token in keep.nonzero().flatten().tolist():
            child = tokens + [token]
            finished = token in eos_token_ids or len(child) >= max_new_tokens
            state = reader.read(tuple(child), finished)[1]
            for label in state.confirmed - confirmed:
                lower[space.index[label]] += float(probs[token])
            if not (finished or state.final):
                visit(child, float(probs[token]), state.confirmed, state.possible)

    root = space.prefix_state("", finished=False)
    visit([], 1.0, root.confirmed, root.possible)
    return lower, (lower + cut).clamp(max=1.0), visited


def enumerate_label_probs(
    model: torch.nn.Module, prompt: list[int], space: LabelSpace, eos_token_ids: set[int], max_new_tokens: int
) -> torch.Tensor:
    """Sum over every completion (ended by EOS or the length limit) of P(completion) * [label in parse].

    Level by level: all unfinished sequences of one length go through one full forward (no
    cache), so a vocabulary of 12 tokens and depth 4 costs 4 forwards of up to 1,728 rows.
    """
    totals = torch.zeros(len(space.labels), dtype=torch.float64)
    level: list[tuple[list[int], float]] = [([], 1.0)]
    while level:
        ids = torch.tensor([prompt + tokens for tokens, _ in level], device=model.device)
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[:, -1].to(torch.float64).cpu()
        probs = torch.softmax(logits, dim=-1) * torch.tensor([p for _, p in level], dtype=torch.float64)[:, None]
        next_level = []
        for (tokens, _), row in zip(level, probs.tolist()):
            for token, p in enumerate(row):
                child = tokens + [token]
                if token in eos_token_ids or len(child) >= max_new_tokens:
                    for label in space.parse(space.decode(child)):
                        totals[space.index[label]] += p
                else:
                    next_level.append((child, p))
        level = next_level
    return totals


def greedy_reference(
    next_logits: NextLogits, eos_token_ids: set[int], max_new_tokens: int
) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy tokens and the log-softmax at each step, by full forwards."""
    tokens: list[int] = []
    steps = []
    while len(tokens) < max_new_tokens:
        logprobs = torch.log_softmax(next_logits(tokens), dim=-1)
        steps.append(logprobs)
        token = int(logprobs.argmax())
        tokens.append(token)
        if token in eos_token_ids:
            break
    return tokens, steps
