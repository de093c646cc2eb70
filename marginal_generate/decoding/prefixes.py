"""The text and parser state of answer prefixes, read once per search.

The prompts of a batch write the same few answers (``\\n\\nunsafe\\nS1,S10``), so the same token
prefix comes up in many rows of one search, in the tree, in the greedy path and in the dropped
children the estimate reads. :class:`PrefixReader` decodes and parses each distinct prefix once.

The text it returns is what the prefix has decided: an unfinished prefix that ends inside a character split
over two byte-level tokens holds back its trailing U+FFFD
(:func:`~marginal_generate.labels.prefix_state.readable_prefix`), so the grammar reads it as still open; a
finished answer is read as decoded, as the final parse reads it.

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

from ..labels.prefix_state import PrefixState, readable_prefix
from ..labels.space import LabelSpace

__all__ = ["PrefixReader"]


class PrefixReader:
    """Memoized ``(text, PrefixState)`` of token prefixes for one :class:`~marginal_generate.labels.LabelSpace`."""

    def __init__(self, space: LabelSpace) -> None:
        self.space = space
        self._texts: dict[tuple[int, ...], str] = {}
        self._states: dict[tuple[str, bool], PrefixState] = {}

    def __len__(self) -> int:
        return len(self._states)

    def read(self, tokens: tuple[int, ...], finished: bool) -> tuple[str, PrefixState]:
        """The decoded text of ``tokens`` (unfinished: without an incomplete trailing character) and what it decides
        (``finished``: a complete answer)."""
        text = self._texts.get(tokens)
        if text is None:
            text = self._texts[tokens] = self.space.decode(tokens)
        text = readable_prefix(text, finished)
        state = self._states.get((text, finished))
        if state is None:
            state = self._states[text, finished] = self.space.prefix_state(text, finished)
        return text, state
