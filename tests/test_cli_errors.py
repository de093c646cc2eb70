"""`marginal-generate evaluate` as a new user meets it, run as the real command in a subprocess: every usage
error one line with exit 2 and no traceback, nothing overwritten by accident, counts that agree."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from marginal_generate.default_model import DEFAULT_EVAL_DATA, DEFAULT_MODEL

TINY = ["--num-samples", "4", "--strategies", "greedy", "--no-plots", "--no-progress"]
ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def cli(*args, env=None, cwd=None):
    """The command ``python -m marginal_generate.cli evaluate ...`` (this checkout's package), offline."""
    command = [sys.executable, "-m", "marginal_generate.cli", "evaluate", *map(str, args)]
    pythonpath = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.environ.get("PYTHONPATH", "")]
    )
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **ENV, "PYTHONPATH": pythonpath, **(env or {})},
    )


def assert_usage_error(proc, pattern):
    """Exit 2, one `marginal-generate: error:` line matching ``pattern``, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("marginal-generate: error:")]
    assert len(errors) == 1, proc.stderr
    assert re.search(pattern, errors[0]), errors[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run (its stdout and stderr, and the directory)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = cli("--output-dir", out, "--num-samples", "6", "--strategies", "greedy", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def _jsonl_lines(n):
    with open(DEFAULT_EVAL_DATA) as f:
        return [next(f) for _ in range(n)]


# -- the data source --------------------------------------------------------------------------------


def test_missing_empty_and_csv_datasets_each_say_what_is_wrong(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    csv = tmp_path / "data.csv"
    csv.write_text("question,labels\nhow do I bake bread?,\n")
    out = tmp_path / "out"
    assert_usage_error(
        cli("--dataset", tmp_path / "missing.jsonl", "--output-dir", out, *TINY), r"missing\.jsonl does not exist"
    )
    assert_usage_error(cli("--dataset", empty, "--output-dir", out, *TINY), r"empty\.jsonl is empty")
    assert_usage_error(
        cli("--dataset", csv, "--output-dir", out, *TINY),
        r"data\.csv is a CSV file; say which columns hold what with --columns",
    )


def test_split_on_a_jsonl_file_is_an_error(tmp_path):
    data = tmp_path / "records.jsonl"
    data.write_text("".join(_jsonl_lines(4)))
    assert_usage_error(
        cli("--dataset", data, "--split", "test", "--output-dir", tmp_path / "out", *TINY),
        r"`--split` 'test' picks a split of a datasets source .* is a single file, so drop --split",
    )


def test_a_csv_with_columns_is_read_through_datasets(tmp_path):
    import csv as csv_module

    rows = [json.loads(line) for line in open(DEFAULT_EVAL_DATA)]
    unsafe = [r for r in rows if not r["is_safe"]][:3]
    safe = [r for r in rows if r["is_safe"]][:3]
    csv = tmp_path / "data.csv"
    with open(csv, "w", newline="") as f:
        writer = csv_module.writer(f)
        writer.writerow(["question", "labels"])
        writer.writerows([r["conversation"][0]["content"], ",".join(r["categories"])] for r in unsafe + safe)
    proc = cli(
        "--dataset",
        csv,
        "--columns",
        "prompt=question,categories=labels",
        "--output-dir",
        tmp_path / "out",
        "--strategies",
        "greedy",
        "--no-plots",
        "--no-progress",
        "--validation-fraction",
        "0.4",
    )
    assert proc.returncode == 0, proc.stderr
    assert "6 records read; 6 samples (4 test, 2 validation)" in proc.stderr


def test_malformed_line_says_at_column_once(tmp_path):
    data = tmp_path / "records.jsonl"
    data.write_text("".join(_jsonl_lines(5)) + '{"conversation": "unterminated\n')
    proc = cli("--dataset", data, "--output-dir", tmp_path / "out", *TINY)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"line 6: not valid JSON \(Invalid control character at column \d+\)", proc.stderr), proc.stderr
    assert "at at" not in proc.stderr


# -- the model, the device, the output directory ----------------------------------------------------


def test_model_path_that_does_not_exist(tmp_path):
    assert_usage_error(
        cli("--model", tmp_path / "no-such-model", "--output-dir", tmp_path / "out", *TINY),
        r"model path '.*no-such-model' does not exist; pass a folder holding config\.json",
    )


def test_hub_id_while_offline_is_one_line(tmp_path):
    proc = cli(
        "--model",
        "example-org/not-cached-guard",
        "--output-dir",
        tmp_path / "out",
        *TINY,
        env={"HF_HOME": str(tmp_path / "hf")},
    )
    assert_usage_error(
        proc, r"offline \(HF_HUB_OFFLINE is set\): the model 'example-org/not-cached-guard' is not in the local cache"
    )


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(tmp_path):
    assert_usage_error(
        cli("--device", "cuda", "--output-dir", tmp_path / "out", *TINY), r"device 'cuda': no CUDA GPU is visible"
    )


def test_output_dir_that_is_a_file_or_cannot_be_written(tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me\n")
    assert_usage_error(cli("--output-dir", a_file, *TINY), r"`--output-dir` .*results\.txt is a file; pass a directory")
    assert_usage_error(
        cli("--output-dir", a_file / "sub", *TINY),
        r"`--output-dir` .*results\.txt/sub cannot be written \(Not a directory\)",
    )
    assert a_file.read_text() == "keep me\n"


# -- an earlier run ---------------------------------------------------------------------------------


def test_second_run_without_resume_is_refused_and_overwrite_replaces(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    before = (out / "scores.jsonl").read_text()
    assert_usage_error(
        cli("--output-dir", out, *TINY),
        r"holds a finished run \(metrics\.json, 6 samples scored\); pass "
        r"--resume to continue it, --overwrite to replace it",
    )
    assert (out / "scores.jsonl").read_text() == before
    assert_usage_error(cli("--output-dir", out, "--resume", "--overwrite", *TINY), r"pass one of them")
    replaced = cli("--output-dir", out, "--overwrite", *TINY)
    assert replaced.returncode == 0, replaced.stderr
    assert len((out / "scores.jsonl").read_text().splitlines()) == 4


def test_resume_names_only_the_keys_that_differ(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    params = tmp_path / "params.yaml"
    params.write_text("strategies:\n  greedy:\n    threshold: 0.4\n")
    proc = cli(
        "--output-dir",
        out,
        "--resume",
        "--num-samples",
        "6",
        "--strategies",
        "greedy",
        "--no-progress",
        "--params",
        params,
        "--seed",
        "3",
    )
    assert_usage_error(
        proc,
        r"holds a run with other settings \(params\.greedy\.threshold: 0\.5 → "
        r"0\.4, seed: 0 → 3\); resume with the same options",
    )


def test_resume_counts_agree_and_the_embedded_model_path_is_the_default(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    part = out / "scores.jsonl"
    part.write_text("".join(part.read_text().splitlines(keepends=True)[:4]))  # as if killed after 4 samples
    proc = cli(
        "--output-dir",
        out,
        "--resume",
        "--num-samples",
        "6",
        "--strategies",
        "greedy",
        "--no-progress",
        "--model",
        DEFAULT_MODEL + "/",
    )
    assert proc.returncode == 0, proc.stderr
    assert "resume: 4 sample(s) already done, 2 to score" in proc.stderr
    assert "done: 6 samples (2 scored now, 4 from an earlier run; 0 of them failed)" in proc.stdout
    assert (out / "metrics.csv").read_text() == (finished[0] / "metrics.csv").read_text()


def test_written_to_lists_every_file(finished):
    out, proc = finished
    line = next(line for line in proc.stdout.splitlines() if line.startswith("written to"))
    listed = line.split(": ", 1)[1].split(", ")
    on_disk = sorted(p.name for p in out.iterdir() if p.is_file())
    pngs = len(list((out / "plots").glob("*.png")))
    assert listed == [*on_disk, f"plots/*.png ({pngs})"] and pngs == 2
    assert {"run.json", "scores.jsonl", "metrics.json", "metrics.csv", "failures.jsonl"} <= set(on_disk)
    assert not [name for name in on_disk if name.startswith("samples.rank")]  # the journal is merged into scores.jsonl


# -- the taxonomy, matplotlib --------------------------------------------------------------------------


def test_taxonomy_2_on_llama_guard_3_data_is_one_summary_line(tmp_path):
    from marginal_generate import load_records_jsonl

    records = load_records_jsonl(DEFAULT_EVAL_DATA)
    outside = sum(any(c in ("S12", "S13", "S14") for c in r.categories) for r in records)
    assert outside > 0
    proc = cli(
        "--taxonomy",
        "2",
        "--output-dir",
        tmp_path / "out",
        "--num-samples",
        "8",
        "--strategies",
        "greedy",
        "--no-plots",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    summary = (
        f"{outside} records have ids outside Llama Guard 2 (S12, S13, S14); map them to Llama Guard 2 ids or use "
        "--taxonomy 3"
    )
    assert proc.stderr.count(summary) == 1
    assert "unknown category id" not in proc.stderr  # not one line per record
    assert (
        f"{len(records)} records read, {outside} skipped; 8 samples (6 test, 2 validation); taxonomy Llama Guard 2"
        in proc.stderr
    )
    assert "categories (S1–S11, Llama Guard 2)" in proc.stdout
    assert (
        f"done: 8 samples (8 scored now, 0 from an earlier run; 0 of them failed; {outside} record(s) of the data "
        "skipped)" in proc.stdout
    )
    counts = json.loads((tmp_path / "out" / "metrics.json").read_text())["samples"]
    assert (
        counts["test"] + counts["validation"] + counts["failed"] == counts["total"] == 8
        and counts["skipped_records"] == outside
    )


def test_without_matplotlib_the_note_follows_the_progress_bar_and_no_plots_dir(tmp_path):
    blocker = tmp_path / "no_matplotlib"
    (blocker / "matplotlib").mkdir(parents=True)
    (blocker / "matplotlib" / "__init__.py").write_text("raise ImportError('matplotlib is hidden by the test')\n")
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "marginal_generate.cli",
        "evaluate",
        "--output-dir",
        str(out),
        "--num-samples",
        "4",
        "--strategies",
        "greedy",
    ]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ENV, "PYTHONPATH": os.pathsep.join([str(blocker), root])},
    )
    assert proc.returncode == 0, proc.stderr
    note = "note: matplotlib is not installed, so no reliability diagrams (pip install matplotlib)"
    assert proc.stderr.count(note) == 1
    assert proc.stderr.rindex("strategies: 100%") < proc.stderr.index(note)
    assert proc.stderr.splitlines()[-1] == note
    assert not (out / "plots").exists()
