"""`marginal-generate evaluate` with soft references: the alignment table and JSON, Platt scaling."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import numpy as np
import pytest

from marginal_generate.calibration import PlattScaling
from marginal_generate.calibration.alignment import distribution_alignment
from marginal_generate.cli import main
from marginal_generate.data import load_records_jsonl, save_records_jsonl
from marginal_generate.default_model import DEFAULT_EVAL_DATA
from marginal_generate.evaluation.report import alignment_row, calibrate_columns
from marginal_generate.labels.taxonomy import get_taxonomy

LABELS = ["unsafe", *get_taxonomy(3).ids]
FAST = ["--no-plots", "--no-progress", "--batch-size", "8", "--strategies", "greedy,first_token"]


def soft_labels(record, k):
    """Made-up rater fractions that agree with the record's 0/1 labels by majority."""
    soft = {"unsafe": 0.25 * (k % 2) if record.is_safe else 0.6 + 0.1 * (k % 4)}
    for c in LABELS[1:]:
        soft[c] = 0.5 + 0.25 * (k % 3) if c in record.categories else 0.1 * (k % 3)
    return soft


@pytest.fixture(scope="module")
def soft_data(tmp_path_factory):
    records = load_records_jsonl(DEFAULT_EVAL_DATA)
    chosen = [r for r in records if not r.is_safe][:8] + [r for r in records if r.is_safe][:6]
    path = tmp_path_factory.mktemp("data") / "soft.jsonl"
    save_records_jsonl([dataclasses.replace(r, soft_labels=soft_labels(r, k)) for k, r in enumerate(chosen)], path)
    return path


@pytest.fixture(scope="module")
def soft_run(soft_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("soft_run")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        status = main(["evaluate", "--dataset", str(soft_data), "--output-dir", str(out), "--calibrate", "platt,ts",
                       "--validation-fraction", "0.4", *FAST])  # fmt: skip
    assert status == 0
    return out, stdout.getvalue()


def test_alignment_json_equals_recomputation_from_scores(soft_run):
    out, _ = soft_run
    alignment = json.loads((out / "alignment.json").read_text())
    rows = {r["row"]: r for r in alignment["rows"]}
    assert list(rows) == ["greedy", "greedy+Platt", "greedy+TS", "first_token", "first_token+Platt", "first_token+TS"]
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    test = [s for s in scores if s["split"] == "test"]
    assert len(test) == rows["greedy"]["n_samples"] > 0
    soft = np.array([[s["soft_labels"][label] for label in LABELS] for s in test])
    for name, columns in (("greedy", LABELS), ("first_token", ["unsafe"])):
        probs = np.array([[np.nan if v is None else v for v in s["scores"][name]] for s in test])
        keep = [LABELS.index(c) for c in columns]
        expected = distribution_alignment(probs[:, keep], soft[:, keep], labels=columns)
        row = rows[name]
        assert row["labels"] == columns
        for key in ("l1", "nll", "brier", "jsd", "n_samples"):
            assert row[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15), (name, key)
        assert list(row["per_label"]) == columns
        for label, values in expected["per_label"].items():
            assert row["per_label"][label] == pytest.approx(values, rel=1e-12, abs=1e-15)
    assert rows["first_token"]["left_out"] == LABELS[1:]  # first_token gives NaN for the categories
    assert rows["greedy"]["left_out"] == []


def test_platt_is_fitted_on_the_soft_references(soft_run):
    out, stdout = soft_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["row"] for r in metrics["rows"]][:3] == ["greedy", "greedy+Platt", "greedy+TS"]
    platt = metrics["calibrators"]["greedy+Platt"]
    fitted = [v for v in platt.values() if isinstance(v, dict)]
    assert fitted and all(v["references"] == "soft" for v in fitted)
    assert platt["col1"]["uses_none_scores_"] is True and platt["col0"]["uses_none_scores_"] is False
    assert metrics["alignment"]["rows"][1]["row"] == "greedy+Platt"
    # the second table, printed after the first
    lines = stdout.splitlines()
    start = lines.index("alignment with soft references (macro over labels; lower is better)")
    assert lines[start + 1].split() == ["strategy", "L1", "NLL", "Brier", "JSD", "labels", "samples"]
    assert [line.split()[0] for line in lines[start + 3 : start + 9]] == [
        "greedy",
        "greedy+Platt",
        "greedy+TS",
        "first_token",
        "first_token+Platt",
        "first_token+TS",
    ]
    assert lines[start + 3].split()[-2] == "15" and lines[start + 6].split()[-2] == "1"
    assert "alignment.json" in stdout


def test_without_soft_labels_there_is_no_alignment_output(tmp_path, capsys):
    status = main(
        ["evaluate", "--output-dir", str(tmp_path), "--num-samples", "10", "--calibrate", "platt", *FAST[:-1], "greedy"]
    )
    assert status == 0
    stdout = capsys.readouterr().out
    assert "alignment" not in stdout
    assert not (tmp_path / "alignment.json").exists()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "alignment" not in metrics and [r["row"] for r in metrics["rows"]] == ["greedy", "greedy+Platt"]
    fitted = [v for v in metrics["calibrators"]["greedy+Platt"].values() if isinstance(v, dict)]
    assert fitted and all(v["references"] == "0/1" for v in fitted)
    assert "soft_labels" not in (tmp_path / "scores.jsonl").read_text()


# ----------------------------------------------------------------------------- without a model


def test_alignment_row_leaves_out_nan_columns_and_unannotated_samples():
    probs = np.array([[0.9, np.nan, 0.2], [0.2, np.nan, 0.4], [0.5, np.nan, 0.5]])
    soft = np.array([[1.0, 0.5, np.nan], [0.5, 0.5, 0.0], [np.nan, np.nan, np.nan]])  # sample 2 has none
    row = alignment_row(probs, soft, ["unsafe", "S1", "S2"])
    assert (row["labels"], row["left_out"], row["n_samples"]) == (["unsafe"], ["S1", "S2"], 2)
    assert row["l1"] == pytest.approx((0.1 + 0.3) / 2) and row["brier"] == pytest.approx((0.01 + 0.09) / 2)
    empty = alignment_row(probs[:, 1:2], soft[:, 1:2], ["S1"])
    assert (empty["l1"], empty["labels"], empty["left_out"], empty["per_label"]) == (None, [], ["S1"], {})


def test_calibrate_platt_uses_label_minus_none():
    rng = np.random.default_rng(0)
    val, test = rng.uniform(0.05, 0.95, (20, 3)), rng.uniform(0.05, 0.95, (6, 3))
    val_refs = (val > 0.5).astype(np.int64)
    val_soft = np.clip(val + rng.normal(0, 0.1, val.shape), 0, 1)
    val_soft[3, 2] = np.nan  # one validation sample without a soft label for column 2: its 0/1 references are used
    out, params = calibrate_columns("platt", val, val_refs, test, None, val_soft)
    unsafe = PlattScaling().fit(val[:, 0], val_soft[:, 0])
    s1 = PlattScaling().fit(val[:, 1], val_soft[:, 1], none_scores=1 - val[:, 0])
    s2 = PlattScaling().fit(val[:, 2], val_refs[:, 2], none_scores=1 - val[:, 0])
    np.testing.assert_allclose(out[:, 0], unsafe.transform(test[:, 0]))
    np.testing.assert_allclose(out[:, 1], s1.transform(test[:, 1], none_scores=1 - test[:, 0]))
    np.testing.assert_allclose(out[:, 2], s2.transform(test[:, 2], none_scores=1 - test[:, 0]))
    assert [params[f"col{j}"]["references"] for j in range(3)] == ["soft", "soft", "0/1"]
    val_refs[:, 1] = 0
    val_soft[:, 1] = 0.0
    out, params = calibrate_columns("platt", val, val_refs, test, None, val_soft)
    assert params["col1"] == "not fitted: one class in validation" and np.array_equal(out[:, 1], test[:, 1])
