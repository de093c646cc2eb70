"""`marginal-generate evaluate` on the embedded model: table and outputs, kill -9 and resume, two processes,
failures."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from marginal_generate.cli import main
from marginal_generate.evaluation.results import read_jsonl_results
from marginal_generate.evaluation.scoring import make_batches
from marginal_generate.testing import free_port

SLICE = ["--num-samples", "16", "--batch-size", "4", "--no-plots", "--no-progress"]


def run_cli(out_dir, *extra, env=None, launcher=None):
    command = [
        *(launcher or [sys.executable, "-m"]),
        "marginal_generate.cli",
        "evaluate",
        "--output-dir",
        str(out_dir),
        *SLICE,
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def samples_of(out_dir):
    with open(out_dir / "scores.jsonl") as f:
        return [json.loads(line)["sample"] for line in f]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """An uninterrupted one-process run of the slice (in this process: no second start-up)."""
    out = tmp_path_factory.mktemp("baseline")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["evaluate", "--output-dir", str(out), *SLICE])
    assert status == 0, stderr.getvalue()
    return out, stdout.getvalue()


def test_cli_prints_table_and_writes_outputs(tmp_path, capsys):
    status = main(
        [
            "evaluate",
            "--output-dir",
            str(tmp_path),
            "--num-samples",
            "12",
            "--no-progress",
            "--calibrate",
            "ts,cc,bc",
            "--strategies",
            "marginal_probability_at_any_place,LogTokU",
        ]
    )
    assert status == 0
    out, err = capsys.readouterr()
    for row in ("any_place", "any_place+TS", "any_place+CC", "any_place+BC", "logtoku", "logtoku+TS"):
        assert any(line.split()[:1] == [row] for line in out.splitlines()), row
    assert "cat F1 micro" in out and "unsafe F1" in out
    assert "samples/s" in out.splitlines()[-1] and "wall" in out.splitlines()[-1]
    assert "logtoku: uncertainty threshold" in err and "picked on the validation split" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["thresholds"]["logtoku"]["picked_on"] == "validation"
    assert [r["row"] for r in metrics["rows"]][:4] == ["any_place", "any_place+TS", "any_place+CC", "any_place+BC"]
    assert (tmp_path / "metrics.csv").read_text().startswith("row,categories_f1_micro")
    assert (tmp_path / "plots" / "any_place_unsafe.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(samples_of(tmp_path)) == list(range(12))
    first = json.loads((tmp_path / "scores.jsonl").read_text().splitlines()[0])
    assert set(first["scores"]) == {"any_place", "logtoku"} and len(first["scores"]["any_place"]) == 15


def test_kill_9_then_resume_gives_the_same_table(tmp_path, baseline):
    base_dir, _ = baseline
    command = [sys.executable, "-m", "marginal_generate.cli", "evaluate", "--output-dir", str(tmp_path), *SLICE]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = tmp_path / "samples.rank0.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if part.exists() and part.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed; use a bigger slice"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = part.read_bytes().count(b"\n")
    assert 4 <= done_before < 16
    with open(part, "ab") as f:  # a torn last line, as a kill in the middle of a write leaves it
        f.write(b'{"sample": 15, "scores": {"gre')
    resumed = run_cli(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr and "torn" in resumed.stderr
    assert (tmp_path / "metrics.csv").read_text() == (base_dir / "metrics.csv").read_text()
    assert sorted(samples_of(tmp_path)) == list(range(16))  # none missing, none twice
    results, dropped = read_jsonl_results([str(tmp_path / "scores.jsonl")])
    assert sorted(results) == list(range(16)) and dropped == 0  # the torn line was dropped in the merge
    assert not part.exists()  # the journal is merged into scores.jsonl


@pytest.mark.slow
def test_two_processes_give_the_same_table(tmp_path, baseline):
    base_dir, base = baseline
    for _ in range(3):  # a free rendezvous port: the default 29500 may be another job's (its rank 1 aborted)
        launcher = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--main_process_port",
            str(free_port()),
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
        ]
        proc = run_cli(tmp_path, "--overwrite", env={"ACCELERATE_USE_CPU": "true"}, launcher=launcher)
        if "address already in use" not in proc.stderr.lower():  # else taken between the probe and the bind
            break
    assert proc.returncode == 0, proc.stderr
    assert "2 process(es)" in proc.stderr
    assert (tmp_path / "metrics.csv").read_text() == (base_dir / "metrics.csv").read_text()
    assert proc.stdout.count("cat F1 micro") == 1  # only the main process prints
    assert not list(tmp_path.glob("samples.rank*.jsonl"))  # each process's journal is merged into scores.jsonl
    assert sorted(samples_of(tmp_path)) == list(range(16))
    table = lambda text: [line for line in text.splitlines() if line and not line.startswith(("written", "done"))]  # noqa: E731
    assert table(proc.stdout) == table(base)


def test_failing_samples_are_reported_and_the_run_goes_on(tmp_path, capsys):
    from marginal_generate.default_model import DEFAULT_EVAL_DATA

    lines = open(DEFAULT_EVAL_DATA).read().splitlines()
    rows = [
        lines[0],
        lines[1],
        '{"conversation": "not a list", "is_safe": true, "categories": []}',
        lines[-1],
        lines[-2],
    ]
    long = json.loads(lines[2])
    long["conversation"][0]["content"] = "word " * 1200
    rows.insert(3, json.dumps(long))
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    status = main(
        [
            "evaluate",
            "--dataset",
            str(data),
            "--output-dir",
            str(out),
            "--no-progress",
            "--no-plots",
            "--strategies",
            "greedy,logtoku",
            "--validation-fraction",
            "0.4",
        ]
    )
    assert status == 0
    _, err = capsys.readouterr()
    assert f"skipped: {data}, line 3: field 'conversation'" in err
    assert "(index 3): ValueError: prompt is" in err and "exceeds the model's context of 1024 tokens" in err
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [f.get("line") for f in failures] == [3, None] and failures[1]["index"] == 3
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == 5 and sum("error" in s for s in scores) == 1


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    base = [
        "evaluate",
        "--output-dir",
        str(tmp_path),
        "--num-samples",
        "6",
        "--strategies",
        "greedy,logtoku",
        "--no-plots",
        "--no-progress",
    ]
    assert main(base) == 0
    assert main([*base, "--resume", "--seed", "1"]) == 2
    assert "holds a run with other settings (seed: 0 → 1)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["--calibrate", "isotonic"],
            r"`calibrate` has 'isotonic'; use a comma-separated subset of \['ts', 'cc', 'bc', 'platt'\]",
        ),
        (["--strategies", "beam"], r"unknown strategy 'beam'"),
        (["--validation-fraction", "0"], r"the validation split is empty"),
    ],
)
def test_bad_options(tmp_path, capsys, argv, match):
    import re

    assert main(["evaluate", "--output-dir", str(tmp_path), "--num-samples", "4", "--no-progress", *argv]) == 2
    assert re.search(match, capsys.readouterr().err)


def test_batches_are_sorted_by_length():
    assert make_batches({0: 3, 1: 1, 2: 2, 3: 1, 4: 9}, 2) == [[1, 3], [2, 0], [4]]
