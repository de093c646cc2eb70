"""`LabelSpace`: the labels a guard model can write, bound to one tokenizer.

Everything the decoding strategies need to know about the labels comes from here, since
``generate`` hands a ``custom_generate`` callable no tokenizer:

- the labels (``"unsafe"`` and the category ids) and the parser that reads them from text;
- the tokenizer's ``decode`` (strategies read labels from decoded text, so every
  tokenization of a label works: one token, ``S`` + ``10``, with or without a space,
  byte-level or SentencePiece);
- the verbalizer tokens of ``safe`` / ``unsafe`` (for ``first_token``);
- the token sequence of each category id as written in the answer's category line, and
  the delimiter tokens that may follow it (for ``max_over_generations``).

Built once per (tokenizer, labels); see :meth:`LabelSpace.llama_guard`.

>>> from marginal_generate.testing import word_level_tokenizer
>>> tok = word_level_tokenizer(["safe", "unsafe", "S1", "S2", ",", "\\n"])
>>> space = LabelSpace.llama_guard(tok, categories=["S1", "S2"])
>>> space.labels
('unsafe', 'S1', 'S2')
>>> sorted(space.parse("unsafe\\nS2"))
['S2', 'unsafe']
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import torch

from .llama_guard import LlamaGuardParser, PrefixState

__all__ = ["LabelSpace", "first_token_ids", "LLAMA_GUARD_3_CATEGORIES", "LLAMA_GUARD_2_CATEGORIES"]

LLAMA_GUARD_3_CATEGORIES: tuple[str, ...] = tuple(f"S{i}" for i in range(1, 15))
LLAMA_GUARD_2_CATEGORIES: tuple[str, ...] = tuple(f"S{i}" for i in range(1, 12))


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _in_context(tokenizer: Any, context: str, text: str) -> tuple[int, ...] | None:
    """Token ids of ``text`` written right after ``context``, if the split is clean."""
    head = _encode(tokenizer, context)
    whole = _encode(tokenizer, context + text)
    if whole[: len(head)] != head or len(whole) == len(head):
        return None
    return tuple(whole[len(head) :])


def first_token_ids(tokenizer: Any, word: str) -> tuple[int, ...]:
    """The first token of ``word`` as written alone, after a blank line, after a newline and after a space.

    A model may start its answer with any of them; a first-token verbalizer sums their probabilities.

    >>> from marginal_generate.testing import word_level_tokenizer
    >>> tok = word_level_tokenizer(["yes", "no"])
    >>> first_token_ids(tok, "yes") == (tok.convert_tokens_to_ids("yes"),)
    True
    """
    firsts = {_encode(tokenizer, word)[0]}
    for context in ("\n\n", " ", "\n"):
        ids = _in_context(tokenizer, context, word)
        if ids is not None and tokenizer.decode(ids).strip() == word:
            firsts.add(ids[0])
    return tuple(sorted(firsts))


class LabelSpace:
    """Labels of one output format, with the token facts the strategies need.

    Args:
        tokenizer: the model's tokenizer (any ``PreTrainedTokenizerBase``).
        categories: the category ids, in the order of the output columns.
        positive: the word of the first line that means "unsafe".
        negative: the word of the first line that means "safe".
    """

    def __init__(
        self,
        tokenizer: Any,
        categories: Sequence[str] = LLAMA_GUARD_3_CATEGORIES,
        positive: str = "unsafe",
        negative: str = "safe",
    ) -> None:
        if tokenizer is None or not hasattr(tokenizer, "decode"):
            raise ValueError(
                f"`tokenizer` must be a Hugging Face tokenizer, got {type(tokenizer).__name__}; "
                "pass AutoTokenizer.from_pretrained(<model id>)."
            )
        if len(categories) == 0:
            raise ValueError("`categories` is empty; pass the category ids, e.g. ['S1', ..., 'S14'].")
        self.tokenizer = tokenizer
        self.parser = LlamaGuardParser(tuple(categories), positive=positive, negative=negative)
        self.positive = positive
        self.negative = negative
        self.categories: tuple[str, ...] = tuple(categories)
        self.labels: tuple[str, ...] = self.parser.labels
        self.index = {label: k for k, label in enumerate(self.labels)}
        for label in (negative, *self.labels):
            self._check_producible(label)
        self.verbalizer_ids: tuple[tuple[int, ...], tuple[int, ...]] = self._verbalizer_ids()
        self.category_token_ids: dict[str, tuple[int, ...]] = self._category_token_ids()

    @classmethod
    def llama_guard(
        cls, tokenizer: Any, categories: Sequence[str] | None = None, taxonomy: int = 3
    ) -> "LabelSpace":
        """The Llama Guard 3 (S1–S14) or Llama Guard 2 (S1–S11) label space.

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> tok = word_level_tokenizer(["safe", "unsafe", *[f"S{i}" for i in range(1, 12)], ",", "\\n"])
        >>> LabelSpace.llama_guard(tok, taxonomy=2).labels[-1]
        'S11'
        """
        if taxonomy not in (2, 3):
            raise ValueError(f"`taxonomy` must be 2 or 3 (Llama Guard 2 or 3), got {taxonomy!r}.")
        if categories is None:
            categories = LLAMA_GUARD_3_CATEGORIES if taxonomy == 3 else LLAMA_GUARD_2_CATEGORIES
        return cls(tokenizer, categories=categories)

    def __repr__(self) -> str:
        return f"LabelSpace(labels={list(self.labels)}, tokenizer={type(self.tokenizer).__name__})"

    # ---- text -------------------------------------------------------------------------
    def decode(self, token_ids: Sequence[int]) -> str:
        """The answer text of generated tokens; special tokens (EOS, padding) are dropped."""
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def parse(self, text: str) -> frozenset[str]:
        """The label set of a complete answer."""
        return self.parser.parse(text)

    def prefix_state(self, text: str, finished: bool) -> PrefixState:
        """What an answer prefix already decides (see :class:`~marginal_generate.labels.llama_guard.PrefixState`)."""
        return self.parser.prefix_state(text, finished)

    def one_hot(self, labels: frozenset[str] | set[str]) -> list[float]:
        """1.0 for each label in ``labels``, in the order of :attr:`labels`."""
        return [1.0 if label in labels else 0.0 for label in self.labels]

    # ---- tokens -----------------------------------------------------------------------
    def _check_producible(self, label: str) -> None:
        ids = _encode(self.tokenizer, label)
        unk = getattr(self.tokenizer, "unk_token_id", None)
        if not ids or (unk is not None and unk in ids) or self.tokenizer.decode(ids) != label:
            raise ValueError(
                f"label {label!r} cannot be produced by this tokenizer ({type(self.tokenizer).__name__}): "
                f"it encodes to {ids}, which decodes to {self.tokenizer.decode(ids)!r}; "
                "use label strings from the model's own output format."
            )

    def _in_context(self, context: str, text: str) -> tuple[int, ...] | None:
        return _in_context(self.tokenizer, context, text)

    def _verbalizer_ids(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """First token of each verbalizer word, as written alone, after a blank line, after a space."""
        negative, positive = first_token_ids(self.tokenizer, self.negative), first_token_ids(self.tokenizer, self.positive)
        if set(negative) & set(positive):
            shared = sorted(set(negative) & set(positive))
            raise ValueError(
                f"`{self.negative}` and `{self.positive}` share their first token(s) {shared} in this tokenizer, "
                "so a first-token verbalizer cannot tell them apart; strategy='first_token' is undefined here."
            )
        return negative, positive

    def _category_token_ids(self) -> dict[str, tuple[int, ...]]:
        """Each category id's tokens as the first item of the category line (after a newline)."""
        context = f"{self.positive}\n"
        out = {}
        for c in self.categories:
            ids = self._in_context(context, c + ",")
            tail = self._in_context(context + c, ",")
            if ids is None or tail is None or ids[: len(ids) - len(tail)] == ():
                ids = tuple(_encode(self.tokenizer, c))
            else:
                ids = ids[: len(ids) - len(tail)]
            out[c] = ids
        return out

    @cached_property
    def branch(self) -> tuple[tuple[int, ...], dict[str, int]]:
        """The shared leading tokens of all category ids and, per id, its first distinguishing token.

        Ma et al.'s "softmax over the label tokens" is taken over the distinct distinguishing
        tokens; ids that share one (``S1`` and ``S10`` when digits are split one by one)
        share its probability.
        """
        seqs = list(self.category_token_ids.values())
        shortest = min(len(s) for s in seqs)
        common = 0
        while common < shortest - 1 and len({s[common] for s in seqs}) == 1:
            common += 1
        return seqs[0][:common], {c: s[common] for c, s in self.category_token_ids.items()}

    @cached_property
    def delimiter_mask(self) -> torch.Tensor:
        """Boolean mask over the tokenizer's vocabulary: tokens whose text starts with ``,`` or a newline.

        These end a category id; so does EOS, which the caller adds (it comes from the model).
        """
        vocab = len(self.tokenizer)
        mask = torch.zeros(vocab, dtype=torch.bool)
        special = set(self.tokenizer.all_special_ids)
        texts = self.tokenizer.batch_decode([[token_id] for token_id in range(vocab)])
        for token_id, text in enumerate(texts):
            if token_id not in special and text[:1] in (",", "\n"):
                mask[token_id] = True
        return mask
