"""`marginal-generate evaluate` where a new user stumbles (issue #27): contextual calibration of 0/1 scores, a run in
which every sample fails, failed samples on `--resume`, data edited between a run and its resume, and the one
per-sample file of a run. Each runs the real command (`marginal_generate.cli.main`) on the embedded model."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from marginal_generate.calibration import BatchCalibration, ContextualCalibration, TemperatureScaling
from marginal_generate.cli import main
from marginal_generate.default_model import DEFAULT_EVAL_DATA
from marginal_generate.evaluation.report import BC_DEGENERATE, calibrate_columns

QUIET = ["--no-plots", "--no-progress"]
#: What a finished run without plots, soft labels or contextual calibration leaves in its output directory.
RUN_FILES = {"run.json", "scores.jsonl", "failures.jsonl", "metrics.csv", "metrics.json"}


def evaluate(capsys, out, *extra):
    """``(status, stdout, stderr)`` of ``marginal-generate evaluate --output-dir out ...``."""
    status = main(["evaluate", "--output-dir", str(out), *QUIET, *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def small_data(tmp_path, n=6, long=()):
    """A records JSONL of the first ``n`` held-out records; the records at positions ``long`` are too long for the
    model's context (1024 tokens), so they fail whenever they are scored."""
    rows = [json.loads(line) for line in open(DEFAULT_EVAL_DATA).read().splitlines()[:n]]
    for k in long:
        rows[k]["conversation"][0]["content"] = "word " * 1200
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- item 3: contextual calibration of degenerate scores ----------------------------------------------------------


def test_contextual_calibration_is_skipped_where_it_would_divide_by_0_or_1(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--num-samples", "10", "--strategies", "greedy,any_place", "--calibrate", "cc"]
    status, stdout, err = evaluate(capsys, out, *argv)
    assert status == 0, err
    hard = "its scores are 0/1 decisions, which a shift of the logit cannot calibrate"
    assert f"greedy+CC skipped: {hard}; the greedy row stands uncalibrated" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["row"] for r in metrics["rows"]] == ["greedy", "any_place", "any_place+CC"]
    assert metrics["calibrators"]["greedy+CC"] == {"skipped": hard}
    assert [line.split()[0] for line in stdout.splitlines() if line.startswith(("greedy", "any_place"))] == [
        "greedy",
        "any_place",
        "any_place+CC",
    ]

    # content-free scores of 0 on one label (S1, column 1), then on every label: the content-free scores are
    # cached in content_free.json, which a resumed run reads instead of scoring the content-free inputs again
    content_free = json.loads((out / "content_free.json").read_text())
    for row in content_free["any_place"]:
        row[1] = 0.0
    (out / "content_free.json").write_text(json.dumps(content_free))
    status, _, err = evaluate(capsys, out, *argv, "--resume")
    assert status == 0, err
    note = "any_place+CC: S1 left uncalibrated (content-free score 0 or 1, which contextual calibration divides by)"
    assert note in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["calibrators"]["any_place+CC"]["col1"].startswith("not fitted: content-free score 0 or 1")
    assert isinstance(metrics["calibrators"]["any_place+CC"]["col0"], dict)  # the other labels are calibrated

    content_free["any_place"] = [[0.0] * len(row) for row in content_free["any_place"]]
    (out / "content_free.json").write_text(json.dumps(content_free))
    status, _, err = evaluate(capsys, out, *argv, "--resume")
    assert status == 0, err
    assert (
        "any_place+CC skipped: every label has content-free score 0 or 1, which contextual calibration divides by; "
        "the any_place row stands uncalibrated" in err
    )
    assert [r["row"] for r in json.loads((out / "metrics.json").read_text())["rows"]] == ["greedy", "any_place"]


def test_calibrators_refuse_a_mean_score_of_0_or_1():
    with pytest.raises(ValueError, match=r"`content_free_scores` average 0 on label 1; contextual calibration divides"):
        ContextualCalibration().fit_content_free([[0.3, 0.0], [0.5, 0.0]])
    with pytest.raises(ValueError, match=r"`content_free_scores` average 1; contextual calibration divides by that"):
        ContextualCalibration().fit_content_free([1.0, 1.0])
    with pytest.raises(ValueError, match=r"`scores` average 0; batch calibration divides by that mean"):
        BatchCalibration().fit([0.0, 0.0, 0.0, 0.0], [0, 1, 0, 1])
    bc = BatchCalibration().fit([0.2, 0.7, 0.4, 0.9], [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"`scores` average 1; batch calibration \(prior='batch'\) divides by"):
        bc.transform([1.0, 1.0])
    assert TemperatureScaling().fit([0.0, 1.0, 1.0, 0.0], [0, 1, 0, 1]).transform([0.0, 1.0]).tolist() != [0.0, 1.0]


def test_batch_calibration_leaves_a_column_with_mean_score_0_raw():
    val = np.array([[0.2, 0.0], [0.7, 0.0], [0.4, 0.0], [0.9, 0.0]])
    refs = np.array([[0, 0], [1, 1], [0, 0], [1, 1]])
    test = np.array([[0.3, 0.0], [0.8, 0.0]])
    calibrated, fitted = calibrate_columns("bc", val, refs, test, content_free=None)
    assert fitted["col1"] == f"not fitted: {BC_DEGENERATE}" and set(fitted["col0"]) == {"gamma_", "prior_"}
    assert calibrated[:, 1].tolist() == [0.0, 0.0]


# -- item 4: every sample failing; failed samples on --resume -------------------------------------------------------


def test_a_run_in_which_every_sample_fails_exits_2_with_one_line_and_keeps_its_files(tmp_path, capsys):
    data = small_data(tmp_path, n=5, long=range(5))
    out = tmp_path / "run"
    status, stdout, err = evaluate(capsys, out, "--dataset", str(data), "--strategies", "greedy")
    assert status == 2 and stdout == ""
    errors = [line for line in err.splitlines() if line.startswith("marginal-generate: error:")]
    assert len(errors) == 1 and not [line for line in err.splitlines() if line.startswith("failed:")]
    assert re.search(
        r"error: all 5 samples failed, so there is nothing to measure; the first \(sample 0, record index \d+\): "
        r"ValueError: prompt is \d+ tokens; .* exceeds the model's context of 1024 tokens .*\. Fix that and rerun: "
        r"--resume scores the failed samples again if the options are unchanged, --overwrite starts afresh "
        r"\(every failure is in .*failures\.jsonl\)\.$",
        errors[0],
    ), errors[0]
    assert {p.name for p in out.iterdir()} == {"run.json", "scores.jsonl", "failures.jsonl"}
    assert [r["sample"] for r in lines(out / "scores.jsonl") if "error" in r] == [0, 1, 2, 3, 4]
    assert len(lines(out / "failures.jsonl")) == 5


def test_resume_scores_failed_samples_again_and_replaces_their_failures(tmp_path, capsys):
    data = small_data(tmp_path, n=6, long=[4])
    out = tmp_path / "run"
    argv = ["--dataset", str(data), "--strategies", "greedy,any_place", "--batch-size", "2"]
    status, _, err = evaluate(capsys, out, *argv)
    assert status == 0, err
    assert re.search(r"failed: sample 4 \(index \d+\): ValueError: prompt is \d+ tokens", err)
    finished = (out / "scores.jsonl").read_text().splitlines()
    metrics_csv = (out / "metrics.csv").read_text()

    # as if sample 1 had failed for a passing reason (the GPU ran out of memory): its line is a failure record
    first_try = json.loads(finished[1])
    failed = {k: first_try[k] for k in ("sample", "index", "split", "unsafe", "categories", "record_digest")}
    (out / "scores.jsonl").write_text(
        "\n".join([finished[0], json.dumps(dict(failed, error="RuntimeError: CUDA out of memory")), *finished[2:]])
        + "\n"
    )
    status, stdout, err = evaluate(capsys, out, *argv, "--resume")
    assert status == 0, err
    assert "resume: 4 sample(s) already done, 2 to score (2 of them failed before and are scored again)" in err
    assert "done: 6 samples (2 scored now, 4 from an earlier run; 1 of them failed)" in stdout
    again = (out / "scores.jsonl").read_text().splitlines()
    assert again[1] == finished[1]  # scored again in its batch: the same numbers as the first try
    assert [json.loads(line)["sample"] for line in again] == list(range(6))  # one line per sample
    assert [f["sample"] for f in lines(out / "failures.jsonl")] == [4]  # the long one failed again, recorded once
    assert (out / "metrics.csv").read_text() == metrics_csv
    assert {p.name for p in out.iterdir()} == RUN_FILES  # item 10: the journals are merged into scores.jsonl


# -- item 5: the data changed between a run and its --resume --------------------------------------------------------


def test_resume_after_the_data_was_edited_is_refused_and_keeps_the_run(tmp_path, capsys):
    data = small_data(tmp_path, n=6)
    out = tmp_path / "run"
    argv = ["--dataset", str(data), "--strategies", "greedy"]
    status, _, err = evaluate(capsys, out, *argv)
    assert status == 0, err
    assert json.loads((out / "run.json").read_text())["data"]["samples"] == 6
    kept = {name: (out / name).read_bytes() for name in RUN_FILES}

    rows = data.read_text().splitlines()
    edited = json.loads(rows[2])
    edited["conversation"][0]["content"] += " (edited)"
    data.write_text("\n".join([*rows[:2], json.dumps(edited), *rows[3:]]) + "\n")
    status, stdout, err = evaluate(capsys, out, *argv, "--resume")
    assert status == 2 and stdout == ""
    assert re.search(
        r"^marginal-generate: error: `--resume`: the data changed since the run in .*run was started \(1 of the 6 "
        r"sample\(s\) scored there now hold another record or split \(the first: sample 2, record index \d+\)\), so "
        r"its scores would be paired with stale labels; pass --overwrite to score it afresh, or another "
        r"--output-dir\.$",
        err.strip().splitlines()[-1],
    ), err
    assert {name: (out / name).read_bytes() for name in RUN_FILES} == kept  # nothing written

    # a run killed after 3 samples, then a record it had not scored yet edited; then a record added
    (out / "scores.jsonl").write_text("".join(kept["scores.jsonl"].decode().splitlines(keepends=True)[:3]))
    data.write_text("\n".join(rows[:5] + [rows[5].replace('"content": "', '"content": "Edited: ', 1)]) + "\n")
    status, _, err = evaluate(capsys, out, *argv, "--resume")
    assert status == 2 and "(the records not yet scored changed)" in err
    data.write_text("\n".join([*rows, rows[0]]) + "\n")
    status, _, err = evaluate(capsys, out, *argv, "--resume")
    assert status == 2 and "it had 6 samples, the data now gives 7" in err
    status, _, err = evaluate(capsys, out, *argv, "--overwrite")
    assert status == 0, err
    assert len(lines(out / "scores.jsonl")) == 7


# -- item 10: one per-sample file -----------------------------------------------------------------------------------


def test_a_finished_run_has_one_per_sample_file_in_sample_order(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, err = evaluate(capsys, out, "--num-samples", "5", "--strategies", "greedy")
    assert status == 0, err
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert f"written to {out}: {', '.join(sorted(RUN_FILES))}" in stdout
    scores = lines(out / "scores.jsonl")
    assert [r["sample"] for r in scores] == list(range(5))
    assert all(set(r["scores"]) == {"greedy"} and len(r["record_digest"]) == 16 for r in scores)
