"""The cuts of the output tree and what they keep of a depth's children: :class:`TreeParams` (per-step nucleus
``top_p``, prefix-probability floor ``eps``, the estimate) and the selection of each node's kept and heaviest dropped
children from its most probable tokens, as tensors until the search reads them
(:func:`~marginal_generate.decoding.search.run_search`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .estimate import EstimateParams

__all__ = ["TreeParams", "Selection", "select_children", "select_top", "expand_nodes", "width"]


@dataclass(frozen=True)
class TreeParams:
    """Cuts of the output tree: per-step nucleus ``top_p`` and prefix-probability floor ``eps``.

    ``estimate``: how to place the dropped mass between the bounds; None: no estimate.
    """

    top_p: float
    eps: float
    estimate: EstimateParams | None = None


Children = list[list[tuple[int, float]]]


@dataclass
class Selection:
    """What the cuts keep and drop of the children of a set of nodes, still as tensors (``[nodes, k]``, the ``k``
    most probable tokens of each node): nothing is built per child until :meth:`lists`, so the search can count the
    kept children (:meth:`kept_per_node`) and refuse a depth before reading them."""

    ids: torch.Tensor
    child: torch.Tensor
    keep: torch.Tensor
    drop: torch.Tensor | None
    removed: torch.Tensor

    def kept_per_node(self) -> list[int]:
        """How many children each node keeps."""
        return self.keep.sum(-1).tolist()

    def lists(self) -> tuple[list[float], Children, Children]:
        """The mass each node loses to the cuts, its kept children and its heaviest dropped ones, as
        ``(token, prefix probability)`` lists, most probable first."""
        n = self.keep.shape[0]
        kept = _pairs(self.keep, self.ids, self.child, n)
        dropped = _pairs(self.drop, self.ids, self.child, n) if self.drop is not None else [[] for _ in range(n)]
        return self.removed.tolist(), kept, dropped


def select_children(
    node_probs: list[float], logprobs: torch.Tensor, tree: TreeParams, spare: int = 0, floor: float = 0.0
) -> Selection:
    """The children each node keeps and the heaviest ones it drops, as a :class:`Selection`.

    A child is kept when it is inside the node's nucleus ``top_p`` (the probability of the tokens
    more probable than it is below ``top_p``: :class:`~transformers.TopPLogitsWarper`'s rule) and
    its prefix probability is at least ``eps``. Only the ``node_prob / eps`` most probable tokens
    can pass the second test, so a ``topk`` of that many (plus ``spare``) replaces a sort of the
    whole vocabulary. The dropped children are the ``spare`` most probable children not kept, of
    those with a prefix probability above 0 and at least ``floor``.

    >>> logp = torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64).log()
    >>> select_children([0.5], logp, TreeParams(top_p=1.0, eps=0.0)).kept_per_node()
    [4]
    """
    top, ids = _top_probs(logprobs, width(node_probs, logprobs.shape[-1], tree, spare))
    return select_top(node_probs, top, ids, tree, spare, floor)


def width(node_probs: list[float], vocab: int, tree: TreeParams, spare: int) -> int:
    """How many of each node's most probable tokens the cuts can keep (``node_prob / eps`` at most), plus ``spare``.

    >>> width([0.5, 0.2], 1000, TreeParams(top_p=0.99, eps=0.01), spare=8)
    59
    >>> width([1.0], 1000, TreeParams(top_p=1.0, eps=0.0), spare=0)
    1000
    """
    return vocab if tree.eps <= 0 else min(vocab, int(max(node_probs) / tree.eps) + 1 + spare)


def select_top(
    node_probs: list[float], top: torch.Tensor, ids: torch.Tensor, tree: TreeParams, spare: int = 0, floor: float = 0.0
) -> Selection:
    """:func:`select_children` from each node's most probable tokens already chosen: ``top`` their probabilities
    (float64, descending), ``ids`` their tokens, ``[nodes, k]`` with ``k`` at least :func:`width`, or fewer (a
    backend's ``max_k``): a child not shown is not kept, so its mass is in ``removed`` like any cut child's.

    >>> top = torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64)
    >>> select_top([0.5], top, torch.tensor([[3, 1, 0, 2]]), TreeParams(top_p=0.8, eps=0.1)).lists()[1]
    [[(3, 0.25), (1, 0.15)]]
    """
    node = torch.tensor(node_probs, dtype=top.dtype, device=top.device)[:, None]
    child = node * top
    keep = (child >= tree.eps) if tree.eps > 0 else (child > 0)  # a child of at least eps > 0 is above 0
    if tree.top_p < 1.0:
        keep &= (top.cumsum(-1) - top) < tree.top_p
    removed = (node[:, 0] - (child * keep).sum(-1)).clamp(min=0.0)
    drop = None
    if spare > 0:
        drop = ~keep & (child >= floor) if floor > 0 else ~keep & (child > 0)
        drop &= drop.cumsum(-1) <= spare
    return Selection(ids, child, keep, drop, removed)


def expand_nodes(
    node_probs: list[float], logprobs: torch.Tensor, tree: TreeParams, spare: int = 0, floor: float = 0.0
) -> tuple[list[float], Children, Children]:
    """The mass each node loses to the cuts, the children it keeps and its heaviest dropped children
    (:func:`select_children`, as lists).

    >>> logp = torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64).log()
    >>> removed, kept, dropped = expand_nodes([0.5], logp, TreeParams(top_p=0.8, eps=0.1), spare=1)
    >>> [(t, round(p, 3)) for t, p in kept[0]], round(removed[0], 3), [(t, round(p, 3)) for t, p in dropped[0]]
    ([(0, 0.25), (1, 0.15)], 0.1, [(2, 0.075)])
    """
    return select_children(node_probs, logprobs, tree, spare, floor).lists()


def _pairs(mask: torch.Tensor, ids: torch.Tensor, child: torch.Tensor, n: int) -> Children:
    """Per node, ``(token, prefix probability)`` of the entries of ``mask``, most probable first: the masked entries
    in row order, split by each row's count (three reads of the tensors, then plain lists).

    >>> mask = torch.tensor([[True, False], [True, True]])
    >>> _pairs(mask, torch.tensor([[4, 5], [6, 7]]), torch.tensor([[0.5, 0.25], [0.375, 0.125]]), 2)
    [[(4, 0.5)], [(6, 0.375), (7, 0.125)]]
    """
    pairs = list(zip(ids[mask].tolist(), child[mask].tolist()))
    out: Children = []
    start = 0
    for count in mask.sum(-1).tolist():
        out.append(pairs[start : start + count])
        start += count
    return out


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
