"""`LabelSpace`: the labels a model can write and the grammar that reads them, bound to one tokenizer.

Everything the decoding strategies need to know about the labels comes from here, since
``generate`` hands a ``custom_generate`` callable no tokenizer:

- the labels and the output grammar (:mod:`.grammar`) that reads them from text: Llama Guard's
  answer (:meth:`LabelSpace.llama_guard`), a list of label names (:meth:`LabelSpace.label_list`),
  a yes/no answer (:meth:`LabelSpace.yes_no`) or ``Name: value`` lines (:meth:`LabelSpace.fields`);
- the tokenizer's ``decode`` (strategies read labels from decoded text, so every
  tokenization of a label works: one token, ``S`` + ``10``, with or without a space,
  byte-level or SentencePiece);
- the verbalizer tokens of ``safe`` / ``unsafe`` or ``No`` / ``Yes`` (for ``first_token``);
- per slot of the grammar (a category id, a label name, a field's value), the tokens of each
  option and the delimiter tokens that may follow it (for ``max_over_generations``).

Built once per (tokenizer, grammar).

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
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from .fields import Field, FieldsParser
from .grammar import Grammar, Slot
from .label_list import LabelListParser
from .llama_guard import LlamaGuardParser
from .numeric import NumericParser
from .prefix_state import PrefixState, readable_prefix
from .yes_no import YesNoParser

__all__ = ["LabelSpace", "SlotTokens", "first_token_ids", "LLAMA_GUARD_3_CATEGORIES", "LLAMA_GUARD_2_CATEGORIES"]

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


@dataclass(frozen=True)
class SlotTokens:
    """The token facts of one :class:`~.grammar.Slot` under one tokenizer.

    ``common``: the leading tokens every option shares (canonical context); ``common_text`` its text.
    ``first``: option -> the tokens that start it right after ``common``, over the slot's contexts.
    ``ids``: option -> its tokens in the canonical context (the forced lookahead).
    ``labels``: option -> its label (None: no label). ``delimiters``: the slot's delimiter characters.
    """

    common: tuple[int, ...]
    common_text: str
    first: dict[str, tuple[int, ...]]
    ids: dict[str, tuple[int, ...]]
    labels: dict[str, str | None]
    delimiters: tuple[str, ...]

    @property
    def branch_ids(self) -> list[int]:
        """The distinct first tokens of all options: the restricted softmax runs over them."""
        return sorted({t for tokens in self.first.values() for t in tokens})


class LabelSpace:
    """Labels of one output grammar, with the token facts the strategies need.

    ``LabelSpace(tokenizer, categories, positive, negative)`` is the Llama Guard space (as
    :meth:`llama_guard`); ``grammar=`` takes any :class:`~.grammar.Grammar` instead (see
    :meth:`label_list`, :meth:`yes_no`, :meth:`fields`).

    Args:
        tokenizer: the model's tokenizer (any ``PreTrainedTokenizerBase``).
        categories: the category ids, in the order of the output columns.
        positive: the word of the first line that means "unsafe".
        negative: the word of the first line that means "safe".
        grammar: an output grammar; when given, ``categories``, ``positive`` and ``negative`` are unused.

    Attributes beyond the labels: ``positive`` / ``negative`` are the verbalizer's words for
    Llama Guard and None otherwise; ``categories`` are the labels other than the verbalizer's.
    """

    def __init__(
        self,
        tokenizer: Any,
        categories: Sequence[str] = LLAMA_GUARD_3_CATEGORIES,
        positive: str = "unsafe",
        negative: str = "safe",
        *,
        grammar: Grammar | None = None,
    ) -> None:
        if tokenizer is None or not hasattr(tokenizer, "decode"):
            raise ValueError(
                f"`tokenizer` must be a Hugging Face tokenizer, got {type(tokenizer).__name__}; "
                "pass AutoTokenizer.from_pretrained(<model id>)."
            )
        if grammar is None:
            if len(categories) == 0:
                raise ValueError("`categories` is empty; pass the category ids, e.g. ['S1', ..., 'S14'].")
            grammar = LlamaGuardParser(tuple(categories), positive=positive, negative=negative)
        elif not isinstance(grammar, Grammar):
            raise ValueError(
                "`grammar` must be an output grammar (labels, parse, spans, "
                "prefix_state, open_item, slots, verbalizer), "
                f"got {type(grammar).__name__}; use LabelSpace.label_list / yes_no / fields / llama_guard."
            )
        self.tokenizer = tokenizer
        self.grammar: Grammar = grammar
        self.parser: Grammar = grammar
        self.labels: tuple[str, ...] = tuple(grammar.labels)
        self.index = {label: k for k, label in enumerate(self.labels)}
        self.verbalizer = grammar.verbalizer
        llama_guard = isinstance(grammar, LlamaGuardParser)
        self.positive: str | None = grammar.positive if llama_guard else None
        self.negative: str | None = grammar.negative if llama_guard else None
        verbalized = self.verbalizer.label if self.verbalizer is not None else None
        self.categories: tuple[str, ...] = tuple(label for label in self.labels if label != verbalized)
        for word in grammar.words:
            self._check_producible(word)
        self.verbalizer_ids: tuple[tuple[int, ...], tuple[int, ...]] | None = (
            self._verbalizer_ids() if self.verbalizer is not None else None
        )
        self.slot_tokens: tuple[SlotTokens, ...] = tuple(self._slot_tokens(slot) for slot in grammar.slots)
        self.category_token_ids: dict[str, tuple[int, ...]] = {
            label: slot.ids[option]
            for slot in self.slot_tokens
            for option, label in slot.labels.items()
            if label is not None
        }

    # ---- constructors ---------------------------------------------------------------------
    @classmethod
    def llama_guard(cls, tokenizer: Any, categories: Sequence[str] | None = None, taxonomy: int = 3) -> "LabelSpace":
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

    @classmethod
    def label_list(
        cls,
        tokenizer: Any,
        labels: Sequence[str],
        separator: str = ",",
        none: str | None = "none",
        case_sensitive: bool = True,
    ) -> "LabelSpace":
        """An answer that lists label names separated by ``separator``, or writes ``none`` (Ma et al.).

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> tok = word_level_tokenizer(["joy", "anger", "none", ","])
        >>> space = LabelSpace.label_list(tok, ["joy", "anger"])
        >>> space.labels, sorted(space.parse("anger, joy"))
        (('joy', 'anger'), ['anger', 'joy'])
        """
        return cls(
            tokenizer, grammar=LabelListParser(labels, separator=separator, none=none, case_sensitive=case_sensitive)
        )

    @classmethod
    def yes_no(cls, tokenizer: Any, label: str, yes: str = "Yes", no: str = "No") -> "LabelSpace":
        """One policy per prompt, answered ``Yes`` or ``No`` (ShieldGemma, Granite Guardian).

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> space = LabelSpace.yes_no(word_level_tokenizer(["Yes", "No"]), "violence")
        >>> space.labels, space.parse("Yes")
        (('violence',), frozenset({'violence'}))
        """
        return cls(tokenizer, grammar=YesNoParser(label, yes=yes, no=no))

    @classmethod
    def fields(cls, tokenizer: Any, fields: Sequence[Field]) -> "LabelSpace":
        """``Name: value`` lines (WildGuard, Qwen3Guard); each (field, value) is a label ``"Name: value"``.

        >>> from marginal_generate.labels.fields import Field
        >>> from marginal_generate.testing import word_level_tokenizer
        >>> tok = word_level_tokenizer(["Harmful", "request", ":", "yes", "no"])
        >>> LabelSpace.fields(tok, [Field.binary("Harmful request")]).labels
        ('Harmful request: yes',)
        """
        return cls(tokenizer, grammar=FieldsParser(fields))

    @classmethod
    def numeric(cls, tokenizer: Any, low: int, high: int) -> "LabelSpace":
        """A whole number in ``[low, high]`` (a risk score, a judge's rubric); each value is a label
        (:mod:`.numeric`), and ``LabelScores.expected_value`` / ``prob_at_least`` read the distribution.

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> LabelSpace.numeric(word_level_tokenizer(["1", "2", "3"]), 1, 3).labels
        ('1', '2', '3')
        """
        return cls(tokenizer, grammar=NumericParser(low, high))

    def __repr__(self) -> str:
        return (
            f"LabelSpace(labels={list(self.labels)}, grammar={type(self.grammar).__name__}, "
            f"tokenizer={type(self.tokenizer).__name__})"
        )

    # ---- text -------------------------------------------------------------------------
    def decode(self, token_ids: Sequence[int]) -> str:
        """The answer text of generated tokens; special tokens (EOS, padding) are dropped."""
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def parse(self, text: str) -> frozenset[str]:
        """The label set of a complete answer."""
        return self.grammar.parse(text)

    def prefix_state(self, text: str, finished: bool) -> PrefixState:
        """What an answer prefix already decides (see :class:`~marginal_generate.labels.prefix_state.PrefixState`).

        An unfinished prefix is read without its trailing U+FFFD characters (the start of a character split over
        two byte-level tokens, which the next token may complete: :func:`~.prefix_state.readable_prefix`), so every
        grammar leaves such a prefix open; a finished answer is read as decoded, as :meth:`parse` reads it.

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> space = LabelSpace.yes_no(word_level_tokenizer(["Yes", "No"]), "harm")
        >>> space.prefix_state("Yes\ufffd", finished=False).confirmed, space.prefix_state("Yes\ufffd", True).confirmed
        (frozenset(), frozenset({'harm'}))
        """
        return self.grammar.prefix_state(readable_prefix(text, finished), finished)

    def one_hot(self, labels: frozenset[str] | set[str]) -> list[float]:
        """1.0 for each label in ``labels``, in the order of :attr:`labels`."""
        return [1.0 if label in labels else 0.0 for label in self.labels]

    def check_strategy(self, strategy: str) -> None:
        """A ValueError if this grammar lacks what ``strategy`` needs (``first_token`` needs a verbalizer).

        >>> from marginal_generate.testing import word_level_tokenizer
        >>> LabelSpace.label_list(word_level_tokenizer(["joy", "none"]),
        ...     ["joy"]).check_strategy("first_token")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: strategy 'first_token' reads the answer's first word as a verbalizer, and the LabelListParser...
        """
        if strategy == "first_token" and self.verbalizer is None:
            raise ValueError(
                f"strategy 'first_token' reads the answer's first word as a verbalizer, and the "
                f"{type(self.grammar).__name__} grammar has none; use max_over_generations (a restricted softmax "
                "over the labels at each label-generation step) instead."
            )

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
        assert self.verbalizer is not None
        neg_word, pos_word = self.verbalizer.negative, self.verbalizer.positive
        negative, positive = first_token_ids(self.tokenizer, neg_word), first_token_ids(self.tokenizer, pos_word)
        if set(negative) & set(positive):
            shared = sorted(set(negative) & set(positive))
            raise ValueError(
                f"`{neg_word}` and `{pos_word}` share their first token(s) {shared} in this tokenizer, "
                "so a first-token verbalizer cannot tell them apart; strategy='first_token' is undefined here."
            )
        return negative, positive

    def _option_ids(self, before: str, lead: str, option: str, delimiter: str) -> tuple[int, ...] | None:
        """Tokens of ``lead + option`` written after ``before`` and followed by ``delimiter``, if the split is clean."""
        ids = self._in_context(before, lead + option + delimiter)
        tail = self._in_context(before + lead + option, delimiter)
        if ids is None or tail is None or len(ids) <= len(tail) or ids[len(ids) - len(tail) :] != tail:
            return None
        return ids[: len(ids) - len(tail)]

    def _slot_tokens(self, slot: Slot) -> SlotTokens:
        before, lead = slot.contexts[0]
        delimiter = slot.delimiters[0]
        ids = {}
        for option in slot.options:
            canonical = self._option_ids(before, lead, option, delimiter)
            ids[option] = canonical if canonical is not None else tuple(_encode(self.tokenizer, option))
        seqs = list(ids.values())
        shortest = min(len(s) for s in seqs)
        n = 0
        while n < shortest - 1 and len({s[n] for s in seqs}) == 1:
            n += 1
        common = seqs[0][:n]
        first: dict[str, set[int]] = {option: {s[n]} for option, s in ids.items()}
        for before, lead in slot.contexts[1:]:
            for option in slot.options:
                variant = self._option_ids(before, lead, option, delimiter)
                if variant is None or len(variant) <= n or variant[:n] != common:
                    continue
                if self.tokenizer.decode([variant[n]]).strip():
                    first[option].add(variant[n])
        return SlotTokens(
            common=common,
            common_text=self.tokenizer.decode(list(common)),
            first={option: tuple(sorted(tokens)) for option, tokens in first.items()},
            ids=ids,
            labels=dict(slot.options),
            delimiters=slot.delimiters,
        )

    @cached_property
    def branch(self) -> tuple[tuple[int, ...], dict[str, int]]:
        """The first slot's shared leading tokens and, per label, its first distinguishing token (canonical context).

        For Llama Guard: the category ids. Ma et al.'s "softmax over the label tokens" is taken over
        the distinct distinguishing tokens; ids that share one (``S1`` and ``S10`` when digits are
        split one by one) share its probability.
        """
        slot = self.slot_tokens[0]
        n = len(slot.common)
        return slot.common, {label: slot.ids[o][n] for o, label in slot.labels.items() if label is not None}

    def slot_delimiter_mask(self, slot: int) -> torch.Tensor:
        """Boolean mask over the vocabulary: tokens whose text starts with one of the slot's delimiters.

        These end an option; so does EOS, which the caller adds (it comes from the model).
        """
        if slot not in self._masks:
            starts = tuple(self.slot_tokens[slot].delimiters)
            mask = torch.zeros(len(self._token_texts), dtype=torch.bool)
            for token_id, text in enumerate(self._token_texts):
                if text is not None and text.startswith(starts):
                    mask[token_id] = True
            self._masks[slot] = mask
        return self._masks[slot]

    @cached_property
    def _masks(self) -> dict[int, torch.Tensor]:
        return {}

    @cached_property
    def _token_texts(self) -> list[str | None]:
        vocab = len(self.tokenizer)
        special = set(self.tokenizer.all_special_ids)
        texts = self.tokenizer.batch_decode([[token_id] for token_id in range(vocab)])
        return [None if token_id in special else text for token_id, text in enumerate(texts)]

    @cached_property
    def delimiter_mask(self) -> torch.Tensor:
        """The first slot's delimiter mask (Llama Guard: tokens whose text starts with ``,`` or a newline)."""
        return self.slot_delimiter_mask(0)
