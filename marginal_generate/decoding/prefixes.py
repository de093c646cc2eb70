"""The text and parser state of answer prefixes, read once per search.

The prompts of a batch write the same few answers (``\\n\\nunsafe\\nS1,S10``), so the same token
prefix comes up in many rows of one search, in the tree, in the greedy path and in the dropped
children the estimate reads. :class:`PrefixReader` decodes and parses each distinct prefix once, and decodes a prefix
from its parent's text and the new token (:class:`~marginal_generate.decoding.token_text.TokenText`, exact where the
tokenizer's decoder is known; ``tokenizer.decode`` of the whole prefix otherwise).

The text it returns is what the prefix has decided: an unfinished prefix that ends inside a character split
over two byte-level tokens holds back its trailing U+FFFD
(:func:`~marginal_generate.labels.prefix_state.readable_prefix`), so the grammar reads it as still open; a
finished answer is read as decoded, as the final parse reads it. Where the tokenizer's bytes are known
(:mod:`~marginal_generate.decoding.token_text`), a U+FFFD that no continuation can change (a lone continuation
byte) is read as decided text instead, so such prefixes do not stay open for nothing.

>>> from marginal_generate.testing import word_level_tokenizer
>>> from marginal_generate.labels import LabelSpace
>>> tok = word_level_tokenizer(["safe", "unsafe", "S1", ",", "\\n"])
>>> reader = PrefixReader(LabelSpace(tok, categories=["S1"]))
>>> ids = tuple(tok("unsafe\\nS1,", add_special_tokens=False)["input_ids"])
>>> text, state = reader.read(ids, finished=False)
>>> text, sorted(state.confirmed)
('unsafe\\nS1,', ['S1', 'unsafe'])
>>> reader.read(ids, finished=False)[1] is state, len(reader)
(True, 1)
"""

from __future__ import annotations

from ..labels.prefix_state import REPLACEMENT, PrefixState, readable_prefix
from ..labels.space import LabelSpace
from .token_text import TokenText

__all__ = ["PrefixReader"]


class PrefixReader:
    """Memoized ``(text, PrefixState)`` of token prefixes for one :class:`~marginal_generate.labels.LabelSpace`."""

    def __init__(self, space: LabelSpace) -> None:
        self.space = space
        self._states: dict[tuple[str, bool], PrefixState] = {}
        self._text = TokenText(space.tokenizer)
        # LabelSpace.decode is tokenizer.decode(ids, skip_special_tokens=True); a subclass may decode otherwise
        self._own_decode = type(space).decode is LabelSpace.decode
        self._texts: dict[tuple[int, ...], str] = {}

    def __len__(self) -> int:
        return len(self._states)

    def read(self, tokens: tuple[int, ...], finished: bool) -> tuple[str, PrefixState]:
        """The decoded text of ``tokens`` (unfinished: without an incomplete trailing character) and what it decides
        (``finished``: a complete answer)."""
        if self._own_decode:
            text = self._text.decode(tokens)
        else:
            text = self._texts.get(tokens)
            if text is None:
                text = self._texts[tokens] = self.space.decode(tokens)
        if not finished and text.endswith(REPLACEMENT) and self._text.incomplete(tokens):
            text = readable_prefix(text, finished)  # a character the next tokens may complete: held back
        state = self._states.get((text, finished))
        if state is None:  # the grammar reads the text as decided here (LabelSpace.prefix_state would hold back)
            state = self._states[text, finished] = self.space.grammar.prefix_state(text, finished)
        return text, state
