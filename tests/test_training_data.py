"""The training data files (``training/data/``) and their loader (``training/tables.py``): every table loads and keeps
its rules, a bad line is refused with its file, line and fix, the held-out prompts are no training prompts, the
card names every file, and the generators still draw what they drew when the shipped model was trained (the order
of the lines is part of the data). The entry points: ``tests/test_training_cli.py``."""

import hashlib
import json
from pathlib import Path

import pytest

from training import pools, run_data, tables
from training.generators import benign, harmful, privacy
from training.near_duplicates import normalise

REPO = Path(__file__).resolve().parents[1]
PROMPT_TABLES = sorted(
    str(p.relative_to(tables.DATA).with_suffix(""))
    for p in tables.DATA.rglob("*.jsonl")
    if '"label"' in p.read_text(encoding="utf-8").splitlines()[0]
)


def test_the_prompt_tables_are_found():
    assert PROMPT_TABLES == [
        "heldout/benign_handwritten",
        "heldout/oneline",
        "train/benign_everyday",
        "train/benign_requests",
        "train/benign_shared_words",
        "train/harmful_practices",
        "train/harmful_questions",
        "train/harmful_requests",
    ]


@pytest.mark.parametrize("name", PROMPT_TABLES)
def test_every_prompt_row_keeps_the_rules(name):
    rows = tables.prompts(name)
    assert len(rows) >= 50
    for row in rows:
        assert row.text == row.text.strip() and "\n" not in row.text
        if name.startswith("train/"):  # two held-out rows list theirs otherwise, as heldout.jsonl keeps them
            assert list(row.categories) == sorted(row.categories, key=lambda c: int(c[1:]))
        assert row.source.endswith("_handwritten") and (row.topic is None or row.topic.strip())
    texts = [normalise(r.text) for r in rows]
    assert len(set(texts)) > 0.99 * len(texts)


def test_training_leaves_out_the_pool_prompts_that_copy_held_out_ones():
    """The pools were written without looking at the held-out prompts, yet 13 ask the same thing in the same words;
    a run leaves them out (and the near copies) before it splits the pools."""
    held_harmful, held_shared = pools.held_out_one_liners()
    held = [t for t, _ in held_harmful] + held_shared + benign.handwritten_test()
    train = [p.text for name in PROMPT_TABLES if name.startswith("train/") for p in tables.prompts(name)]
    copies = {normalise(t) for t in held} & {normalise(t) for t in train}
    assert len(held) == 241 and len(copies) == 13
    hand = run_data.hand_written(0, 0.15, held, practices=True)
    kept = [t for t, _ in hand.harmful_train + hand.harmful_val] + hand.shared_train + hand.shared_val
    kept += hand.everyday_train + hand.everyday_val
    assert not {normalise(t) for t in kept} & {normalise(t) for t in held}
    assert hand.dropped > len(copies)


def test_the_pools_have_the_sizes_the_shipped_card_counts():
    card = (REPO / "marginal_generate" / "models" / "tiny-guard" / "README.md").read_text()
    harmful_rows, shared = pools.held_out_one_liners()
    assert f"{len(pools.hand_harmful())} harmful\n  one-line requests" in card
    assert f"{len(pools.hand_shared_words())} benign prompts that share harmful words" in card
    assert f"{len(pools.hand_everyday())} everyday benign requests" in card
    assert f"{len(harmful_rows)} one-line harmful requests and {len(shared)} benign prompts" in card


def test_the_data_card_names_every_file():
    card = (tables.DATA / "README.md").read_text()
    for path in tables.DATA.rglob("*.jsonl"):
        assert f"`{path.relative_to(tables.DATA)}`" in card, path


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()[:16]


def test_the_generators_draw_what_the_shipped_model_trained_on():
    """Digests of the Python lists the tables were made from, drawn with the same seeds before the move (the
    docstring-based benign prompts are left out: they read this interpreter's standard library)."""
    assert digest(harmful.harmful_requests(1000, 0)) == "4ee763d1650685d4"
    assert digest(privacy.privacy_requests(1000, 0)) == "add9e7942cfc8c6c"
    assert digest(benign.benign_prompts(1000, 0, "train")) == "0a21bf85810c8d4d"
    assert digest(benign.test_prompts(200, 7)) == "bb520341924591d9"


GOOD = {"text": "hi", "label": "safe", "categories": [], "phrasing": None, "topic": None, "source": "x"}


@pytest.mark.parametrize(
    "row, message",
    [
        ({**GOOD, "label": "unsafe"}, r"t.jsonl:3: label 'unsafe' with categories \[\]: an unsafe prompt needs its"),
        ({**GOOD, "categories": ["S1"]}, r"label 'safe' with categories \['S1'\]"),
        ({**GOOD, "label": "unsafe", "categories": ["S15"]}, r"categories \['S15'\]; give a list of Llama Guard 3 ids"),
        ({**GOOD, "phrasing": "rhetorical"}, r"phrasing 'rhetorical'; give one of \['question', 'imperative'"),
        ({**GOOD, "text": " "}, r"text ' '; give the prompt as a non-empty string"),
        ({k: v for k, v in GOOD.items() if k != "topic"}, r"columns \[.*\]; write exactly \['text', 'label', "),
    ],
)
def test_a_bad_prompt_row_is_refused_with_the_fix(row, message):
    with pytest.raises(ValueError, match=message):
        tables.check_prompt_row(row, "t.jsonl:3")


def test_a_line_that_is_not_an_object_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"part": "a", "text": "x"}\n\n{"part": \n')
    with pytest.raises(ValueError, match=r"t.jsonl:3: not JSON \(.*\); write one JSON object per line"):
        tables.read_jsonl(path)
    path.write_text('{"part": "a", "text": "x"}\n"just a string"\n')
    with pytest.raises(ValueError, match=r't.jsonl:2: "just a string" is not a JSON object'):
        tables.read_jsonl(path)


def test_unknown_tables_and_parts_are_named_with_the_known_ones():
    known = r"no data table 'train/nope' in .*; the tables are \[.*'heldout/oneline'"
    with pytest.raises(FileNotFoundError, match=known):
        tables.prompts("train/nope")
    with pytest.raises(KeyError, match=r"has no part 'nope'; its parts are \['compliant', 'helpful', 'refusal'\]"):
        tables.texts("templates/agent_replies", "nope")
