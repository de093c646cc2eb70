"""Rater-level annotations aggregated into soft labels: GoEmotions' raw schema, a guard schema, JSONL, errors."""

from __future__ import annotations

import json

import datasets
import pytest

from marginal_generate.data import (
    GO_EMOTIONS,
    GO_EMOTIONS_LABELS,
    Record,
    SoftLabels,
    load_go_emotions,
    load_rater_annotations,
    load_records_jsonl,
    save_records_jsonl,
)

META = ("author", "subreddit", "link_id", "parent_id", "created_utc")


def go_emotions_rows(rows):
    """Rows in GoEmotions' raw schema from (id, text, rater, unclear, emotions chosen)."""
    out = {c: [] for c in ("text", "id", *META, "rater_id", "example_very_unclear", *GO_EMOTIONS_LABELS)}
    for item, text, rater, unclear, chosen in rows:
        out["text"].append(text)
        out["id"].append(item)
        for c in META:
            out[c].append(1.5e9 if c == "created_utc" else f"{c}-{item}")
        out["rater_id"].append(rater)
        out["example_very_unclear"].append(unclear)
        for label in GO_EMOTIONS_LABELS:
            out[label].append(int(label in chosen))
    return out


# items interleaved: e1 (3 raters + 1 unclear), e2 (2 raters), e3 (every rater unclear), e4 (2 raters, one marks)
RAW = go_emotions_rows([
    ("e1", "I love this!", 1, False, {"joy", "love"}),
    ("e2", "ok.", 1, False, {"neutral"}),
    ("e1", "I love this!", 2, False, {"joy"}),
    ("e3", "???", 1, True, set()),
    ("e1", "I love this!", 3, False, {"neutral"}),
    ("e1", "I love this!", 4, True, {"anger"}),
    ("e2", "ok.", 2, False, {"neutral"}),
    ("e3", "???", 2, True, set()),
    ("e4", "meh", 1, False, {"annoyance"}),
    ("e4", "meh", 3, False, set()),
])  # fmt: skip


def expected_go_emotions(source):
    soft = {
        "e1": {"joy": 2 / 3, "love": 1 / 3, "neutral": 1 / 3},
        "e2": {"neutral": 1.0},
        "e4": {"annoyance": 0.5},
    }
    full = {k: {label: v.get(label, 0.0) for label in GO_EMOTIONS_LABELS} for k, v in soft.items()}

    def conv(text):
        return ({"role": "user", "content": text},)

    return [
        Record(conv("I love this!"), False, ("joy",), 0, source, full["e1"]),
        Record(conv("ok."), False, ("neutral",), 1, source, full["e2"]),
        Record(conv("meh"), False, ("annoyance",), 8, source, full["e4"]),  # 1 of 2 raters: at least half
    ]


@pytest.fixture(scope="module")
def raw_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("go_emotions")
    ds = datasets.Dataset.from_dict(RAW)
    ds.save_to_disk(str(root / "disk"))
    ds.to_parquet(str(root / "raw.parquet"))
    ds.to_csv(str(root / "raw.csv"), index=False)
    return {
        "dataset": ds,
        "disk": str(root / "disk"),
        "parquet": str(root / "raw.parquet"),
        "csv": str(root / "raw.csv"),
    }


@pytest.mark.parametrize(
    "kind, source", [("dataset", "split 'train'"), ("disk", "split 'train' of {}"), ("parquet", "{}"), ("csv", "{}")]
)
def test_go_emotions_soft_labels(raw_sources, kind, source):
    records = load_go_emotions(source=raw_sources[kind])
    assert records == expected_go_emotions(source.format(raw_sources[kind]))
    first = records[0]
    assert list(first.soft_labels) == list(GO_EMOTIONS_LABELS)  # the order of the label columns
    assert (
        round(first.soft_labels["joy"], 4) == 0.6667 and first.soft_labels["anger"] == 0.0
    )  # the unclear rater is left out
    assert "???" not in [r.prompt for r in records]  # every rater marked it very unclear: dropped


def test_go_emotions_reads_the_raw_configuration_from_the_hub(monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        return datasets.Dataset.from_dict(RAW)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    records = load_go_emotions()
    assert calls == [(GO_EMOTIONS, "raw", {"split": "train", "data_files": None})]
    assert records == expected_go_emotions(f"split 'train' of {GO_EMOTIONS}")


def test_rows_without_item_or_rater_columns():
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "a"], "joy": [1, 0, 0]})
    records = load_rater_annotations(ds, label_columns=["joy"], item_column=None, rater_column=None)
    assert [(r.prompt, dict(r.soft_labels), r.index) for r in records] == [
        ("a", {"joy": 0.5}, 0),
        ("b", {"joy": 0.0}, 1),
    ]
    assert [r.is_safe for r in records] == [False, True]  # no label chosen by at least half: "safe" (no category)


# ----------------------------------------------------------------------------- a guard schema


GUARD = {
    "item": ["g1", "g1", "g2", "g1", "g3", "g2", "g3", "g1", "g2", "g3"],
    "annotator": ["a", "b", "a", "c", "a", "b", "b", "d", "c", "c"],
    "prompt": ["p1", "p1", "p2", "p1", "p3", "p2", "p3", "p1", "p2", "p3"],
    "reply": ["r1", "r1", "r2", "r1", "r3", "r2", "r3", "r1", "r2", "r3"],
    "violence": [1, 0, 0, 0, 1, 0, 0, 0, 0, 0],
    "violent_threat": [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    "hate": [0, 1, 0, 0, 0, 1, 1, 1, 0, 0],
    "weapons": [False, False, False, False, False, False, False, False, False, True],
}
GUARD_COLUMNS = {"violence": "S1", "violent_threat": "S1", "hate": "S10", "weapons": "S9"}


def test_guard_schema_mapped_to_llama_guard_ids():
    records = load_rater_annotations(
        datasets.Dataset.from_dict(GUARD), label_columns=GUARD_COLUMNS, text_column="prompt", response_column="reply",
        item_column="item", rater_column="annotator", taxonomy=3,
    )  # fmt: skip
    g1, g2, g3 = records
    # g1: a violence, b violent_threat + hate, c nothing, d hate -> S1 2/4, S10 2/4, unsafe (any category) 3/4
    assert dict(g1.soft_labels) == {"unsafe": 0.75, "S1": 0.5, "S9": 0.0, "S10": 0.5}
    assert list(g1.soft_labels) == ["unsafe", "S1", "S9", "S10"]
    assert (g1.is_safe, g1.categories, g1.index, g1.response) == (False, ("S1", "S10"), 0, "r1")
    # g2: 1 of 3 raters -> safe by majority, no category
    assert (dict(g2.soft_labels), g2.is_safe, g2.categories) == (
        {"unsafe": 1 / 3, "S1": 0.0, "S9": 0.0, "S10": 1 / 3},
        True,
        (),
    )
    # g3: every rater says unsafe, each a different category -> unsafe, no category at half
    assert (g3.soft_labels["unsafe"], g3.soft_labels["S9"], g3.is_safe, g3.categories) == (1.0, 1 / 3, False, ())


def test_guard_schema_with_an_unsafe_column():
    ds = datasets.Dataset.from_dict(
        {"id": ["x", "x"], "text": ["t", "t"], "rater_id": [1, 2], "flag": [1, 0], "hate": [1, 1]}
    )
    (record,) = load_rater_annotations(ds, label_columns={"flag": "unsafe", "hate": "S10"}, taxonomy=3)
    assert dict(record.soft_labels) == {"unsafe": 0.5, "S10": 1.0}  # the column, not "any category"
    assert (record.is_safe, record.categories) == (False, ("S10",))
    ds = ds.map(lambda row: {"flag": 0})
    (record,) = load_rater_annotations(ds, label_columns={"flag": "unsafe", "hate": "S10"}, taxonomy=3)
    assert (record.is_safe, record.categories) == (True, ())  # the unsafe label decides


# ----------------------------------------------------------------------------- JSONL


def test_jsonl_round_trip(tmp_path):
    guard = load_rater_annotations(
        datasets.Dataset.from_dict(GUARD), label_columns=GUARD_COLUMNS, text_column="prompt", response_column="reply",
        item_column="item", rater_column="annotator", taxonomy=3,
    )  # fmt: skip
    plain = Record(({"role": "user", "content": "hi"},), True)
    save_records_jsonl([*guard, plain], tmp_path / "guard.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "guard.jsonl").read_text().splitlines()]
    assert (
        lines[0]["soft_labels"] == {"unsafe": 0.75, "S1": 0.5, "S9": 0.0, "S10": 0.5} and "soft_labels" not in lines[-1]
    )
    assert load_records_jsonl(tmp_path / "guard.jsonl") == [*guard, plain]
    emotions = load_go_emotions(source=datasets.Dataset.from_dict(RAW))
    save_records_jsonl(emotions, tmp_path / "emotions.jsonl")
    loaded = load_records_jsonl(tmp_path / "emotions.jsonl", taxonomy=None)
    assert loaded == emotions and isinstance(loaded[0].soft_labels, SoftLabels)
    assert list(loaded[0].soft_labels) == list(GO_EMOTIONS_LABELS)


@pytest.mark.parametrize(
    "soft, message",
    [
        ('"S1"', r"bad.jsonl, line 1: field 'soft_labels' must be an object of label → fraction of raters, got 'S1'"),
        (
            '{"S1": 1.5}',
            r"bad.jsonl, line 1: field 'soft_labels': soft label 'S1' must be a probability in \[0, 1\], got 1.5",
        ),
        (
            '{"S1": true}',
            r"bad.jsonl, line 1: field 'soft_labels': soft label 'S1' must be a probability in \[0, 1\], got True",
        ),
        (
            '{"S15": 0.5}',
            r"bad.jsonl, line 1: field 'soft_labels' has unknown category id 'S15'; expected Llama Guard 3 ids S1–S14",
        ),
    ],
)
def test_jsonl_bad_soft_labels(tmp_path, soft, message):
    (tmp_path / "bad.jsonl").write_text(
        '{"conversation": [{"role": "user", "content": "q"}], "is_safe": false, "categories": ["S1"], "soft_labels": '
        + soft
        + "}\n"
    )
    with pytest.raises(ValueError, match=message):
        load_records_jsonl(tmp_path / "bad.jsonl")


# ----------------------------------------------------------------------------- errors


def bad(column, k, value):
    rows = {c: list(v) for c, v in RAW.items()}
    rows[column][k] = value
    return datasets.Dataset.from_dict(rows)


@pytest.mark.parametrize(
    "source, kwargs, message",
    [
        (
            datasets.Dataset.from_dict(RAW).remove_columns("rater_id"),
            {},
            r"split 'train': missing field\(s\) \['rater_id'\]; "
            r"the data set has columns \['text', 'id'",
        ),
        (bad("joy", 4, 2), {}, r"split 'train', index 4: field 'joy' must be 0 or 1 \(or a bool\), got 2"),
        (
            bad("example_very_unclear", 0, None),
            {},
            r"split 'train', index 0: field 'example_very_unclear' "
            r"must be 0 or 1 \(or a bool\), got None",
        ),
        (
            bad("rater_id", 2, 1),
            {},
            r"split 'train', index 2: field 'rater_id': rater 1 already "
            r"annotated item 'e1' at index 0; keep one row per \(item, rater\)",
        ),
        (
            bad("text", 2, "I hate this!"),
            {},
            r"split 'train', index 2: field 'text' differs "
            r"from index 0, which has the same 'id' 'e1'",
        ),
        (bad("text", 1, " "), {}, r"split 'train', index 1: field 'text' must be a non-empty string, got ' '"),
        (
            RAW,
            {"label_columns": "joy"},
            r"`label_columns` must be a list of column names "
            r"or a mapping column → label id, got 'joy'",
        ),
        (RAW, {"label_columns": []}, r"`label_columns` is empty; name at least one 0/1 label column"),
        (
            RAW,
            {"label_columns": {"joy": ""}},
            r"`label_columns` must map column names "
            r"to non-empty label ids, got 'joy' → ''",
        ),
        (
            RAW,
            {"label_columns": {"joy": "S15"}, "taxonomy": 3},
            r"`label_columns` maps column 'joy' to 'S15', which is "
            r"neither a Llama Guard 3 id \(S1–S14\) nor 'unsafe'",
        ),
        (RAW, {"label_columns": ["joy"], "taxonomy": 4}, r"`taxonomy` must be 2 or 3"),
    ],
)  # fmt: skip
def test_errors(source, kwargs, message):
    if isinstance(source, dict):
        source = datasets.Dataset.from_dict(source)
    with pytest.raises(ValueError, match=message):
        load_go_emotions(source=source, **kwargs)


def test_error_names_the_file(raw_sources):
    with pytest.raises(ValueError, match=r"raw.csv: missing field\(s\) \['rating'\]"):
        load_go_emotions(source=raw_sources["csv"], rater_column="rating")


def test_soft_labels_type():
    with pytest.raises(ValueError, match=r"soft label names must be non-empty strings, got 3"):
        SoftLabels({3: 0.5})
    with pytest.raises(ValueError, match=r"soft label 'joy' must be a probability in \[0, 1\], got nan"):
        Record(({"role": "user", "content": "q"},), True, soft_labels={"joy": float("nan")})
    soft = SoftLabels({"a": 0.25, "b": 1})
    assert (
        soft == {"b": 1.0, "a": 0.25}
        and hash(soft) == hash(SoftLabels({"b": 1.0, "a": 0.25}))
        and soft.get("c") is None
    )
    with pytest.raises(TypeError):
        soft["a"] = 0.5  # immutable
