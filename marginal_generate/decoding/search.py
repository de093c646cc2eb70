"""The decoding loop: the greedy path, the output tree and short lookaheads in one batched forward per depth.

Every row of the batch is a :class:`Node`: a partial completion of one prompt. A node can be

- on the **greedy path** of its prompt (continued with the argmax token until EOS or
  ``max_new_tokens``; the :class:`~marginal_generate.decoding.greedy_path.GreedyRecorder`
  sees its next-token distribution at every step),
- in the **output tree** (``any_place``): its probability is the product of the token
  probabilities along it; it is expanded with every token inside the per-step nucleus
  ``top_p`` whose child probability is at least ``eps``,
- a **lookahead**: a forced continuation (the rest of a category id, then a delimiter) whose
  log-probability is handed back to the recorder (``max_over_generations`` with
  ``label_normalization="vocab"``).

A node on the greedy path that is also in the tree is one row. Credit is exact: a label is
credited with a node's probability at the first node that confirms it (the parser's
``PrefixState``), since every continuation inherits it. Mass removed by ``top_p`` or ``eps``
below a node goes to the upper bound of each label the node may still add. A completion ends
at EOS or at ``max_new_tokens`` (complete, never cut); a tree node also ends when its label
set can no longer change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessorList

from ..labels.prefix_state import PrefixState
from ..labels.space import LabelSpace
from .stepper import Stepper

__all__ = ["Node", "TreeParams", "SearchResult", "run_search"]


@dataclass
class Node:
    """One decoding row."""

    row: int
    tokens: tuple[int, ...]
    state: PrefixState
    prob: float = 1.0
    greedy: bool = False
    in_tree: bool = False
    forced: tuple[int, ...] | None = None
    logp: float = 0.0
    tag: Any = None


@dataclass(frozen=True)
class TreeParams:
    """Cuts of the output tree: per-step nucleus ``top_p`` and prefix-probability floor ``eps``."""

    top_p: float
    eps: float


@dataclass
class SearchResult:
    """Tree mass per prompt and label, plus the run's counters."""

    lower: torch.Tensor
    cut: torch.Tensor
    completions: list[list[tuple[str, float, bool]]]
    frontier_widths: list[int] = field(default_factory=list)
    nodes_expanded: int = 0

    @property
    def upper(self) -> torch.Tensor:
        return (self.lower + self.cut).clamp(max=1.0)


def run_search(
    stepper: Stepper,
    space: LabelSpace,
    eos_token_ids: set[int],
    max_new_tokens: int,
    tree: TreeParams | None,
    recorder: Any,
    logits_processor: LogitsProcessorList | None = None,
    top_completions: int = 10,
) -> SearchResult:
    """Decode every prompt of ``stepper``; feed the greedy path to ``recorder``; search the tree if ``tree``.

    ``recorder`` gets ``observe(node, depth, logprobs, token, text)`` for each greedy step and may
    return lookahead nodes to run; it gets ``lookahead_done(tag, logprob)`` when one ends.
    """
    batch = stepper.batch_size
    n_labels = len(space.labels)
    lower = [[0.0] * n_labels for _ in range(batch)]  # plain floats: many tiny updates per depth
    cut = [[0.0] * n_labels for _ in range(batch)]
    completions: list[list[tuple[str, float, bool]]] = [[] for _ in range(batch)]
    widths: list[int] = []
    expanded = 0
    root_state = space.prefix_state("", finished=False)
    frontier = [Node(row=b, tokens=(), state=root_state, greedy=True, in_tree=tree is not None) for b in range(batch)]
    logits = stepper.prefill()
    depth = 0
    while frontier:
        widths.append(len(frontier))
        scores = logits.to(torch.float64)
        if logits_processor:
            scores = logits_processor(stepper.sequences().to(scores.device), scores)
        logprobs = torch.log_softmax(scores, dim=-1)
        children: list[Node] = []
        parents: list[int] = []

        def add(child: Node, parent: int) -> None:
            children.append(child)
            parents.append(parent)

        tree_rows = [i for i, node in enumerate(frontier) if node.in_tree]
        kept: dict[int, list[tuple[int, float]]] = {i: [] for i in tree_rows}
        if tree_rows:
            assert tree is not None
            expanded += len(tree_rows)
            node_probs = [frontier[i].prob for i in tree_rows]
            removed, children_of = expand_nodes(node_probs, logprobs[torch.tensor(tree_rows, device=logprobs.device)], tree)
            for j, i in enumerate(tree_rows):
                node = frontier[i]
                if removed[j] > 0:
                    for label in node.state.possible:
                        cut[node.row][space.index[label]] += removed[j]
                kept[i] = children_of[j]

        argmax = logprobs.argmax(dim=-1).tolist()
        for i, node in enumerate(frontier):
            if node.forced is not None:
                lookahead = _advance_lookahead(node, logprobs[i], recorder)
                if lookahead is not None:
                    add(lookahead, i)
                continue
            greedy_token = argmax[i] if node.greedy else -1
            if node.greedy:
                for extra in recorder.observe(node, depth, logprobs[i], greedy_token) or ():
                    add(extra, i)
            greedy_in_tree = False
            for token, prob in kept.get(i, ()):
                finished = token in eos_token_ids or depth + 1 >= max_new_tokens
                tokens = node.tokens + (token,)
                text = space.decode(tokens)
                state = space.prefix_state(text, finished)
                for label in state.confirmed - node.state.confirmed:
                    lower[node.row][space.index[label]] += prob
                on_greedy = token == greedy_token
                greedy_in_tree |= on_greedy
                if finished or state.final:
                    completions[node.row].append((text, prob, finished))
                    if on_greedy and not finished:
                        add(Node(node.row, tokens, state, prob, greedy=True), i)
                    continue
                add(Node(node.row, tokens, state, prob, greedy=on_greedy, in_tree=True), i)
            if node.greedy and not greedy_in_tree:
                if greedy_token in eos_token_ids or depth + 1 >= max_new_tokens:
                    continue
                add(Node(node.row, node.tokens + (greedy_token,), node.state, greedy=True), i)

        frontier = children
        depth += 1
        if not frontier:
            break
        logits = stepper.step(
            torch.tensor(parents, dtype=torch.long),
            torch.tensor([c.tokens[-1] for c in children], dtype=torch.long),
        )

    for row in completions:
        row.sort(key=lambda c: -c[1])
        del row[top_completions:]
    return SearchResult(
        lower=torch.tensor(lower, dtype=torch.float64),
        cut=torch.tensor(cut, dtype=torch.float64),
        completions=completions,
        frontier_widths=widths,
        nodes_expanded=expanded,
    )


def expand_nodes(
    node_probs: list[float], logprobs: torch.Tensor, tree: TreeParams
) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """The children each node keeps, and the mass each one loses to the cuts.

    A child is kept when it is inside the node's nucleus ``top_p`` (the probability of the tokens
    more probable than it is below ``top_p``: :class:`~transformers.TopPLogitsWarper`'s rule) and
    its prefix probability is at least ``eps``. Only the ``node_prob / eps`` most probable tokens
    can pass the second test, so a ``topk`` replaces a sort of the whole vocabulary.

    >>> logp = torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64).log()
    >>> removed, kept = expand_nodes([0.5], logp, TreeParams(top_p=0.8, eps=0.1))
    >>> [(t, round(p, 3)) for t, p in kept[0]], round(removed[0], 3)
    ([(0, 0.25), (1, 0.15)], 0.1)
    """
    vocab = logprobs.shape[-1]
    most = max(node_probs)
    k = vocab if tree.eps <= 0 else min(vocab, int(most / tree.eps) + 1)
    top, ids = _top_probs(logprobs, k)
    node = torch.tensor(node_probs, dtype=top.dtype, device=top.device)[:, None]
    child = node * top
    keep = (child >= tree.eps) & (child > 0)
    if tree.top_p < 1.0:
        keep &= (top.cumsum(-1) - top) < tree.top_p
    removed = (node[:, 0] - (child * keep).sum(-1)).clamp(min=0.0).tolist()
    pairs = keep.nonzero()
    tokens = ids[pairs[:, 0], pairs[:, 1]].tolist()
    values = child[pairs[:, 0], pairs[:, 1]].tolist()
    kept: list[list[tuple[int, float]]] = [[] for _ in node_probs]
    for j, token, value in zip(pairs[:, 0].tolist(), tokens, values):
        kept[j].append((token, value))
    return removed, kept


def _top_probs(logprobs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest probabilities of each row (descending) and their token ids, from log-probabilities.

    One pass over the vocabulary: ``topk`` on the log-probabilities (the order is the same), then ``exp`` of
    the ``k`` values only; no exponentiated copy of the whole distribution (at 128,256 tokens a row, that
    copy cost as much as the selection). ``k`` equal to the vocabulary (``eps=0``) sorts the row.

    >>> top, ids = _top_probs(torch.tensor([[0.1, 0.6, 0.3]], dtype=torch.float64).log(), 2)
    >>> [round(p, 3) for p in top[0].tolist()], ids[0].tolist()
    ([0.6, 0.3], [1, 2])
    """
    values, ids = logprobs.topk(k, dim=-1)
    return values.exp(), ids


def _advance_lookahead(node: Node, logprobs: torch.Tensor, recorder: Any) -> Node | None:
    """Force the next token of a lookahead, or close it with the delimiter mass and report it."""
    assert node.forced is not None
    if node.forced:
        token = node.forced[0]
        return Node(
            node.row,
            node.tokens + (token,),
            node.state,
            forced=node.forced[1:],
            logp=node.logp + float(logprobs[token]),
            tag=node.tag,
        )
    mask = recorder.delimiter_mask(logprobs.shape[-1], node.tag).to(logprobs.device)
    delimiter = float(torch.logsumexp(logprobs[mask], dim=-1)) if bool(mask.any()) else -math.inf
    recorder.lookahead_done(node.tag, node.logp + delimiter)
    return None
