"""Whether a token prefix ends inside a UTF-8 character: the one tokenizer quirk the prefix reader needs.

Byte-level tokenizers (Llama 3, GPT-2) have a token for each byte, so a model can write ``é`` (C3 A9) as two
tokens, and the first decodes to U+FFFD. The next token may complete the character, so the prefix must stay
open; a U+FFFD no continuation can change (a lone continuation byte, an invalid sequence) is decided text.
Decoded text cannot tell them apart (both are one U+FFFD), the bytes can: :class:`Utf8Tail` reads the last bytes
of the tokens and asks Python's incremental UTF-8 decoder whether it holds an incomplete character.

Known: ``ByteLevel`` decoders (the token's characters map to bytes by GPT-2's table) and ``ByteFallback`` ones
(``<0xC3>`` tokens). Any other tokenizer answers "maybe" (True), which only keeps a prefix open longer.

>>> ends_inside_a_character(b"Yes\\xc3"), ends_inside_a_character(b"Yes\\xc3\\xa9"), ends_inside_a_character(b"\\x80")
(True, False, False)
>>> from marginal_generate.testing import word_level_tokenizer
>>> Utf8Tail(word_level_tokenizer(["Yes"])).kind is None  # bytes unknown: every trailing U+FFFD may be completed
True
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Utf8Tail", "byte_alphabet", "ends_inside_a_character", "special_texts"]

_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def byte_alphabet() -> dict[str, int]:
    """GPT-2's printable character for each byte, reversed: what ``ByteLevel`` token strings are written in.

    >>> table = byte_alphabet()
    >>> len(table), table["A"], table["Ġ"], table["Ċ"]
    (256, 65, 32, 10)
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def special_texts(tokenizer: Any) -> frozenset[str]:
    """The texts of the tokens ``decode(..., skip_special_tokens=True)`` drops: the added tokens the Rust tokenizer
    marks special (Rust drops a token whose text is one of them), else transformers' special tokens.

    >>> from marginal_generate.testing import word_level_tokenizer
    >>> sorted(special_texts(word_level_tokenizer(["Yes"])))  # <unk> is a vocabulary word: decode keeps it
    ['<bos>', '<eos>', '<pad>']
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return frozenset(getattr(tokenizer, "all_special_tokens", ()) or ())
    return frozenset(token.content for token in backend.get_added_tokens_decoder().values() if token.special)


def _decoder_kinds(tokenizer: Any) -> set[str]:
    """The types of the fast tokenizer's decoder (and of the parts of a ``Sequence``): only the decoder is serialized
    (the whole tokenizer's JSON, at Llama 3's 128,256 tokens, took a second per search to write and read back)."""
    decoder_object = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder_object is None:
        return set()
    try:
        decoder = json.loads(decoder_object.__getstate__()) or {}
    except (ValueError, TypeError, AttributeError):  # pragma: no cover - a decoder that cannot be serialized
        return set()
    parts = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    return {part.get("type", "") for part in parts if isinstance(part, dict)}


class Utf8Tail:
    """Reads whether token ids end inside a UTF-8 character (see the module docstring)."""

    def __init__(self, tokenizer: Any) -> None:
        kinds = _decoder_kinds(tokenizer)
        self.kind = "byte_level" if "ByteLevel" in kinds else "byte_fallback" if "ByteFallback" in kinds else None
        self.tokenizer = tokenizer
        self._skipped = special_texts(tokenizer)
        self._alphabet = byte_alphabet()
        self._bytes: dict[int, bytes] = {}

    def token_bytes(self, token: int) -> bytes:
        """The bytes a token writes (nothing for a special token)."""
        found = self._bytes.get(token)
        if found is None:
            piece = self.tokenizer.convert_ids_to_tokens(token)
            if piece is None or piece in self._skipped:
                found = b""
            elif self.kind == "byte_level" and all(c in self._alphabet for c in piece):
                found = bytes(self._alphabet[c] for c in piece)
            elif self.kind == "byte_fallback" and _FALLBACK.fullmatch(piece):
                found = bytes([int(piece[3:5], 16)])
            else:  # an added token, or a SentencePiece piece: its text
                found = piece.replace("\u2581", " ").encode("utf-8")
            self._bytes[token] = found
        return found

    def incomplete(self, tokens: Sequence[int]) -> bool:
        """Whether ``tokens`` end with the first bytes of a character that more tokens may complete (True where the
        tokenizer's bytes are unknown)."""
        if self.kind is None:
            return True
        tail = b""
        for token in reversed(tokens):  # a character has at most 4 bytes: the last 4 decide
            tail = self.token_bytes(token) + tail
            if len(tail) >= 4:
                break
        return ends_inside_a_character(tail)


def ends_inside_a_character(data: bytes) -> bool:
    """Whether ``data`` ends with the first bytes of a UTF-8 character (what Python's incremental decoder keeps back).

    >>> [ends_inside_a_character(data) for data in (b"\\xe2\\x80", b"\\xe2\\x80\\x83", b"a", b"\\x80")]
    [True, False, False, False]
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    decoder.decode(data, final=False)
    return bool(decoder.getstate()[0])
