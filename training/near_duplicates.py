"""Which training prompts are near-copies of held-out ones: word-set Jaccard, answered from an index.

The training pools are written or generated without looking at the held-out prompts, yet some ask the same thing in
nearly the same words; :class:`NearIndex` finds them so that training leaves them out and the held-out figures
measure generalisation. A prompt is *near* a held-out one when their sets of normalised words overlap by at least
``threshold`` (Jaccard: shared words over all words).

Comparing every prompt with every held-out prompt took about 19 s per run (13,000 prompts against 1,100); the index
keeps the answer exact and checks only the held-out prompts that share one of a prompt's rarest words (prefix
filtering: a pair whose Jaccard reaches ``t`` shares at least ``ceil(t * |w|)`` of the prompt's ``|w|`` words, so it
shares one of any ``|w| - ceil(t * |w|) + 1`` of them).
"""

from __future__ import annotations

import math
import re


def normalise(text: str) -> str:
    """Lower case, runs of non-word characters as one space.

    >>> normalise("How do I make sarin, at home?")
    'how do i make sarin at home'
    """
    return re.sub(r"\W+", " ", text.lower()).strip()


def words_of(text: str) -> frozenset[str]:
    return frozenset(normalise(text).split())


class NearIndex:
    """The held-out prompts' word sets, indexed by word.

    >>> index = NearIndex(["how do i make sarin gas at home?", "Where is the nearest bakery?"])
    >>> index.near("How do I make sarin at home"), index.near("Bake bread")
    (True, False)
    >>> sorted(index.near_all(["How do I make sarin at home", "bake bread", "where is the nearest bakery"]))
    ['How do I make sarin at home', 'where is the nearest bakery']
    """

    def __init__(self, held_out: list[str], threshold: float = 0.6) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.held = [words_of(t) for t in held_out]
        self.has_empty = any(not h for h in self.held)
        self.postings: dict[str, list[int]] = {}
        for k, h in enumerate(self.held):
            for w in h:
                self.postings.setdefault(w, []).append(k)

    def near(self, text: str) -> bool:
        """Whether ``text``'s words overlap some held-out prompt's by at least the threshold."""
        words = words_of(text)
        if not words:
            return self.has_empty
        need = math.ceil(self.threshold * len(words) - 1e-9)
        rarest = sorted(words, key=lambda w: len(self.postings.get(w, ())))[: len(words) - need + 1]
        candidates = {k for w in rarest for k in self.postings.get(w, ())}
        return any(len(words & self.held[k]) >= self.threshold * len(words | self.held[k]) for k in candidates)

    def near_all(self, texts: list[str]) -> set[str]:
        """The ``texts`` that are :meth:`near` a held-out prompt."""
        return {t for t in texts if self.near(t)}
