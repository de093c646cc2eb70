"""Planted next-token logits: a guard-like bigram table added to any model's output, by the previous token."""

from __future__ import annotations

from typing import Any

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .models import special_token_ids

__all__ = ["GUARD_BIGRAMS", "plant_guard_bias", "planted_guard_llama"]

# Guard-like next-token distributions by previous token: a random model of any size with this bigram
# bias planted writes Llama Guard answers with realistic uncertainty, so the speed benchmarks meet a
# real output tree (tens of branches alive at eps=0.01) rather than one that ends at once.
GUARD_BIGRAMS: dict[str, dict[str, float]] = {
    "": {"\n\n": 0.9, "unsafe": 0.05, "safe": 0.05},  # after any other token (the prompt's end)
    "\n\n": {"unsafe": 0.55, "safe": 0.45},
    "safe": {"<eos>": 1.0},
    "unsafe": {"\n": 0.9, "<eos>": 0.1},
    "\n": {"S": 0.95, "<eos>": 0.05},
    "S": {"1": 0.3, "2": 0.2, "10": 0.2, "11": 0.15, "3": 0.15},
    ",S": {"1": 0.3, "2": 0.2, "10": 0.2, "11": 0.15, "3": 0.15},
    ",": {"S": 1.0},
    **{d: {",": 0.4, ",S": 0.2, "<eos>": 0.4} for d in ("1", "2", "3", "10", "11")},
}


def plant_guard_bias(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast) -> tuple[torch.Tensor, torch.Tensor]:
    """Add :data:`GUARD_BIGRAMS` (as log-probabilities, by the previous token) to the model's logits.

    Every token outside a row gets -30, so weights whose logits are small only add noise: with the
    model's own logits within ``±b``, each planted probability is within a factor ``exp(±2b)`` of the
    table's. Works at any vocabulary (Llama 4's 202,048 tokens too): the table is stored as one row per
    listed previous token plus the default row. The hook reads ``input_ids`` (a call with
    ``inputs_embeds`` only fails). Returns ``(rows, index)``: after token ``t`` the bias is ``rows[index[t]]``.

    >>> from marginal_generate.testing import byte_level_tokenizer, tiny_llama
    >>> tok = byte_level_tokenizer(); model = tiny_llama(tok, logit_scale=0.1)
    >>> rows, index = plant_guard_bias(model, tok)
    >>> unsafe = tok.convert_tokens_to_ids("unsafe")
    >>> logits = model(input_ids=torch.tensor([[unsafe]])).logits[0, -1]
    >>> round(logits.softmax(-1)[tok.convert_tokens_to_ids("Ċ")].item(), 1)  # after 'unsafe': a newline, p 0.9
    0.9
    """
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    vocab = config.vocab_size

    def token(text: str) -> int:
        if text == "<eos>":
            return tokenizer.eos_token_id
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"GUARD_BIGRAMS needs {text!r} to be one token of this tokenizer, got {ids}.")
        return ids[0]

    def row(table: dict[str, float]) -> torch.Tensor:
        out = torch.full((vocab,), -30.0)
        for text, p in table.items():
            out[token(text)] = float(torch.tensor(p).log())
        return out

    previous = [p for p in GUARD_BIGRAMS if p]
    rows = torch.stack([row(GUARD_BIGRAMS[p]) for p in previous] + [row(GUARD_BIGRAMS[""])])
    index = torch.full((vocab,), len(previous), dtype=torch.long)
    index[torch.tensor([token(p) for p in previous])] = torch.arange(len(previous))

    moved: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}  # copied once per device

    def add_bias(_module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        ids = kwargs.get("input_ids", args[0] if args else None)
        last = ids[:, -output.logits.shape[1] :]
        key = (output.logits.device, output.logits.dtype)
        if key not in moved:
            moved[key] = (rows.to(*key), index.to(key[0]))
        table, where = moved[key]
        output.logits = output.logits + table[where[last]]
        return output

    model.register_forward_hook(add_bias, with_kwargs=True)
    return rows, index


def planted_guard_llama(
    tokenizer: PreTrainedTokenizerFast,
    shape: dict[str, int],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
) -> LlamaForCausalLM:
    """A random Llama of ``shape`` (hidden size, layers, heads; ``vocab_size`` too, else the tokenizer's) built on
    ``device``, Llama 3's rope base and 4,096 positions, with :data:`GUARD_BIGRAMS` planted (:func:`plant_guard_bias`):
    the speed benchmarks' stand-in for a guard of that size. ``seed``: ``torch.manual_seed`` first (None: not).

    >>> from marginal_generate.testing import byte_level_tokenizer
    >>> tok = byte_level_tokenizer()
    >>> shape = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    >>> model = planted_guard_llama(tok, shape)
    >>> model.config.vocab_size == len(tok), model.generation_config.eos_token_id == tok.eos_token_id
    (True, True)
    >>> logits = model(input_ids=torch.tensor([[tok.convert_tokens_to_ids("unsafe")]])).logits[0, -1]
    >>> round(logits.softmax(-1)[tok.convert_tokens_to_ids("Ċ")].item(), 1)  # after 'unsafe': a newline, p 0.9
    0.9
    """
    if seed is not None:
        torch.manual_seed(seed)
    ids = special_token_ids(tokenizer)
    config = LlamaConfig(
        **{"vocab_size": len(tokenizer), **shape}, max_position_embeddings=4096, rope_theta=500000.0, **ids
    )
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype).eval()
    model.generation_config = GenerationConfig(**ids)
    plant_guard_bias(model, tokenizer)
    return model
