"""Tiny models that write each output grammar: label lists, yes/no answers, WildGuard and Qwen3Guard fields.

Each tokenizer family is trained on the grammar's answers (byte-level BPE with Llama 3's
pre-tokenizer, SentencePiece-style BPE); small vocabularies split label names into pieces, so
``sad`` / ``sadness`` and ``anger`` / ``anticipation`` share leading tokens. Kind ``"llama3"`` is
the real Llama 3 tokenizer (128,256 tokens, from ``llama-models``), under a model of hidden size 16
(``sadness`` is ``sad`` + ``ness`` there, ``anticipation`` is ``antic`` + ``ipation``).
"""

from __future__ import annotations

import torch

from marginal_generate import LabelSpace
from marginal_generate.labels.fields import QWEN3GUARD_FIELDS, WILDGUARD_FIELDS, Field
from marginal_generate.testing import (
    byte_level_tokenizer,
    fit_tiny_guard,
    llama3_tokenizer,
    sentencepiece_tokenizer,
    tiny_llama,
)

EMOTIONS = ["joy", "anger", "anticipation", "sad", "sadness"]
QWEN_FIELDS = (QWEN3GUARD_FIELDS[0], Field.multi_valued("Categories", ["Violent", "Jailbreak"]))

PAIRS = {
    "label_list": [
        ("Text: a", "joy, anger"),
        ("Text: b", "sadness"),
        ("Text: c", "sad, anticipation"),
        ("Text: d", "none"),
        ("Text: e", "anger, sadness, joy"),
    ],
    "yes_no": [("Text: a", "Yes"), ("Text: b", "No"), ("Text: c", "Yes, it does"), ("Text: d", "No")],
    "wildguard": [
        ("Text: a", "Harmful request: yes\nResponse refusal: no\nHarmful response: no"),
        ("Text: b", "Harmful request: no\nResponse refusal: no\nHarmful response: no"),
        ("Text: c", "Harmful request: yes\nResponse refusal: yes\nHarmful response: yes"),
    ],
    "qwen3guard": [
        ("Text: a", "Safety: Unsafe\nCategories: Violent"),
        ("Text: b", "Safety: Safe\nCategories: None"),
        ("Text: c", "Safety: Controversial\nCategories: Violent, Jailbreak"),
    ],
}
VOCAB = {"label_list": 40, "yes_no": 40, "wildguard": 80, "qwen3guard": 90}
PROMPTS = {grammar: [p for p, _ in pairs] for grammar, pairs in PAIRS.items()}

_CACHE: dict = {}


def tokenizer(grammar: str, kind: str):
    key = ("tok", grammar, kind)
    if key not in _CACHE and kind == "llama3":
        _CACHE[key] = llama3_tokenizer()
    if key not in _CACHE:
        corpus = [a for _, a in PAIRS[grammar]] + [p for p, _ in PAIRS[grammar]] + EMOTIONS + ["none", "Yes", "No"]
        build = byte_level_tokenizer if kind == "byte" else sentencepiece_tokenizer
        _CACHE[key] = build(corpus * 10, vocab_size=VOCAB[grammar])
    return _CACHE[key]


def space(grammar: str, kind: str) -> LabelSpace:
    tok = tokenizer(grammar, kind)
    if grammar == "label_list":
        return LabelSpace.label_list(tok, EMOTIONS)
    if grammar == "yes_no":
        return LabelSpace.yes_no(tok, "violence")
    return LabelSpace.fields(tok, WILDGUARD_FIELDS if grammar == "wildguard" else QWEN_FIELDS)


def model(grammar: str, kind: str, trained: bool = True, seed: int = 0):
    """float64; ``trained``: taught the grammar's answers a little, else random and flat (every label has mass)."""
    key = ("model", grammar, kind, trained, seed)
    if key not in _CACHE:
        tok = tokenizer(grammar, kind)
        torch.set_num_threads(1)
        if trained:
            m = fit_tiny_guard(
                tiny_llama(tok, seed=seed, hidden_size=16),
                tok,
                PAIRS[grammar],
                steps=60 if grammar in ("label_list", "yes_no") else 150,
                lr=5e-2,
                seed=seed,
            )
        else:
            m = tiny_llama(tok, seed=seed, logit_scale=0.5)
        _CACHE[key] = m.to(torch.float64)
    return _CACHE[key]
