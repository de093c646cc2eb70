"""Llama Guard's ``prefix_state`` reads the two lines directly (issue #34: it was the largest Python function of a
search); it must say exactly what the reading through ``_read`` (the spans ``parse`` uses) says, on every prefix.
``written`` (what the estimate reads of each dropped child) must answer as its earlier ``startswith`` scan did."""

from __future__ import annotations

import itertools
import random

from marginal_generate.labels.llama_guard import LlamaGuardParser
from marginal_generate.labels.prefix_state import PrefixState
from marginal_generate.labels.space import LLAMA_GUARD_3_CATEGORIES

PIECES = ["\n", "\n\n", " ", "  ", ",", ", ", "unsafe", "uns", "safe", "un", "S", "1", "10", "S1", "S10", "S14", "S15"]
PIECES += ["x", "\t", "\xa0", "\ufffd", "\r", "unsafe now", "UNSAFE", ",,", "S2 ", " S3"]


def spans_reading(parser: LlamaGuardParser, text: str, finished: bool) -> PrefixState:
    """The state as it was read before: every label ``_read`` spans, its possible labels less those."""
    spans, possible, _ = parser._read(text, finished)
    confirmed = frozenset(s.label for s in spans)
    return PrefixState(confirmed=confirmed, possible=frozenset(possible) - confirmed)


def test_prefix_state_equals_the_spans_reading_on_random_prefixes():
    rng = random.Random(0)
    for parser in (LlamaGuardParser(LLAMA_GUARD_3_CATEGORIES), LlamaGuardParser(("S1", "S10"), "Yes", "No")):
        texts = {"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 9))) for _ in range(20000)}
        texts |= {"".join(p) for p in itertools.product(["", "\n", " "], ["unsafe", "uns", "Yes"], ["", "\n"], PIECES)}
        for text in texts:
            for finished in (False, True):
                assert parser.prefix_state(text, finished) == spans_reading(parser, text, finished), (text, finished)


def earlier_written(parser: LlamaGuardParser, text: str) -> tuple[frozenset[str], bool]:
    """``written`` as it was: the category ids scanned with ``startswith``."""
    body = text.lstrip()
    newline = body.find("\n")
    if newline < 0:
        return (frozenset({parser.positive}) if body.strip() == parser.positive else frozenset()), True
    item = body[newline + 1 :].rsplit(",", 1)[-1]
    if item.strip() in parser._category_set:
        return frozenset({item.strip()}), True
    return frozenset(), any(c.startswith(item.lstrip()) for c in parser.categories)


def test_written_equals_the_earlier_reading_on_random_prefixes():
    rng = random.Random(1)
    parser = LlamaGuardParser(LLAMA_GUARD_3_CATEGORIES)
    texts = {"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 9))) for _ in range(20000)}
    for text in texts | {"unsafe\nS", "unsafe\nS1", "unsafe\n S1", "unsafe\nS1,", "unsafe\nS1x", "unsafe\nS15"}:
        assert parser.written(text) == earlier_written(parser, text), text


def test_prefix_state_examples():
    p = LlamaGuardParser(("S1", "S10"))
    open_line = p.prefix_state("\n\nunsafe\nS1,S10", finished=False)
    assert open_line == PrefixState(frozenset({"unsafe", "S1"}), frozenset({"S10"}))
    assert p.prefix_state("\n\nunsafe\nS1,S10", finished=True) == PrefixState(frozenset({"unsafe", "S1", "S10"}))
    assert p.prefix_state(" unsafe \nS1\nS10,", finished=False) == PrefixState(frozenset({"unsafe", "S1"}))
    assert p.prefix_state("unsafe x\nS1,", finished=False) == PrefixState(frozenset())
    assert p.prefix_state("\n\nuns", finished=False) == PrefixState(frozenset(), frozenset({"unsafe", "S1", "S10"}))
    assert p.prefix_state("\n\nunsafe", finished=True) == PrefixState(frozenset({"unsafe"}))
