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
  ``label_normalization="vocab"``),
- a **roll-out**: a heavy child the cuts dropped, continued greedily to the end of its answer
  for the estimate (:mod:`~marginal_generate.decoding.estimate`); its ``prob`` is the dropped mass.

The model is reached only through a :class:`~marginal_generate.decoding.next_tokens.NextTokenBackend`: per depth,
the argmax of every row, the top tokens of the tree's rows and, where the backend gives them, the whole rows of the
greedy path and the lookaheads. A backend whose ``max_k`` is smaller than what the cuts would keep shows fewer
children: the ones it leaves out are cut mass like those below ``eps``, so the bounds hold with any k.

A node on the greedy path that is also in the tree is one row. Credit is exact: a label is
credited with a node's probability at the first node that confirms it (the parser's
``PrefixState``), since every continuation inherits it. Mass removed by ``top_p`` or ``eps``
below a node goes to the upper bound of each label the node may still add. A completion ends
at EOS or at ``max_new_tokens`` (complete, never cut); a tree node also ends when its label
set can no longer change. With ``TreeParams.estimate`` the heaviest dropped children of each
cut node go to a :class:`~marginal_generate.decoding.estimate.CutEstimator`, which places the
dropped mass between the bounds (``SearchResult.estimate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessorList

from ..labels.prefix_state import PrefixState
from ..labels.space import LabelSpace
from .budget import BudgetGuard, SearchBudget
from .completions import merge_by_text
from .estimate import CutEstimator
from .joint import JointAccumulator
from .next_tokens import NextTokenBackend, as_backend, check_backend, sparse_rows
from .prefixes import PrefixReader
from .selection import Selection, TreeParams, expand_nodes, select_children, select_top, width
from .stepper import Stepper

# the cuts and the child selection live in .selection; named here too, where the search's callers import them
__all__ = [
    "Node",
    "TreeParams",
    "SearchResult",
    "run_search",
    "Selection",
    "select_children",
    "select_top",
    "expand_nodes",
]


@dataclass(slots=True)
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
    rollout: bool = False


@dataclass
class SearchResult:
    """Tree mass per prompt and label, plus the run's counters.

    ``estimate``: ``lower <= estimate <= upper`` when the tree had ``TreeParams.estimate``, else None.
    ``memory_estimate``: the largest estimate of a depth's bytes (:mod:`~marginal_generate.decoding.budget`), 0 when
    the search ran without a budget.
    """

    lower: torch.Tensor
    cut: torch.Tensor
    completions: list[list[tuple[str, float, bool]]]
    frontier_widths: list[int] = field(default_factory=list)
    nodes_expanded: int = 0
    estimate: torch.Tensor | None = None
    rollouts: int = 0
    memory_estimate: float = 0.0

    @property
    def upper(self) -> torch.Tensor:
        return (self.lower + self.cut).clamp(max=1.0)


def run_search(
    stepper: Stepper | NextTokenBackend,
    space: LabelSpace,
    eos_token_ids: set[int],
    max_new_tokens: int,
    tree: TreeParams | None,
    recorder: Any,
    logits_processor: LogitsProcessorList | None = None,
    top_completions: int = 10,
    reader: PrefixReader | None = None,
    budget: SearchBudget | None = None,
    joint: JointAccumulator | None = None,
    strategies: Sequence[str] | None = None,
) -> SearchResult:
    """Decode every prompt of ``stepper``; feed the greedy path to ``recorder``; search the tree if ``tree``.

    ``stepper``: a :class:`~marginal_generate.decoding.stepper.Stepper` (read through the HF backend,
    :class:`~marginal_generate.decoding.next_tokens.StepperBackend`, with ``logits_processor``) or any
    :class:`~marginal_generate.decoding.next_tokens.NextTokenBackend`. ``strategies``: what will be read of the
    result; a backend without whole rows refuses those that read whole rows (and needs them named:
    :func:`~marginal_generate.decoding.next_tokens.check_backend`), before any forward.

    ``recorder`` gets ``observe(node, depth, logprobs, token)`` for each greedy step and may
    return lookahead nodes to run; it gets ``lookahead_done(tag, logprob)`` when one ends. A recorder whose
    ``reads_rows`` is False gets None for ``logprobs`` (no whole row is made for the greedy path).
    ``reader``: reads the text and parser state of answer prefixes (default: a fresh memo).
    ``joint``: told each explored answer's label set and each cut node's mass (and, through the estimator, where
    the estimate places it): the distribution over label sets (:mod:`~marginal_generate.decoding.joint`).
    ``budget``: with a tree, each depth is estimated twice, before its children are read and before their forward,
    and a :class:`~marginal_generate.decoding.budget.SearchBudgetError` stops the search before it outgrows the
    budget; None: no limit.
    """
    backend = as_backend(stepper, logits_processor)
    check_backend(backend, strategies, getattr(recorder, "normalization", None))
    batch = backend.batch_size
    n_labels = len(space.labels)
    lower = [[0.0] * n_labels for _ in range(batch)]  # plain floats: many tiny updates per depth
    cut = [[0.0] * n_labels for _ in range(batch)]
    completions: list[list[tuple[str, float, bool]]] = [[] for _ in range(batch)]
    widths: list[int] = []
    expanded = 0
    reader = reader if reader is not None else PrefixReader(space)
    estimator = (
        CutEstimator(space, batch, eos_token_ids, max_new_tokens, tree.eps, tree.estimate, reader)
        if tree is not None and tree.estimate is not None
        else None
    )
    spare, floor = (estimator.params.per_node, estimator.floor) if estimator is not None else (0, 0.0)
    if estimator is not None:
        estimator.joint = joint
    tail = estimator.params.tail if estimator is not None else None  # the depths roll-outs may run alone
    alone = [0] * batch  # per prompt, the depths its roll-outs have run alone
    # the lightest child the cuts read (kept: eps; looked at by the estimate: floor); 0: read them all
    least = 0.0
    if tree is not None and tree.eps > 0 and (floor > 0 or not spare):
        least = min(tree.eps, floor) if spare else tree.eps
    root_state = space.prefix_state("", finished=False)
    frontier = [Node(row=b, tokens=(), state=root_state, greedy=True, in_tree=tree is not None) for b in range(batch)]
    guard = (
        BudgetGuard(budget, backend, batch, tree.eps, tree.top_p, max_new_tokens, spare)
        if budget is not None and tree is not None
        else None
    )
    index = space.index
    possible_at: dict[frozenset[str], tuple[int, ...]] = {}  # a state's possible labels as columns, per label set
    read = reader.read
    # the greedy path's recorder and the lookaheads read whole rows, the tree its rows' heaviest tokens
    path_rows = getattr(recorder, "reads_rows", True)  # False: the recorder reads the greedy tokens alone
    full_rows, tree_rows, greedy_rows = _reads(frontier)
    # inference mode: the search's many small tensor ops skip autograd's bookkeeping; the result is made outside
    with torch.inference_mode():
        scores = backend.prefill(full_rows + tree_rows)
        depth = 0
        while frontier:
            widths.append(len(frontier))
            if guard is not None:  # what the budget reads of a row: its size and element type
                shape = torch.empty((0, scores.vocab), dtype=scores.dtype, device="meta")
            full: dict[int, torch.Tensor] = {}
            # the rows read whole (a recorder that reads no row: the lookaheads' only); the backend was told of them
            # all, so each row's normalizer is made beside the same rows whatever the recorder reads
            whole = full_rows if path_rows else [i for i in full_rows if frontier[i].forced is not None]
            if whole:  # a top-k backend's rows: the greedy token's log-probability, NaN elsewhere
                rows = scores.full(whole) if backend.whole_rows else sparse_rows(scores.top(whole, 1), scores.vocab)
                full = dict(zip(whole, rows))
            children: list[Node] = []
            parents: list[int] = []
            kept: dict[int, list[tuple[int, float]]] = {}
            if tree_rows:
                assert tree is not None
                expanded += len(tree_rows)
                node_probs = [frontier[i].prob for i in tree_rows]
                top = scores.top(tree_rows, width(node_probs, scores.vocab, tree, spare), node_probs, least)
                selection = select_top(node_probs, top.probs, top.ids, tree, spare, floor)
                if guard is not None:  # before a child is read
                    guard.read([frontier[i].row for i in tree_rows], selection.kept_per_node())
                    guard.check([node.row for node in frontier], depth, shape, step=False)
                removed, children_of, dropped_of = selection.lists()
                for j, i in enumerate(tree_rows):
                    mass = removed[j]
                    if mass > 0:
                        node = frontier[i]
                        possible = node.state.possible
                        at = possible_at.get(possible)
                        if at is None:
                            at = possible_at[possible] = tuple(index[label] for label in possible)
                        row_cut = cut[node.row]
                        for k in at:
                            row_cut[k] += mass
                        if joint is not None:
                            joint.cut(node.row, node.state, mass)
                        if estimator is not None:
                            for tokens, state, weight in estimator.on_cut(
                                node.row, node.tokens, node.state, dropped_of[j], depth
                            ):
                                children.append(Node(node.row, tokens, state, weight, rollout=True))
                                parents.append(i)
                    kept[i] = children_of[j]

            # the argmax of the rows continued greedily (a backend without argmax_rows gives every row's)
            argmax_rows = getattr(scores, "argmax_rows", None)
            if argmax_rows is None or len(greedy_rows) == len(frontier):
                argmax = scores.argmax()
            else:
                argmax = [-1] * len(frontier)
                for i, token in zip(greedy_rows, argmax_rows(greedy_rows) if greedy_rows else ()):
                    argmax[i] = token
            last = depth + 1 >= max_new_tokens  # every child ends here
            for i, node in enumerate(frontier):
                if node.forced is not None:
                    lookahead = _advance_lookahead(node, full[i], recorder)
                    if lookahead is not None:
                        children.append(lookahead)
                        parents.append(i)
                    continue
                if node.rollout:
                    assert estimator is not None
                    step = estimator.advance(node.row, node.tokens, node.state, node.prob, argmax[i], depth)
                    if step is not None:
                        children.append(Node(node.row, step[0], step[1], node.prob, rollout=True))
                        parents.append(i)
                    continue
                greedy = node.greedy
                greedy_token = argmax[i] if greedy else -1
                if greedy:
                    for extra in recorder.observe(node, depth, full.get(i), greedy_token) or ():
                        children.append(extra)
                        parents.append(i)
                greedy_in_tree = False
                node_kept = kept.get(i)
                if node_kept:
                    row, prefix, confirmed = node.row, node.tokens, node.state.confirmed
                    row_lower, row_completions = lower[row], completions[row]
                    for token, prob in node_kept:
                        finished = last or token in eos_token_ids
                        tokens = prefix + (token,)
                        text, state = read(tokens, finished)
                        for label in state.confirmed - confirmed:
                            row_lower[index[label]] += prob
                        on_greedy = token == greedy_token
                        if on_greedy:
                            greedy_in_tree = True
                        if finished or state.final:
                            row_completions.append((text, prob, finished))
                            if joint is not None:
                                joint.answer(row, state.confirmed, prob)
                            if estimator is not None:
                                estimator.on_answer(row, state.confirmed, prob)
                            if on_greedy and not finished:
                                children.append(Node(row, tokens, state, prob, True))
                                parents.append(i)
                            continue
                        children.append(Node(row, tokens, state, prob, on_greedy, True))
                        parents.append(i)
                if greedy and not greedy_in_tree:
                    if last or greedy_token in eos_token_ids:
                        continue
                    children.append(Node(node.row, node.tokens + (greedy_token,), node.state, 1.0, True))
                    parents.append(i)

            if tail is not None and children:
                assert estimator is not None
                children, parents = _stop_lone_rollouts(children, parents, alone, tail, estimator)
            frontier = children
            depth += 1
            if not frontier:
                break
            if guard is not None:  # before their forward
                guard.check([node.row for node in frontier], depth, shape, step=True)
            full_rows, tree_rows, greedy_rows = _reads(frontier)
            scores = backend.expand(parents, [c.tokens[-1] for c in children], full_rows + tree_rows)

    completions = [merge_by_text(row, top_completions) for row in completions]  # one entry per text
    result = SearchResult(
        lower=torch.tensor(lower, dtype=torch.float64),
        cut=torch.tensor(cut, dtype=torch.float64),
        completions=completions,
        frontier_widths=widths,
        nodes_expanded=expanded,
        memory_estimate=guard.peak if guard is not None else 0.0,
    )
    if estimator is not None:
        result.estimate = estimator.estimate(result.lower, result.upper)
        result.rollouts = estimator.rollouts
    return result


def _reads(frontier: list[Node]) -> tuple[list[int], list[int], list[int]]:
    """The rows of ``frontier`` read whole (the greedy path, the lookaheads), those read by the tree and those
    continued with their argmax (the greedy path, the roll-outs)."""
    full_rows, tree_rows, greedy_rows = [], [], []
    for i, node in enumerate(frontier):
        if node.greedy:
            full_rows.append(i)
            greedy_rows.append(i)
        elif node.forced is not None:
            full_rows.append(i)
        elif node.rollout:
            greedy_rows.append(i)
        if node.in_tree:
            tree_rows.append(i)
    return full_rows, tree_rows, greedy_rows


def _stop_lone_rollouts(
    children: list[Node], parents: list[int], alone: list[int], tail: int, estimator: CutEstimator
) -> tuple[list[Node], list[int]]:
    """The next depth's rows less the roll-outs of each prompt whose other rows (its tree, its greedy path, its
    lookaheads) have all ended ``tail`` depths ago: those stop at what they hold (:meth:`CutEstimator.stop`). Per
    prompt (``alone`` counts its depths of roll-outs alone), so a prompt's estimate does not depend on its batch."""
    with_rollouts = {node.row for node in children if node.rollout}
    if not with_rollouts:
        return children, parents
    lone = with_rollouts - {node.row for node in children if not node.rollout}
    stopping = set()
    for row in lone:
        alone[row] += 1
        if alone[row] > tail:
            stopping.add(row)
    if not stopping:
        return children, parents
    kept_children, kept_parents = [], []
    for node, parent in zip(children, parents):
        if node.row in stopping:
            estimator.stop(node.row, node.tokens, node.state, node.prob)
        else:
            kept_children.append(node)
            kept_parents.append(parent)
    return kept_children, kept_parents


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
