"""One depth's next-token scores, read only as far as the search needs them.

The search needs three things of a depth's logits ``[rows, vocab]``: the argmax of every row (the greedy path and
the estimate's roll-outs), the float64 log-probabilities of the rows whose whole distribution is read (the greedy
path's recorder, the lookaheads) and the most probable tokens of the tree's rows with their float64 probabilities
(the bounds). Only a row's normalizer needs a float64 pass over the whole row (:func:`normalizers`, the float64
``logsumexp``): the argmax, the count of tokens a child can be heavy enough for (:func:`heavy_count`) and the
``topk`` read the logits in the model's dtype (the order of a row's logits is the order of its log-probabilities),
and only the ``k`` logits kept are made float64, less the normalizer (:func:`top_logprobs`, which the reference
engine backend shares, so the two backends agree bit for bit). A row read whole is its float64 logits less the
same normalizer, so its tokens' values are the top's to the bit. With a logits processor its float64 scores are
read, every row, through the float64 log-softmax, as before (a processor may change any row).

>>> logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
>>> scores = StepScores(logits)
>>> scores.argmax()
[0, 1]
>>> top, ids = scores.top([1], 2)
>>> [round(p, 4) for p in top[0].tolist()], ids[0].tolist()
([0.8438, 0.1142], [1, 2])
>>> torch.allclose(top, torch.log_softmax(logits[1:].double(), -1)[:, [1, 2]].exp(), rtol=0, atol=1e-15)
True
>>> round(float(scores.full([0])[0].exp().sum()), 6)
1.0
"""

from __future__ import annotations

import math

import torch

__all__ = ["StepScores", "heavy_count", "normalizers", "top_logprobs"]


class StepScores:
    """A depth's logits ``[rows, vocab]`` (or a logits processor's float64 ``scores``: ``processed=True``).

    ``read``: the rows :meth:`full` and :meth:`top` will be asked for (None: every row); their float64 normalizers
    are made once, here (with ``processed``, the float64 log-softmax of every row). ``order``: row ``i`` is
    ``logits[order[i]]`` (the order a stepper ran its rows in; None: in order): what is read of every row is read
    where the rows are and only the few values of each are put in order, not the rows.

    >>> scores = StepScores(torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 1.0]]), order=[1, 0])
    >>> scores.argmax(), scores.top([0, 1], 1)[1].tolist(), scores.full([0])[0].argmax().item()
    ([0, 1], [[0], [1]], 0)
    """

    def __init__(
        self,
        logits: torch.Tensor,
        processed: bool = False,
        read: list[int] | None = None,
        order: list[int] | None = None,
    ) -> None:
        if order is not None and processed:  # a processor's scores come in row order
            logits, order = logits[torch.tensor(order, dtype=torch.long, device=logits.device)], None
        self.logits = logits
        self.vocab = logits.shape[-1]
        self._processed = processed
        self._order = order
        n = logits.shape[0]
        if processed or read is None or len(read) == n:
            read = None
        else:  # the search names a row read whole and by the tree twice
            read = sorted(set(read))
            read = None if len(read) == n else read
        # the rows read whole or by the tree, in the model's dtype, and where each row sits in them
        self._where: list[int] | dict[int, int] | None = order
        if read is None:
            self._rows = logits
        else:
            at = read if order is None else [order[row] for row in read]
            self._rows = logits[torch.tensor(at, dtype=torch.long, device=logits.device)]
            self._where = {row: j for j, row in enumerate(read)}
        if processed:  # a processor's scores: the float64 log-softmax of every row, as always (it may change any row)
            self._rows = torch.log_softmax(logits.to(torch.float64), dim=-1) if n else logits.to(torch.float64)
            self._norm = torch.zeros(n, dtype=torch.float64, device=logits.device)
        else:
            self._norm = normalizers(self._rows)

    def argmax(self) -> list[int]:
        """The most probable token of every row (the first one on a tie, as ``argmax``)."""
        source = self._rows if self._processed else self.logits
        tokens = source.max(dim=-1).indices.tolist()  # max's indices: the same tokens, faster than argmax on a CPU
        return tokens if self._order is None else [tokens[at] for at in self._order]

    def argmax_rows(self, rows: list[int]) -> list[int]:
        """:meth:`argmax` of ``rows`` only (any rows, read or not): a row's argmax is the same beside any others.

        >>> StepScores(torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]])).argmax_rows([2, 1])
        [1, 0]
        """
        source = self._rows if self._processed else self.logits
        index = rows if self._order is None else [self._order[row] for row in rows]
        if index != list(range(source.shape[0])):
            source = source[torch.tensor(index, dtype=torch.long, device=source.device)]
        return source.max(dim=-1).indices.tolist()

    def _read(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``rows`` (rows given in ``read``) as read here and their float64 normalizers."""
        index = rows if self._where is None else [self._where[row] for row in rows]
        if index == list(range(self._rows.shape[0])):  # every row read (the tree's, often): no copy
            return self._rows, self._norm
        at = torch.tensor(index, dtype=torch.long, device=self._rows.device)
        return self._rows[at], self._norm[at]

    def full(self, rows: list[int]) -> torch.Tensor:
        """The float64 log-probabilities of ``rows`` (rows given in ``read``), ``[len(rows), vocab]``."""
        wide, norm = self._read(rows)
        return wide.to(torch.float64) - norm[:, None]  # a processor's log-softmax: less its zeros, itself

    def top(
        self, rows: list[int], k: int, node_probs: list[float] | None = None, least: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` largest probabilities of ``rows`` (float64, descending) and their token ids.

        With ``node_probs`` and ``least > 0``, ``k`` shrinks to the most tokens of one row whose child probability
        (node probability x token probability) is at least ``least``: the cuts read no lighter child, and a
        ``topk`` of 10 costs a fifth of one of 109 over a row of 3,072 tokens. The count is made on the logits, a
        hair wide, then made exact on the float64 values of the tokens it kept.

        >>> scores = StepScores(torch.tensor([[4.0, 0.0, 1.0, -9.0]]))
        >>> scores.top([0], 4, node_probs=[1.0], least=0.01)[1].tolist()  # the third token has 0.046, the last 2e-6
        [[0, 2, 1]]
        """
        values, ids = self.top_logprobs(rows, k, node_probs, least)
        return values.exp(), ids

    def top_logprobs(
        self, rows: list[int], k: int, node_probs: list[float] | None = None, least: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`top` as float64 log-probabilities (the tree backend's :class:`~.next_tokens.TopTokens`)."""
        index = rows if self._where is None else [self._where[row] for row in rows]
        m = self._rows.shape[0]
        if len(index) == m and index != list(range(m)) and len(set(index)) == m:
            # every row read, in another order: read each where it is, then put its k values in order (a row's top
            # is the same beside any rows, and the count is the most of any row)
            placed = None
            if node_probs is not None:
                placed = [0.0] * m
                for at, prob in zip(index, node_probs):
                    placed[at] = prob
            values, ids = self._top(self._rows, self._norm, k, placed, least)
            at = torch.tensor(index, dtype=torch.long, device=values.device)
            return values[at], ids[at]
        wide, norm = self._read(rows)
        return self._top(wide, norm, k, node_probs, least)

    def _top(
        self, wide: torch.Tensor, norm: torch.Tensor, k: int, node_probs: list[float] | None, least: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`top_logprobs` of the rows ``wide`` with their normalizers ``norm``."""
        counted = node_probs is not None and least > 0.0
        if counted:
            k = min(k, heavy_count(wide, node_probs, least, norm))
        values, ids = top_logprobs(wide, k, norm)
        if counted:  # the exact count, on the float64 values: the one the engine backend makes of its top
            k = heavy_count(values, node_probs, least)
            values, ids = values[:, :k], ids[:, :k]
        return values, ids


def normalizers(logits: torch.Tensor) -> torch.Tensor:
    """The float64 log of the sum of the exponentials of each row of ``logits`` ``[rows, n]``: a row's log-softmax
    is its logits less this. Made ``_CHUNK`` rows at a time (or ``_CHUNK_TOKENS`` tokens' worth of shorter rows),
    each a float64 copy worked on in place, which stays in a CPU's cache: 3x faster than one pass over 48 rows of
    128,256 tokens, 5x faster than ``logsumexp``; over 184 rows of 3,072 tokens one chunk is 1.5x faster than 8-row
    ones (their small ops). A row's normalizer is the same in any chunk of two rows or more.

    >>> normalizers(torch.tensor([[0.0, 0.0], [1.0, -math.inf]])).tolist()
    [0.6931471805599453, 1.0]
    """
    n, vocab = logits.shape[0], logits.shape[-1]
    chunk = max(_CHUNK, _CHUNK_TOKENS // max(vocab, 1))  # a small vocabulary: more rows a chunk, fewer small ops
    if not vocab or n <= chunk:
        return _normalizers(logits)
    starts = list(range(0, n, chunk))
    if n % chunk == 1:  # no chunk of one row: torch reduces a lone long row in another order (its last bit)
        starts.pop()
    return torch.cat([_normalizers(logits[a:b]) for a, b in zip(starts, starts[1:] + [n])])


_CHUNK = 8  # rows of float64 copies at a time in normalizers: 8 x 128,256 tokens x 8 bytes = 8 MiB
_CHUNK_TOKENS = _CHUNK * 128_256  # ... and as many rows as that many tokens where rows are shorter


def _normalizers(logits: torch.Tensor) -> torch.Tensor:
    """:func:`normalizers` in one pass."""
    if not logits.shape[-1]:
        return torch.full(logits.shape[:-1], -math.inf, dtype=torch.float64, device=logits.device)
    peak = logits.amax(dim=-1, keepdim=True).to(torch.float64)
    peak = torch.where(peak.isfinite(), peak, torch.zeros_like(peak))  # a row of -inf (or an inf): as logsumexp
    return logits.to(torch.float64, copy=True).sub_(peak).exp_().sum(-1).log_().add_(peak[:, 0])


def top_logprobs(logits: torch.Tensor, k: int, normalizer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most probable tokens of each row of ``logits`` ``[rows, n]`` (any dtype) with their float64
    log-probabilities, descending: ``topk`` on the logits (their order is the log-probabilities'), the ``k`` logits
    made float64 less the row's ``normalizer`` (:func:`normalizers`). The one reading of a row's top that both the
    HF backend and the reference engine backend make, so they agree bit for bit.

    >>> logits = torch.tensor([[1.0, 3.0, 2.0]])
    >>> values, ids = top_logprobs(logits, 2, normalizers(logits))
    >>> ids.tolist(), torch.allclose(values, torch.log_softmax(logits.double(), -1)[:, [1, 2]], rtol=0, atol=1e-15)
    ([[1, 2]], True)
    """
    values, ids = logits.topk(k, dim=-1)
    return values.to(torch.float64) - normalizer[:, None], ids


def heavy_count(
    scores: torch.Tensor, node_probs: list[float], least: float, normalizer: torch.Tensor | None = None
) -> int:
    """The most tokens of one row of ``scores`` ``[rows, n]`` whose child probability (node probability x token
    probability) is at least ``least``, and at least 1: how many of a row's tokens the cuts can read.

    ``scores``: log-probabilities, or logits in any dtype with their float64 ``normalizer`` (:func:`normalizers`):
    the comparison is then made in the logits' dtype, against a threshold rounded down, so the count is a hair wide,
    never too few, and no float64 copy of the rows is made.

    >>> heavy_count(torch.tensor([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]).log(), [1.0, 0.5], 0.25)
    2
    >>> logits = torch.tensor([[2.0, 1.0, 0.0]])
    >>> heavy_count(logits, [1.0], 0.2, normalizers(logits)), heavy_count(logits, [1.0], 0.3, normalizers(logits))
    (2, 1)
    """
    log_node = torch.tensor(node_probs, dtype=torch.float64, device=scores.device).log()
    threshold = math.log(least) - 1e-9 - log_node  # a hair wide: never too few
    if normalizer is not None:
        threshold = threshold + normalizer
    if scores.dtype != torch.float64:  # rounded down into the scores' dtype
        threshold = threshold - torch.finfo(scores.dtype).eps * threshold.abs().clamp(min=1.0)
    heavy = int((scores >= threshold.to(scores.dtype)[:, None]).sum(-1, dtype=torch.int32).max())  # int32: faster
    return max(heavy, 1)
