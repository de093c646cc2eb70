"""The three toy tokenizer families and tiny Llama guard models built from a config, cached per test session."""

from __future__ import annotations

import copy

import torch

from marginal_generate import LabelSpace
from marginal_generate.testing import (
    GUARD_PROMPTS,
    byte_level_tokenizer,
    fit_tiny_guard,
    llama3_tokenizer,
    sentencepiece_tokenizer,
    tiny_llama,
    word_level_tokenizer,
)

CATEGORIES = [f"S{i}" for i in range(1, 15)]
WORDS = ["safe", "unsafe", *CATEGORIES, ",", "User:", "Agent:", "hello", "there", "no"]


def make_tokenizer(kind: str):
    if kind == "word":
        return word_level_tokenizer(WORDS)
    if kind == "byte":
        return byte_level_tokenizer()
    if kind == "llama3":  # the real Llama 3 tokenizer (128,256 tokens), from llama-models
        return llama3_tokenizer()
    return sentencepiece_tokenizer()


_TOKENIZERS: dict = {}
_GUARDS: dict = {}


def tokenizer_of(kind: str):
    if kind not in _TOKENIZERS:
        _TOKENIZERS[kind] = make_tokenizer(kind)
    return _TOKENIZERS[kind]


def guard_model(kind: str, seed: int = 0, dtype: torch.dtype = torch.float64):
    """A tiny Llama taught the toy guard answers a little (uncertain on purpose), cached per (kind, seed)."""
    if (kind, seed, None) not in _GUARDS:
        tok = tokenizer_of(kind)
        torch.set_num_threads(1)
        _GUARDS[kind, seed, None] = fit_tiny_guard(
            tiny_llama(tok, seed=seed, hidden_size=16), tok, steps=40, lr=5e-2, seed=seed
        )
    if (kind, seed, dtype) not in _GUARDS:  # one copy per dtype: Module.to() converts in place
        _GUARDS[kind, seed, dtype] = copy.deepcopy(_GUARDS[kind, seed, None]).to(dtype)
    return _GUARDS[kind, seed, dtype]


PROMPTS = [p for p, _ in GUARD_PROMPTS]


def space_of(kind: str) -> LabelSpace:
    return LabelSpace.llama_guard(tokenizer_of(kind), categories=CATEGORIES)
