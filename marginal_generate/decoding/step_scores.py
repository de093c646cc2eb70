"""One depth's next-token scores, read only as far as the search needs them.

The search needs three things of a depth's logits ``[rows, vocab]``: the argmax of every row (the greedy path and
the estimate's roll-outs), the float64 log-softmax of the rows whose whole distribution is read (the greedy path's
recorder, the lookaheads) and the most probable tokens of the tree's rows with their float64 probabilities (the
bounds). The argmax reads the logits in the model's dtype (``max``: the order of a row's logits is the order of its
log-probabilities), so a roll-out's row, or a row only the greedy path continues, costs no float64 pass; the tree's
rows get the float64 log-softmax the bounds always read (one fused pass, cheaper on a CPU than a separate float64
``logsumexp`` of the normalizer), and their ``topk`` reads only as many tokens as a child can be heavy enough for.
With a logits processor its float64 scores are read, every row, as before (a processor may change any row).

>>> logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
>>> scores = StepScores(logits)
>>> scores.argmax()
[0, 1]
>>> top, ids = scores.top([1], 2)
>>> [round(p, 4) for p in top[0].tolist()], ids[0].tolist()
([0.8438, 0.1142], [1, 2])
>>> torch.allclose(top, torch.log_softmax(logits[1:].double(), -1)[:, [1, 2]].exp())
True
>>> round(float(scores.full([0])[0].exp().sum()), 6)
1.0
"""

from __future__ import annotations

import math

import torch

__all__ = ["StepScores", "heavy_count"]


class StepScores:
    """A depth's logits ``[rows, vocab]`` (or a logits processor's float64 ``scores``: ``processed=True``).

    ``read``: the rows :meth:`full` and :meth:`top` will be asked for (None: every row); their float64 log-softmax
    is made once, here.
    """

    def __init__(self, logits: torch.Tensor, processed: bool = False, read: list[int] | None = None) -> None:
        self.logits = logits
        self.vocab = logits.shape[-1]
        if processed:  # a processor's scores: the float64 log-softmax of every row, as always (it may change any row)
            read = None
        n = logits.shape[0]
        read = None if read is None or len(read) == n else sorted(set(read))
        # the float64 log-softmax of the rows read whole or by the tree, in one pass; where each row sits in it
        rows = logits if read is None else logits[torch.tensor(read, dtype=torch.long, device=logits.device)]
        self._wide = torch.log_softmax(rows.to(torch.float64), dim=-1) if rows.shape[0] else rows.to(torch.float64)
        self._where = None if read is None else {row: j for j, row in enumerate(read)}
        self._processed = processed

    def argmax(self) -> list[int]:
        """The most probable token of every row (the first one on a tie, as ``argmax``)."""
        source = self._wide if self._processed else self.logits
        return source.max(dim=-1).indices.tolist()  # max's indices: the same tokens, faster than argmax on a CPU

    def full(self, rows: list[int]) -> torch.Tensor:
        """The float64 log-softmax of ``rows`` (rows given in ``read``), ``[len(rows), vocab]``."""
        if self._where is None and rows == list(range(self._wide.shape[0])):
            return self._wide
        index = rows if self._where is None else [self._where[row] for row in rows]
        return self._wide[torch.tensor(index, dtype=torch.long, device=self._wide.device)]

    def top(
        self, rows: list[int], k: int, node_probs: list[float] | None = None, least: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` largest probabilities of ``rows`` (float64, descending) and their token ids.

        With ``node_probs`` and ``least > 0``, ``k`` shrinks to the most tokens of one row whose child probability
        (node probability x token probability) is at least ``least``: the cuts read no lighter child, and a
        ``topk`` of 10 costs a fifth of one of 109 over a row of 3,072 tokens. The values are the float64
        log-softmax's, bit for bit what the whole-row log-softmax gave.

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
        wide = self.full(rows)
        if node_probs is not None and least > 0.0:
            k = min(k, heavy_count(wide, node_probs, least))
        return wide.topk(k, dim=-1)


def heavy_count(logprobs: torch.Tensor, node_probs: list[float], least: float) -> int:
    """The most tokens of one row of ``logprobs`` ``[rows, n]`` whose child probability (node probability x token
    probability) is at least ``least``, and at least 1: how many of a row's tokens the cuts can read.

    >>> heavy_count(torch.tensor([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]).log(), [1.0, 0.5], 0.25)
    2
    """
    log_node = torch.tensor(node_probs, dtype=logprobs.dtype, device=logprobs.device).log()[:, None]
    heavy = int(((logprobs + log_node) >= math.log(least) - 1e-9).sum(-1).max())  # a hair wide: never too few
    return max(heavy, 1)
