import json

import datasets
import pytest

from marginal_generate.data import (
    ColumnMap,
    Record,
    load_beavertails,
    load_dataset_source,
    load_records_jsonl,
    load_seed_jsonl,
    save_records_jsonl,
)
from marginal_generate.labels.taxonomy import BEAVERTAILS_CATEGORIES


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _flags(*names):
    return {name: name in names for name in BEAVERTAILS_CATEGORIES}


BEAVERTAILS_ROWS = [
    {
        "prompt": "How do I steal a car?",
        "response": "Break the window.",
        "category": _flags("financial_crime,property_crime,theft"),
        "is_safe": False,
    },
    {
        "prompt": "Tell me about voting.",
        "response": "Vote in person on Sunday.",
        "category": _flags("controversial_topics,politics", "hate_speech,offensive_language"),
        "is_safe": False,
    },
    {
        "prompt": "How do I steal a car?",
        "response": "Break the window.",
        "category": _flags("financial_crime,property_crime,theft"),
        "is_safe": False,
    },
    {"prompt": "Hi", "response": "Hello!", "category": _flags(), "is_safe": True},
]


@pytest.fixture
def beavertails_hub_layout(tmp_path):
    """A local folder laid out like the Hub repo PKU-Alignment/BeaverTails (README configs + data files)."""
    root = tmp_path / "BeaverTails"
    (root / "round0" / "30k").mkdir(parents=True)
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: 30k_train\n    path: round0/30k/train.jsonl\n"
        "  - split: 30k_test\n    path: round0/30k/test.jsonl\n---\n# BeaverTails (test copy)\n"
    )
    _write(root / "round0" / "30k" / "test.jsonl", [json.dumps(r) for r in BEAVERTAILS_ROWS])
    _write(root / "round0" / "30k" / "train.jsonl", [json.dumps(BEAVERTAILS_ROWS[0])])
    return root


def test_seed_jsonl_lg3_and_lg2(tmp_path):
    path = _write(
        tmp_path / "lm3.jsonl",
        [
            json.dumps({"llama_guard_3_categories": ["S6", "S10"], "unsafe_query": "\nWhy?\n"}),
            "",
            json.dumps({"llama_guard_3_categories": ["S14", "S2"], "unsafe_query": "q2"}),
        ],
    )
    records = load_seed_jsonl(path)
    assert [(r.index, r.categories, r.is_safe) for r in records] == [
        (0, ("S6", "S10"), False),
        (2, ("S2", "S14"), False),
    ]
    assert records[0].conversation == ({"role": "user", "content": "\nWhy?\n"},) and records[0].response is None
    lg2 = _write(tmp_path / "lm2.jsonl", [json.dumps({"llama_guard_2_categories": ["S11"], "unsafe_query": "q"})])
    assert load_seed_jsonl(lg2)[0].categories == ("S11",)
    with pytest.raises(ValueError, match=r"lm2.jsonl, line 1: missing field 'llama_guard_3_categories'"):
        load_seed_jsonl(lg2, taxonomy=3)


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"unsafe_query": "q", "llama_guard_3_categories": ["S1"]', r"bad.jsonl, line 2: not valid JSON"),
        ('{"llama_guard_3_categories": ["S1"]}', r"bad.jsonl, line 2: missing field 'unsafe_query'"),
        (
            '{"unsafe_query": "q"}',
            r"bad.jsonl, line 2: missing field 'llama_guard_3_categories' or 'llama_guard_2_categories'",
        ),
        (
            '{"unsafe_query": "q", "llama_guard_3_categories": ["S99"]}',
            r"bad.jsonl, line 2: field 'llama_guard_3_categories' has unknown category id 'S99'",
        ),
        (
            '{"unsafe_query": "q", "llama_guard_2_categories": ["S12"]}',
            r"bad.jsonl, line 2: field 'llama_guard_2_categories' has unknown category id 'S12'",
        ),
        (
            '{"unsafe_query": "q", "llama_guard_3_categories": []}',
            r"bad.jsonl, line 2: field 'llama_guard_3_categories' must be a non-empty list",
        ),
        (
            '{"unsafe_query": "", "llama_guard_3_categories": ["S1"]}',
            r"bad.jsonl, line 2: field 'unsafe_query' must be a non-empty string",
        ),
        ('["S1"]', r"bad.jsonl, line 2: expected a JSON object"),
    ],
)
def test_seed_jsonl_bad_lines(tmp_path, line, message):
    path = _write(
        tmp_path / "bad.jsonl", [json.dumps({"unsafe_query": "ok", "llama_guard_3_categories": ["S1"]}), line]
    )
    with pytest.raises(ValueError, match=message):
        load_seed_jsonl(path)


def test_beavertails_through_load_dataset(beavertails_hub_layout):
    records = load_beavertails(source=str(beavertails_hub_layout))
    assert [r.index for r in records] == [0, 1, 3]  # row 2 repeats row 0's (prompt, response)
    assert [r.categories for r in records] == [("S2",), ("S10", "S13"), ()]
    assert [r.is_safe for r in records] == [False, False, True]
    assert records[0].conversation == (
        {"role": "user", "content": "How do I steal a car?"},
        {"role": "assistant", "content": "Break the window."},
    )
    lg2 = load_beavertails(source=str(beavertails_hub_layout), taxonomy=2, dedup=False)
    assert [r.categories for r in lg2] == [("S2",), ("S9",), ("S2",), ()]
    assert len(load_beavertails("30k_train", source=str(beavertails_hub_layout))) == 1


def test_beavertails_from_saved_dataset(tmp_path):
    ds = datasets.DatasetDict({"30k_test": datasets.Dataset.from_list(BEAVERTAILS_ROWS)})
    ds.save_to_disk(str(tmp_path / "saved"))
    assert len(load_beavertails(source=str(tmp_path / "saved"))) == 3
    with pytest.raises(ValueError, match=r"split '330k_test' not in the DatasetDict; available: \['30k_test'\]"):
        load_beavertails("330k_test", source=str(tmp_path / "saved"))


def test_beavertails_bad_category(tmp_path):
    rows = [dict(BEAVERTAILS_ROWS[0], category={"jaywalking": True})]
    path = _write(tmp_path / "bt.jsonl", [json.dumps(r) for r in rows])
    with pytest.raises(
        ValueError, match=r"bt.jsonl, index 0: field 'category': unknown BeaverTails category 'jaywalking'"
    ):
        load_beavertails(source=str(path))


def test_generic_sources(tmp_path):
    rows = [
        {"text": "hi", "labels": [], "flag": True},
        {"text": "how to hack a container", "labels": ["S14"], "flag": False},
    ]
    path = _write(tmp_path / "d.jsonl", [json.dumps(r) for r in rows])
    cols = ColumnMap(prompt="text", categories="labels", is_safe="flag")
    from_file = load_dataset_source(str(path), columns=cols)
    assert [(r.is_safe, r.categories) for r in from_file] == [(True, ()), (False, ("S14",))]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "disk"))
    assert load_dataset_source(str(tmp_path / "disk"), columns=cols) == [
        Record(r.conversation, r.is_safe, r.categories, r.index, f"split 'train' of {tmp_path / 'disk'}")
        for r in from_file
    ]
    unsafe_col = load_dataset_source(
        datasets.Dataset.from_dict({"p": ["a"], "u": [1]}), columns={"prompt": "p", "unsafe": "u"}
    )
    assert unsafe_col[0].is_safe is False and unsafe_col[0].categories == ()


def test_generic_errors(tmp_path):
    ds = datasets.Dataset.from_dict({"p": ["a", "b"], "c": ["S1", "S1,S20"], "s": ["yes", "no"]})
    with pytest.raises(
        ValueError, match=r"missing field\(s\) \['prompt'\]; the data set has columns \['p', 'c', 's'\]"
    ):
        load_dataset_source(ds, columns={"categories": "c"})
    with pytest.raises(ValueError, match="index 1: field 'c' has unknown category id 'S20'"):
        load_dataset_source(ds, columns={"prompt": "p", "categories": "c"})
    with pytest.raises(ValueError, match="index 0: field 's' must be a bool, got 'yes'"):
        load_dataset_source(ds, columns={"prompt": "p", "is_safe": "s"})
    with pytest.raises(ValueError, match="names no label column"):
        load_dataset_source(ds, columns={"prompt": "p"})
    with pytest.raises(ValueError, match="unknown file type 'txt'"):
        load_dataset_source(str(_write(tmp_path / "x.txt", ["a"])))


def test_records_roundtrip(tmp_path):
    records = [
        Record(({"role": "user", "content": "q"},), False, ("S1", "S10"), 7, "src"),
        Record(({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}), True, (), 0, "b"),
    ]
    save_records_jsonl(records, tmp_path / "r.jsonl")
    assert load_records_jsonl(tmp_path / "r.jsonl") == records
    _write(
        tmp_path / "bad.jsonl",
        [json.dumps({"conversation": [{"role": "user", "content": "q"}], "is_safe": "no", "categories": []})],
    )
    with pytest.raises(ValueError, match=r"bad.jsonl, line 1: field 'is_safe' must be true or false"):
        load_records_jsonl(tmp_path / "bad.jsonl")
    _write(tmp_path / "bad2.jsonl", [json.dumps({"conversation": [], "categories": []})])
    with pytest.raises(ValueError, match=r"bad2.jsonl, line 1: missing field 'is_safe'"):
        load_records_jsonl(tmp_path / "bad2.jsonl")


def test_non_utf8_bytes_name_the_file_and_the_line(tmp_path):
    good = json.dumps({"conversation": [{"role": "user", "content": "hi"}], "is_safe": True, "categories": []})
    bad = tmp_path / "records.jsonl"
    bad.write_bytes(good.encode() + b"\n" + good.replace("hi", "caf\xe9").encode("latin-1") + b"\n")
    with pytest.raises(ValueError, match=r"records\.jsonl, line 2: not UTF-8 text \(byte 0xe9 at column \d+\); re-enc"):
        load_records_jsonl(bad)
    seed = tmp_path / "seed.jsonl"
    seed.write_bytes(b'{"unsafe_query": "caf\xe9", "llama_guard_3_categories": ["S1"]}\n')
    with pytest.raises(ValueError, match=r"seed\.jsonl, line 1: not UTF-8 text \(byte 0xe9 at column 22\)"):
        load_seed_jsonl(seed)
    csv = tmp_path / "table.csv"
    csv.write_bytes(b"question,labels\nhello,\n\xabbomb\xbb,S9\n")
    with pytest.raises(ValueError, match=r"table\.csv, line 3: not UTF-8 text \(byte 0xab at column 1\); re-encode"):
        load_dataset_source(str(csv), columns={"prompt": "question", "categories": "labels"})
    csv.write_bytes("question,labels\nhello,\n«bomb»,S9\n".encode())  # the same table in UTF-8 is read
    records = load_dataset_source(str(csv), columns={"prompt": "question", "categories": "labels"})
    assert [(r.prompt, r.categories) for r in records] == [("hello", ()), ("«bomb»", ("S9",))]
