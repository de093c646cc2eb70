"""The decoded text of answer prefixes, built one token at a time from the parent prefix's text.

A search decodes thousands of distinct prefixes, each one token longer than a prefix it decoded a step earlier;
``tokenizer.decode(ids, skip_special_tokens=True)`` goes through transformers' Python wrapper and the Rust decoder
for every one of them. :class:`TokenText` keeps each prefix's text and extends it by the new token's piece, where
:func:`decode_plan` can show, once per tokenizer, that this is what ``decode`` returns:

- a ``ByteLevel`` decoder (Llama 3 and 4, GPT-2): the text is the UTF-8 decoding (U+FFFD for bytes that are not a
  character, as Rust's ``from_utf8_lossy``) of the tokens' bytes joined, so a prefix keeps its whole characters and
  the (at most 3) bytes of an unfinished one, which the next token may complete;
- per-token ``Replace`` (plain text) and ``Metaspace`` steps (the first token written drops ``▁``, unless the scheme
  is ``never``), joined by ``Fuse`` or by nothing (Rust joins a decoder's pieces with ``""``), then ``Replace`` and
  ``Strip`` (from the start) of the joined text;
- no decoder: the tokens joined by a space.

Special tokens (the added tokens Rust marks special, matched by their text as Rust matches them) and ids without a
token are dropped, as ``skip_special_tokens=True`` drops them; ``clean_up_tokenization_spaces`` is applied where
transformers applies it (not on BPE models). Any other tokenizer (another decoder, a tokenizer class with its own
``decode``) has no plan, and :class:`TokenText` calls ``tokenizer.decode`` on the whole prefix.

>>> from marginal_generate.testing import byte_level_tokenizer
>>> tok = byte_level_tokenizer(["\\n\\nunsafe\\nS10", "Yesé"])
>>> text = TokenText(tok)
>>> ids = tuple(tok("\\n\\nunsafe\\nS10", add_special_tokens=False)["input_ids"])
>>> text.exact, text.decode(ids) == tok.decode(list(ids), skip_special_tokens=True), len(text)
(True, True, 5)
>>> cafe = tuple(tok("Yes", add_special_tokens=False)["input_ids"]) + (tok.convert_tokens_to_ids("Ã"),)
>>> text.decode(cafe), text.incomplete(cafe)  # "Yes" + byte C3: the first byte of "é"
('Yes\\ufffd', True)
"""

from __future__ import annotations

import codecs
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .utf8_tail import Utf8Tail, byte_alphabet, special_texts

__all__ = ["DecodePlan", "TokenText", "decode_plan"]

_UTF8 = codecs.utf_8_decode


@dataclass
class DecodePlan:
    """How one tokenizer's ``decode(ids, skip_special_tokens=True)`` builds its text from per-token pieces.

    ``byte_level``: pieces are bytes, joined and then decoded as UTF-8. Otherwise ``steps`` turn each token into its
    piece (``("replace", old, new)``; ``("metaspace", "▁", drop_first)``) and ``separator`` joins them. ``after``:
    steps on the joined text (``("replace", old, new)``, ``("strip", content, count)``); ``clean_up``: transformers'
    ``clean_up_tokenization`` where it applies. ``skipped``: the texts of the tokens ``skip_special_tokens`` drops.
    """

    byte_level: bool
    steps: tuple[tuple[str, str, Any], ...]
    separator: str
    after: tuple[tuple[str, str, Any], ...]
    clean_up: Callable[[str], str] | None
    skipped: frozenset[str]
    backend: Any
    _pieces: tuple[dict[int, Any], dict[int, Any]] = field(default_factory=lambda: ({}, {}), repr=False)  # by first

    def piece(self, token: int, first: bool) -> str | bytes | None:
        """The text (or bytes) one token adds; None for a token ``decode`` drops. ``first``: the first kept token."""
        pieces = self._pieces[first]
        found = pieces.get(token, self)
        if found is self:
            found = pieces[token] = self._piece(token, first)
        return found

    def _piece(self, token: int, first: bool) -> str | bytes | None:
        text = self.backend.id_to_token(token)
        if text is None or text in self.skipped:
            return None
        if self.byte_level:
            alphabet = _ALPHABET
            if all(c in alphabet for c in text):
                return bytes(alphabet[c] for c in text)
            return text.encode("utf-8")  # an added token outside the byte alphabet: its own text, as Rust writes it
        for kind, old, new in self.steps:
            if kind == "replace":
                text = text.replace(old, new)
            else:  # metaspace: "▁" is a space, and the first token written drops it (when ``new``, drop_first)
                text = text.replace(old, "" if first and new else " ")
        return text

    def finish(self, text: str) -> str:
        """The joined text as ``decode`` returns it (the decoder's steps after the join, then the clean-up)."""
        for kind, old, new in self.after:
            if kind == "replace":
                text = text.replace(old, new)
            else:  # strip up to ``new`` leading ``old`` characters
                n = 0
                while n < new and n < len(text) and text[n] == old:
                    n += 1
                text = text[n:]
        return self.clean_up(text) if self.clean_up is not None else text


_ALPHABET = byte_alphabet()
_PLANS: weakref.WeakKeyDictionary[Any, tuple[tuple, DecodePlan | None]] = weakref.WeakKeyDictionary()


def decode_plan(tokenizer: Any) -> DecodePlan | None:
    """The tokenizer's :class:`DecodePlan`, or None where the pieces cannot be shown to give ``decode``'s text
    (decided once per tokenizer, and again when its size, decoder or clean-up setting changes; see the module
    docstring).

    >>> from marginal_generate.testing import word_level_tokenizer, sentencepiece_tokenizer
    >>> plan = decode_plan(word_level_tokenizer(["unsafe"]))
    >>> plan.byte_level, plan.steps, repr(plan.separator)
    (False, (), "''")
    >>> decode_plan(sentencepiece_tokenizer()).steps
    (('replace', '▁', ' '),)
    >>> decode_plan(object()) is None
    True
    """
    key = _settings(tokenizer)
    try:
        found = _PLANS.get(tokenizer)
    except TypeError:  # pragma: no cover - an object that cannot be weakly referenced: decided every time
        return _plan(tokenizer)
    if found is not None and found[0] == key:
        return found[1]
    plan = _plan(tokenizer)
    _PLANS[tokenizer] = (key, plan)
    return plan


def _settings(tokenizer: Any) -> tuple:
    """What a plan was decided from and a user may change on the tokenizer: its size, decoder and clean-up flag."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    try:
        state = decoder.__getstate__() if decoder is not None else None
    except (AttributeError, TypeError):  # pragma: no cover - a decoder that cannot be serialized
        state = id(decoder)
    size = len(tokenizer) if hasattr(tokenizer, "__len__") else None
    return size, state, getattr(tokenizer, "clean_up_tokenization_spaces", None)


def _plan(tokenizer: Any) -> DecodePlan | None:
    try:
        from transformers.tokenization_utils_base import PreTrainedTokenizerBase
        from transformers.tokenization_utils_tokenizers import TokenizersBackend
    except ImportError:  # pragma: no cover - a transformers without the Rust backend class
        return None
    # decode must be transformers' own: to_py_obj, the Rust decode with skip_special_tokens, then the clean-up
    if not isinstance(tokenizer, TokenizersBackend):
        return None
    if type(tokenizer).decode is not PreTrainedTokenizerBase.decode or type(tokenizer)._decode is not (
        TokenizersBackend._decode
    ):
        return None
    backend = tokenizer.backend_tokenizer
    parts = _decoder_parts(backend)
    if parts is None:
        return None
    byte_level, steps, separator, after = False, [], "", []
    joined = False
    if not parts:  # no decoder: Rust joins the tokens with a space
        separator = " "
    for k, part in enumerate(parts):
        kind = part.get("type")
        if kind == "ByteLevel" and k == 0:
            byte_level = joined = True
        elif kind == "Fuse":
            joined = True
        elif kind == "Replace" and set(part.get("pattern", {})) == {"String"}:
            (after if joined else steps).append(("replace", part["pattern"]["String"], part.get("content", "")))
        elif kind == "Metaspace" and not joined and len(part.get("replacement", "")) == 1:
            scheme = part.get("prepend_scheme", "always" if part.get("add_prefix_space", True) else "never")
            steps.append(("metaspace", part["replacement"], scheme != "never"))
        elif kind == "Strip" and joined and part.get("stop", 0) == 0 and len(part.get("content", "")) == 1:
            after.append(("strip", part["content"], int(part.get("start", 0))))
        else:
            return None
    clean_up = None
    if tokenizer.clean_up_tokenization_spaces and (
        type(backend.model).__name__ != "BPE"
        or getattr(tokenizer, "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False)
    ):
        clean_up = tokenizer.clean_up_tokenization
    return DecodePlan(
        byte_level, tuple(steps), separator, tuple(after), clean_up, special_texts(tokenizer), backend=backend
    )


def _decoder_parts(backend: Any) -> list[dict] | None:
    """The Rust decoder as a list of its steps (empty: no decoder), or None where it cannot be read."""
    decoder = backend.decoder
    if decoder is None:
        return []
    try:
        state = json.loads(decoder.__getstate__())
    except (ValueError, TypeError, AttributeError):  # pragma: no cover - a decoder that cannot be serialized
        return None
    if not isinstance(state, dict):
        return None
    parts = state.get("decoders") if state.get("type") == "Sequence" else [state]
    if not isinstance(parts, list) or any(not isinstance(p, dict) or p.get("type") == "Sequence" for p in parts):
        return None
    return parts


class TokenText:
    """Memoized decoded text of token prefixes for one tokenizer (see the module docstring).

    ``exact``: the tokenizer has a :class:`DecodePlan`, so texts are built from pieces and :meth:`incomplete` reads
    the unfinished character's bytes; otherwise each text is ``tokenizer.decode`` of the whole prefix.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.plan = decode_plan(tokenizer)
        self.exact = self.plan is not None
        # prefix -> (any token kept, text of the whole characters, bytes of an unfinished one, decoded text)
        self._memo: dict[tuple[int, ...], tuple[bool, str, bytes, str]] = {(): (False, "", b"", self._finish("", b""))}
        self._tail: Utf8Tail | None = None
        self._plain = self.plan is not None and not self.plan.after and self.plan.clean_up is None

    def __len__(self) -> int:
        return len(self._memo) - 1

    def decode(self, tokens: tuple[int, ...]) -> str:
        """``tokenizer.decode(tokens, skip_special_tokens=True)``."""
        entry = self._memo.get(tokens)
        if entry is None:
            entry = self._entry(tokens)
        return entry[3]

    def written(self, tokens: tuple[int, ...]) -> tuple[str, bytes]:
        """The text of the whole characters of ``tokens`` (before the decoder's steps after the join and the clean-up)
        and the bytes of a trailing unfinished character (empty where there is none); only with a plan.

        >>> from marginal_generate.testing import byte_level_tokenizer
        >>> tok = byte_level_tokenizer(["a\\xa0b"])
        >>> TokenText(tok).written((tok.convert_tokens_to_ids("Â"),))  # byte C2: a no-break space's first byte
        ('', b'\\xc2')
        """
        if self.plan is None:
            raise ValueError("`written` needs a tokenizer with a decode plan (TokenText.exact); this one has none.")
        entry = self._memo.get(tokens)
        if entry is None:
            entry = self._entry(tokens)
        return entry[1], entry[2]

    def incomplete(self, tokens: tuple[int, ...]) -> bool:
        """Whether ``tokens`` end with the first bytes of a character more tokens may complete (where the bytes are not
        known: :class:`~.utf8_tail.Utf8Tail`'s answer, True when it cannot tell)."""
        if self.plan is None:
            if self._tail is None:
                self._tail = Utf8Tail(self.tokenizer)
            return self._tail.incomplete(tokens)
        if not self.plan.byte_level:
            return False
        entry = self._memo.get(tokens)
        if entry is None:
            entry = self._entry(tokens)
        return bool(entry[2])

    def _finish(self, done: str, tail: bytes) -> str:
        if self.plan is None:
            return ""
        return self.plan.finish(done + _UTF8(tail, "replace", True)[0] if tail else done)

    def _entry(self, tokens: tuple[int, ...]) -> tuple[bool, str, bytes, str]:
        memo, plan = self._memo, self.plan
        if plan is None:
            entry = memo[tokens] = (True, "", b"", self.tokenizer.decode(list(tokens), skip_special_tokens=True))
            return entry
        n = len(tokens)
        start = n - 1
        entry = memo.get(tokens[:start])  # most often the parent, one token shorter
        while entry is None:  # the longest prefix already decoded (() always is)
            start -= 1
            entry = memo.get(tokens[:start])
        kept, done, tail, _ = entry
        for k in range(start, n):
            piece = plan.piece(tokens[k], not kept)
            if piece is not None:
                if plan.byte_level:
                    data = tail + piece
                    text, used = _UTF8(data, "replace", False)
                    done, tail = done + text, data[used:]
                else:
                    done = done + plan.separator + piece if kept else done + piece
                kept = True
            # the whole characters as decoded, where the plan has no step after the join (Llama 3's ByteLevel)
            decoded = done if self._plain and not tail else self._finish(done, tail)
            entry = memo[tokens if k == n - 1 else tokens[: k + 1]] = (kept, done, tail, decoded)
        return entry
