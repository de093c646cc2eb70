"""Toy tokenizers trained in memory: word-level, Llama-3-style byte-level BPE, SentencePiece-style BPE.

>>> tok = word_level_tokenizer(["unsafe", "S1"])
>>> tok.padding_side, tok.eos_token
('left', '<eos>')
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

__all__ = [
    "SPECIAL_TOKENS",
    "LLAMA3_PATTERN",
    "guard_corpus",
    "word_level_tokenizer",
    "byte_level_tokenizer",
    "sentencepiece_tokenizer",
]

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>"]

# Llama 3's pre-tokenizer pattern: contractions, words, digit groups of up to three, punctuation, newlines, spaces.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def guard_corpus(categories: Sequence[str] = tuple(f"S{i}" for i in range(1, 15))) -> list[str]:
    """Answers in the Llama Guard format plus a few prompt words, to train toy tokenizers on."""
    cats = list(categories)
    lines = ["safe", "\n\nsafe", "User: hello there", "Agent: no"]
    for k, c in enumerate(cats):
        other = cats[(k + 3) % len(cats)]
        lines += [f"unsafe\n{c}", f"\n\nunsafe\n{c},{other}", f"unsafe\n{other},{c}"]
    return lines * 20


def _wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        clean_up_tokenization_spaces=False,
    )
    tok.padding_side = "left"
    return tok


def word_level_tokenizer(words: Sequence[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer: each of ``words`` is one token, as are spaces and newlines.

    >>> tok = word_level_tokenizer(["unsafe", "S1", "S10", ",", "\\n"])
    >>> tok("unsafe\\nS10,S1", add_special_tokens=False)["input_ids"]
    [3, 7, 5, 6, 4]
    >>> len(tok)
    11
    """
    vocab = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *words])}
    for extra in ("\n", " ", "\n\n", "<unk>"):
        vocab.setdefault(extra, len(vocab))
    inner = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n+| +|,|[^\s,]+"), behavior="isolated")
    inner.decoder = decoders.Fuse()
    tok = _wrap(inner)
    tok.unk_token = "<unk>"
    return tok


def byte_level_tokenizer(corpus: Sequence[str] | None = None, vocab_size: int = 64) -> PreTrainedTokenizerFast:
    """A Llama-3-style byte-level BPE tokenizer trained on ``corpus`` (default :func:`guard_corpus`)."""
    inner = Tokenizer(models.BPE())
    inner.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    inner.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    inner.train_from_iterator(corpus or guard_corpus(), trainer=trainer)
    return _wrap(inner)


def sentencepiece_tokenizer(corpus: Sequence[str] | None = None, vocab_size: int = 64) -> PreTrainedTokenizerFast:
    """A SentencePiece-style BPE tokenizer (``▁`` for spaces, one token per digit).

    >>> tok = sentencepiece_tokenizer()
    >>> [tok.decode([i]) for i in tok("unsafe\\nS10", add_special_tokens=False)["input_ids"]][-3:]
    ['S', '1', '0']
    """
    inner = Tokenizer(models.BPE(byte_fallback=False))
    inner.normalizer = normalizers.Replace(" ", "▁")
    inner.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\n|,|▁?[^\n,▁\d]+|\d"), behavior="isolated"),
        ]
    )
    inner.decoder = decoders.Sequence([decoders.Replace("▁", " ")])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    inner.train_from_iterator(corpus or guard_corpus(), trainer=trainer)
    return _wrap(inner)
