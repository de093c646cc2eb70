"""Left padding: token-id rows of different lengths as one batch, real tokens flush right.

Decoder-only models continue a batch from its last column, so every row's prompt must end there.

>>> ids, mask = left_pad([[5, 6, 7], [8]], pad_token_id=0)
>>> ids.tolist(), mask.tolist()
([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]])
>>> [t.tolist() for t in left_pad([[], []], 0, min_width=1)]  # rows may be empty (all padding)
[[[0], [0]], [[0], [0]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["left_pad"]


def left_pad(
    rows: Sequence[Sequence[int]], pad_token_id: int, device: torch.device | str | None = None, min_width: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, both ``[len(rows), max(min_width, longest row)]`` long tensors."""
    width = max(min_width, max(len(r) for r in rows))
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        if r:
            input_ids[k, width - len(r) :] = torch.tensor(list(r), dtype=torch.long)
            attention_mask[k, width - len(r) :] = 1
    return input_ids.to(device), attention_mask.to(device)
