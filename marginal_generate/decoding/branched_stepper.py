"""Many prompts that share a prefix: the prefix is run once, each prompt's rest continues its cache.

The prompts of ``per_category_prompt`` and ``unary`` (:mod:`marginal_generate.prompts.label_prompts`)
differ only after the conversation (on the embedded model) or inside the policy block (Llama
Guard 3): one sample's 15 prompts share everything up to there. :class:`BranchedStepper`
runs the shared prefixes of a batch of samples once (``[samples, prefix]``), copies each
sample's cache row to its prompts (``reorder_cache``), then feeds every prompt's own suffix
(``[prompts, suffix]``), with padding left of both parts: the attention mask has holes in
the middle and the positions count real tokens only, so each prompt sees exactly its own
tokens at their own positions. After :meth:`prefill` it is a :class:`CachedStepper` over the
concatenated prompts (``step`` continues decoding).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache

from ..padding import left_pad
from .stepper import CachedStepper, cache_argument, returned_cache

__all__ = ["BranchedStepper", "common_prefix_length"]


def common_prefix_length(sequences: list[list[int]]) -> int:
    """Length of the token prefix every sequence shares, leaving at least one token to each.

    >>> common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]])
    2
    >>> common_prefix_length([[1, 2], [1, 2]])
    1
    """
    shortest = min(len(s) for s in sequences)
    n = 0
    while n < shortest - 1 and all(s[n] == sequences[0][n] for s in sequences):
        n += 1
    return n


class BranchedStepper(CachedStepper):
    """A :class:`CachedStepper` whose prompts are ``prefixes[owner[i]] + suffixes[i]``.

    Args:
        model: a causal LM taking a KV cache (``cache``, or ``past_key_values`` before transformers 5.2x), a 2D
        ``attention_mask`` and ``position_ids``.
        prefixes: token ids of the shared prefixes (one per group of prompts).
        suffixes: token ids of each prompt after its group's prefix (at least one token each).
        owner: the prefix index of each suffix.
        pad_token_id: the id written in padding slots (never attended).
    """

    def __init__(
        self,
        model: Any,
        prefixes: list[list[int]],
        suffixes: list[list[int]],
        owner: list[int],
        pad_token_id: int,
        **model_kwargs: Any,
    ) -> None:
        if len(suffixes) != len(owner):
            raise ValueError(f"`owner` must name a prefix for each of the {len(suffixes)} suffixes, got {len(owner)}.")
        if any(len(s) == 0 for s in suffixes):
            raise ValueError("every suffix needs at least one token (its last prompt token gives the first logits).")
        device = getattr(model, "device", None)
        self.prefix_ids, self.prefix_mask = left_pad(prefixes, pad_token_id, device, min_width=1)
        self.suffix_ids, self.suffix_mask = left_pad(suffixes, pad_token_id, device)
        self.owner = torch.tensor(owner, dtype=torch.long, device=self.prefix_ids.device)
        input_ids = torch.cat([self.prefix_ids[self.owner], self.suffix_ids], dim=1)
        attention_mask = torch.cat([self.prefix_mask[self.owner], self.suffix_mask], dim=1)
        super().__init__(model, input_ids, attention_mask, **model_kwargs)

    def prefill(self) -> torch.Tensor:
        cache = DynamicCache(config=self.model.config)
        if self.prefix_mask.sum() > 0:
            self._forward(self.prefix_ids, self.prefix_mask, (self.prefix_mask.cumsum(-1) - 1).clamp(min=0), cache)
        cache.reorder_cache(self.owner)
        prefix_lengths = self.prefix_mask.sum(-1)[self.owner]
        positions = (prefix_lengths[:, None] + self.suffix_mask.cumsum(-1) - 1).clamp(min=0)
        out = self._forward(self.suffix_ids, self.prompt_mask, positions, cache)
        self.cache = returned_cache(out, cache)
        self._adopt_slots()
        return out.logits[:, -1]

    def _forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, cache: DynamicCache
    ):
        """One counted forward that extends ``cache`` and keeps the last position's logits."""
        self.forward_passes += 1
        return self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **cache_argument(self.model, cache),
            logits_to_keep=1,
            **self.model_kwargs,
        )
