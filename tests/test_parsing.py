"""The Llama Guard parser: label sets of complete answers and what prefixes decide."""

import pytest

from marginal_generate.labels.llama_guard import LlamaGuardParser

P = LlamaGuardParser(categories=[f"S{i}" for i in range(1, 15)])


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("safe", set()),
        ("\n\nsafe", set()),
        ("unsafe", {"unsafe"}),
        ("\n\nunsafe\nS1,S10", {"unsafe", "S1", "S10"}),
        ("unsafe\nS10", {"unsafe", "S10"}),  # S1 is never read from S10
        ("unsafe\nS1,S1", {"unsafe", "S1"}),  # repeated once
        ("unsafe\n S2 ,S3\nS4", {"unsafe", "S2", "S3"}),  # third line ignored
        ("unsafe\nS15,S0", {"unsafe"}),  # not category ids
        ("safe\nS1", set()),  # categories only after unsafe
        ("unsafe.\nS1", set()),
        ("Unsafe\nS1", set()),
    ],
)
def test_parse(text, labels):
    assert set(P.parse(text)) == labels


def test_spans_point_at_the_label_text():
    text = "\n\nunsafe\n S2,S10"
    assert [(s.label, text[s.start : s.end]) for s in P.spans(text)] == [
        ("unsafe", "unsafe"),
        ("S2", "S2"),
        ("S10", "S10"),
    ]


@pytest.mark.parametrize(
    ("prefix", "confirmed", "final"),
    [
        ("", set(), False),
        ("\n\n", set(), False),
        ("un", set(), False),
        ("unsafe", set(), False),  # "unsafe" may still become "unsafeX"
        ("unsafe ", set(), False),
        ("saf", set(), True),
        ("safe\n", set(), True),
        ("unsafe\n", {"unsafe"}, False),
        ("unsafe\nS1", {"unsafe"}, False),  # may become S10
        ("unsafe\nS1,", {"unsafe", "S1"}, False),
        ("unsafe\nS1,S2\n", {"unsafe", "S1", "S2"}, True),
    ],
)
def test_prefix_state(prefix, confirmed, final):
    state = P.prefix_state(prefix, finished=False)
    assert set(state.confirmed) == confirmed
    assert state.final is final
    assert not (state.confirmed & state.possible)


def test_finished_prefix_is_final_and_matches_parse():
    for text in ["unsafe", "unsafe\nS1", "unsafe\nS1,S1", "sa", "\n\nunsafe\nS14"]:
        state = P.prefix_state(text, finished=True)
        assert state.final and state.confirmed == P.parse(text)


def test_confirmed_labels_survive_every_continuation():
    prefix = "unsafe\nS3,"
    for tail in ["", "S1", "S4\n", "x,y", "\nS9"]:
        assert P.prefix_state(prefix, False).confirmed <= P.parse(prefix + tail)


def test_open_item_start():
    assert P.open_item_start("unsafe\nS1,S") == 10
    assert P.open_item_start("\n\nunsafe\n") == 9
    assert P.open_item_start("unsafe") is None
    assert P.open_item_start("unsafe\nS1\n") is None


@pytest.mark.parametrize(
    ("categories", "match"),
    [
        (["S1", "S1"], "must be distinct"),
        (["S1", "S 2,"], "cannot be read"),
        (["unsafe"], "also a category id"),
    ],
)
def test_bad_categories(categories, match):
    with pytest.raises(ValueError, match=match):
        LlamaGuardParser(categories)
