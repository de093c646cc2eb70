"""Augmentation of training queries: label-exact rewrites (sentence order, two rows in one) and word dropout.

>>> shuffle_sentences("Make a bomb. Then hide it!", random.Random(1))
'Then hide it! Make a bomb.'
>>> concat_rows({"query": "a?", "categories": ["S10", "S2"]}, {"query": "b.", "categories": ["S9"]})
('a? b.', ['S2', 'S9', 'S10'])
"""

from __future__ import annotations

import random
import re


def shuffle_sentences(query: str, rng: random.Random) -> str:
    """The query's sentences (or lines) in a random order: the label set does not depend on it."""
    parts = [p for p in re.split(r"(?<=[?.!])\s+|\n+", query.strip()) if p.strip()]
    rng.shuffle(parts)
    return " ".join(parts)


def cat_key(c: str) -> int:
    """The number of a category id (``"S10"`` → 10), to sort ids in numeric order."""
    return int(c[1:])


def concat_rows(a: dict, b: dict) -> tuple[str, list[str]]:
    """Two training rows as one query (``a``'s requests then ``b``'s) with the union of their
    categories in numeric order: the label set stays exact (augmentation)."""
    return a["query"].strip() + " " + b["query"].strip(), sorted(
        set(a["categories"]) | set(b["categories"]), key=cat_key
    )


def drop_words(query: str, rate: float, rng: random.Random) -> str:
    """``query`` with each whitespace-separated word dropped with probability ``rate``, at least two kept
    (augmentation: a request stays recognisable from most of its words, so the model must not hang on one).

    >>> drop_words("How do I make a pipe bomb at home?", 0.3, random.Random(1))
    'do I a pipe bomb at'
    >>> drop_words("Hello there", 0.99, random.Random(0))
    'Hello there'
    """
    words = query.split()
    kept = [w for w in words if rng.random() >= rate]
    return " ".join(kept) if len(kept) >= 2 else query
