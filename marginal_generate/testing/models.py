"""Tiny random Llamas (Llama 3's class and Llama Guard 4's) and a second-long fit that makes one a toy guard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

__all__ = ["tiny_llama", "tiny_llama4", "GUARD_PROMPTS", "fit_tiny_guard", "special_token_ids"]


def special_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """The BOS, EOS and pad ids of ``tokenizer``, as a model config's and a generation config's keyword arguments.

    >>> from marginal_generate.testing import word_level_tokenizer
    >>> special_token_ids(word_level_tokenizer(["unsafe"]))
    {'bos_token_id': 1, 'eos_token_id': 2, 'pad_token_id': 0}
    """
    return {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def _branching(model: Any, logit_scale: float, hidden_size: int, ids: dict[str, int]) -> Any:
    """``model`` with its output head scaled to ``logit_scale`` (so that its next-token distributions branch) and a
    generation config of ``ids``, in eval mode."""
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head.mul_(logit_scale / head.std() / hidden_size**0.5)
    model.generation_config = GenerationConfig(**ids)
    return model.eval()


def tiny_llama(
    tokenizer: PreTrainedTokenizerFast,
    seed: int = 0,
    hidden_size: int = 16,
    num_layers: int = 2,
    logit_scale: float = 4.0,
    dtype: torch.dtype = torch.float32,
) -> LlamaForCausalLM:
    """A random Llama with ``tokenizer``'s vocabulary; ``logit_scale`` sharpens its next-token distributions.

    Random weights give nearly flat distributions; scaling the output head keeps a handful of
    branches alive per step, like a trained guard model, so the tree search has work to do.
    """
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        **special_token_ids(tokenizer),
    )
    return _branching(LlamaForCausalLM(config), logit_scale, hidden_size, special_token_ids(tokenizer)).to(dtype)


def tiny_llama4(
    tokenizer: PreTrainedTokenizerFast, seed: int = 0, hidden_size: int = 16, logit_scale: float = 4.0
) -> Any:
    """A random ``Llama4ForConditionalGeneration`` (Llama Guard 4's class) with ``tokenizer``'s vocabulary.

    Four text layers (three chunked-attention layers with a chunk of 8 tokens, one global, as Llama 4
    interleaves them; mixture-of-experts every second layer) and a one-layer vision tower; the output head
    is scaled as in :func:`tiny_llama` so that its next-token distributions branch.
    """
    from transformers import Llama4Config, Llama4ForConditionalGeneration

    torch.manual_seed(seed)
    ids = special_token_ids(tokenizer)
    config = Llama4Config(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            intermediate_size_mlp=2 * hidden_size,
            num_hidden_layers=4,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=hidden_size // 2,
            num_local_experts=2,
            num_experts_per_tok=1,
            interleave_moe_layer_step=2,
            attention_chunk_size=8,
            max_position_embeddings=1024,
            **ids,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=28,
            patch_size=14,
            vision_output_dim=16,
            projector_input_dim=16,
            projector_output_dim=16,
        ),
        **ids,
    )
    return _branching(Llama4ForConditionalGeneration(config), logit_scale, hidden_size, ids)


GUARD_PROMPTS: tuple[tuple[str, str], ...] = (
    ("User: hello there", "safe"),
    ("User: hello", "safe"),
    ("Agent: no", "unsafe\nS1"),
    ("User: there", "unsafe\nS10,S1"),
    ("Agent: hello", "unsafe\nS2,S10"),
    ("User: no", "unsafe\nS1,S2"),
)


def fit_tiny_guard(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    pairs: Sequence[tuple[str, str]] = GUARD_PROMPTS,
    steps: int = 60,
    lr: float = 3e-2,
    seed: int = 0,
) -> LlamaForCausalLM:
    """Teach a tiny model to answer ``pairs`` (prompt → Llama Guard answer) a little, in a second or two.

    Short training leaves it uncertain, so its trees branch between ``safe``/``unsafe`` and
    between category ids: realistic work for every strategy.
    """
    torch.manual_seed(seed)
    dtype = model.dtype
    model = model.float().train()
    rows = [
        tokenizer(p, add_special_tokens=False)["input_ids"]
        + tokenizer(a, add_special_tokens=False)["input_ids"]
        + [tokenizer.eos_token_id]
        for p, a in pairs
    ]
    starts = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p, _ in pairs]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, (r, s) in enumerate(zip(rows, starts)):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, s : len(r)] = torch.tensor(r[s:])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.to(dtype).eval()
