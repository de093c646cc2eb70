"""Tiny tokenizers and models built in memory, for tests, doctests and benchmarks.

Nothing here downloads anything. Three tokenizer families cover the ways a label can be
split: word-level (``S10`` is one token), byte-level BPE with Llama 3's pre-tokenizer
(digits in groups of up to three, so ``S10`` is ``S`` + ``10``, and a comma merges with the
letter after it, so the second id of ``S10,S1`` starts inside the token ``,S``), and SentencePiece-style
BPE with ``▁`` and digits split one by one (``S10`` is ``S`` + ``1`` + ``0``).

>>> tok = byte_level_tokenizer()
>>> [tok.decode([i]) for i in tok("unsafe\\nS10,S1", add_special_tokens=False)["input_ids"]]
['unsafe', '\\n', 'S', '10', ',S', '1']
>>> model = tiny_llama(tok, seed=0)
>>> model.config.vocab_size == len(tok)
True

The real ones: :func:`llama3_tokenizer` (Llama Guard 3 1B/8B, Llama-3.1-8B-Instruct) and
:func:`llama4_tokenizer` (Llama Guard 4) build Hugging Face fast tokenizers from Meta's
``tokenizer.model`` files shipped in the ``llama-models`` package (``pip install llama-models``),
with transformers' ``TikTokenConverter`` and Meta's special tokens at their real ids.
"""

from ..commands import free_port
from .cue_model import cue_label_llama
from .llama_tokenizers import LLAMA_MODELS_HINT, cache_dir, llama3_tokenizer, llama4_tokenizer
from .models import GUARD_PROMPTS, fit_tiny_guard, tiny_llama, tiny_llama4
from .planted import GUARD_BIGRAMS, plant_guard_bias, planted_guard_llama
from .reasoning_model import REASONING_PIECES, REASONING_PLAN, REASONING_VERDICT, planted_reasoning_guard
from .tokenizers import (
    SPECIAL_TOKENS,
    byte_level_tokenizer,
    guard_corpus,
    sentencepiece_tokenizer,
    word_level_tokenizer,
)

__all__ = [
    "SPECIAL_TOKENS",
    "word_level_tokenizer",
    "byte_level_tokenizer",
    "sentencepiece_tokenizer",
    "tiny_llama",
    "cue_label_llama",
    "guard_corpus",
    "GUARD_PROMPTS",
    "fit_tiny_guard",
    "GUARD_BIGRAMS",
    "plant_guard_bias",
    "planted_reasoning_guard",
    "REASONING_PIECES",
    "REASONING_PLAN",
    "REASONING_VERDICT",
    "planted_guard_llama",
    "llama3_tokenizer",
    "llama4_tokenizer",
    "tiny_llama4",
    "LLAMA_MODELS_HINT",
    "cache_dir",
    "free_port",
]
