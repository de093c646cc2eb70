"""The CLI's boundary (issue #27): what a new user meets is one clear line and exit 2, never a traceback or a silent
no-op; Ctrl-C says what was saved and how to resume. The real command runs in-process (``main([...])``), or in a
subprocess for Ctrl-C and ``--version``."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from marginal_generate.cli import main
from marginal_generate.default_model import DEFAULT_EVAL_DATA, DEFAULT_MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--num-samples", "4", "--no-plots", "--no-progress"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def run(capsys, *args):
    """``marginal-generate <args>`` in-process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def usage_error(capsys, *args):
    """Exit 2 and exactly one ``marginal-generate: error:`` line, returned."""
    status, _, err = run(capsys, *args)
    lines = [line for line in err.splitlines() if line.startswith("marginal-generate: error: ")]
    assert status == 2 and len(lines) == 1, (status, err)
    assert "Traceback" not in err
    return lines[0]


def test_threads_below_one(capsys, tmp_path):
    for threads in ("0", "-2"):
        line = usage_error(capsys, "evaluate", "--threads", threads, "--output-dir", tmp_path / "out", *QUICK)
        assert line == (
            f"marginal-generate: error: `threads` (--threads) must be an integer >= 1 (CPU threads per process), got "
            f"{threads}; "
            "leave --threads out for the default (1 for a model under 100M parameters, else the cores per process)."
        )
    assert not (tmp_path / "out").exists()  # refused before anything is created


def test_a_bad_number_names_the_flag(capsys, tmp_path):
    line = usage_error(capsys, "evaluate", "--num-samples", "0", "--output-dir", tmp_path / "out", *QUICK[2:])
    assert line == (
        "marginal-generate: error: `num_samples` (--num-samples) must be an integer >= 1, got 0; leave it out (None) "
        "to score every sample."
    )
    line = usage_error(capsys, "evaluate", "--batch-size", "0", "--output-dir", tmp_path / "out", *QUICK)
    assert (
        line
        == "marginal-generate: error: `batch_size` (--batch-size) must be an integer >= 1, got 0; 16 is the default."
    )
    assert not (tmp_path / "out").exists()


def test_truncated_weights_name_the_file(capsys, tmp_path):
    model = tmp_path / "tiny-guard-copy"
    shutil.copytree(DEFAULT_MODEL, model)
    weights = model / "model.safetensors"
    size = weights.stat().st_size
    for keep in (1000, size // 2):  # the header cut, then the tensors cut
        with open(weights, "r+b") as f:
            f.truncate(keep)
        line = usage_error(capsys, "evaluate", "--model", model, "--output-dir", tmp_path / "out", *QUICK)
        assert re.fullmatch(
            rf"marginal-generate: error: cannot load model '{re.escape(str(model))}': its weights file "
            rf"{re.escape(str(weights))} is damaged or cut short \(safetensors: .+\); "
            r"copy or download the model again\.",
            line,
        ), line


def test_empty_names_in_comma_separated_flags(capsys, tmp_path):
    out = ["--output-dir", tmp_path / "out", *QUICK]
    assert usage_error(capsys, "evaluate", "--strategies", "", *out) == (
        "marginal-generate: error: `strategies` is empty (['']); name at least one, e.g. --strategies "
        "greedy,any_place, or leave it out for all of them."
    )
    assert usage_error(capsys, "evaluate", "--strategies", "greedy,,any_place", *out) == (
        "marginal-generate: error: `strategies` ['greedy', '', 'any_place'] has an empty name (item 2); separate the "
        "names by single commas, e.g. --strategies greedy,any_place."
    )
    assert usage_error(capsys, "evaluate", "--grammar", "label_list", "--labels", "S1,,S2", *out) == (
        "marginal-generate: error: `labels` ['S1', '', 'S2'] has an empty name (item 2); separate the names by single "
        "commas, e.g. --labels S1,S2."
    )
    assert not (tmp_path / "out").exists()


def test_labels_that_no_record_carries(capsys, tmp_path):
    line = usage_error(
        capsys, "evaluate", "--grammar", "label_list", "--labels", "joy,anger", "--output-dir", tmp_path / "a", *QUICK
    )
    assert line == (
        "marginal-generate: error: `--labels` ['joy', 'anger']: no record of embedded held-out data carries any of "
        "them (its records carry S1, S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, S12, ... (14 in all)); pass the label "
        "names the data uses, e.g. --labels S1,S2,S3."
    )
    assert not glob.glob(str(tmp_path / "a" / "*.jsonl"))  # nothing scored
    # one name the data does not carry among names it does: a note, and the run goes on
    status, out, err = run(
        capsys, "evaluate", "--grammar", "label_list", "--labels", "S1,S10,joy", "--strategies", "greedy",
        "--output-dir", tmp_path / "b", *QUICK,
    )  # fmt: skip
    assert status == 0, err
    note = "note: no record of embedded held-out data carries the label 'joy' (--labels); its metrics have no positive"
    assert err.count(note) == 1 and "categories (S1–joy, label list)" in out


def test_a_models_key_that_matches_no_model(capsys, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("models:\n  meta-llama/Llama-Guard-3-8B:\n    top_p: 0.9\n")
    line = usage_error(capsys, "evaluate", "--params", params, "--output-dir", tmp_path / "out", *QUICK)
    assert line == (
        f"marginal-generate: error: params: {params} sets models ['meta-llama/Llama-Guard-3-8B'], and none of them is "
        "this run's model (the embedded tiny guard, key tiny-guard); a key matches the --model id or path, or its "
        "last path component: rename the key, or put its values under `strategies:` to apply them to any model."
    )


@pytest.mark.parametrize("model", [None, DEFAULT_MODEL], ids=["default", "explicit-path"])
def test_the_tiny_guard_key_applies_to_the_embedded_model(capsys, tmp_path, model):
    params = tmp_path / "params.yaml"
    params.write_text("models:\n  tiny-guard:\n    max_new_tokens: 2\n")
    out = tmp_path / "out"
    chosen = [] if model is None else ["--model", model]
    status, _, err = run(
        capsys, "evaluate", *chosen, "--params", params, "--strategies", "greedy", "--output-dir", out, *QUICK
    )
    assert status == 0, err
    assert json.loads((out / "run.json").read_text())["params"]["greedy"]["max_new_tokens"] == 2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    texts = [json.loads(line)["text"] for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(texts) == 4 and all(len(tokenizer(t, add_special_tokens=False).input_ids) <= 2 for t in texts), texts


def test_non_utf8_lines_are_named(capsys, tmp_path):
    with open(DEFAULT_EVAL_DATA, "rb") as f:
        lines = [next(f) for _ in range(6)]
    data = tmp_path / "records.jsonl"
    data.write_bytes(b"".join(lines[:3]) + lines[3].replace(b'"content": "', b'"content": "\xe9', 1) + lines[4])
    flags = ["--strategies", "greedy", "--output-dir", tmp_path / "a", *QUICK]
    status, _, err = run(capsys, "evaluate", "--dataset", data, *flags)
    assert status == 0, err
    assert re.search(
        rf"skipped: {re.escape(str(data))}, line 4: not UTF-8 text \(byte 0xe9 at column \d+\); re-encode the file as "
        "UTF-8",
        err,
    ), err
    assert "5 records read, 1 skipped" in err
    table = tmp_path / "table.csv"
    table.write_bytes(b"question,labels\nhow do I bake bread?,\nhow do I \xabhotwire\xbb a car?,S2\n")
    line = usage_error(
        capsys, "evaluate", "--dataset", table, "--columns", "prompt=question,categories=labels",
        "--output-dir", tmp_path / "b", *QUICK,
    )  # fmt: skip
    assert line.startswith(
        f"marginal-generate: error: {table}, line 3: not UTF-8 text (byte 0xab at column 10); re-encode the file as "
        "UTF-8, e.g. iconv"
    ), line


def subprocess_env() -> dict[str, str]:
    pythonpath = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": pythonpath}


def test_version():
    from importlib.metadata import version

    proc = subprocess.run(
        [sys.executable, "-m", "marginal_generate.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"marginal-generate {version('marginal-generate')}\n"


@pytest.mark.slow
def test_ctrl_c_says_what_was_saved_and_how_to_resume(capsys, tmp_path):
    out = tmp_path / "run"
    words = ["evaluate", "--num-samples", "40", "--batch-size", "1", "--strategies", "any_place", "--no-plots",
             "--no-progress", "--output-dir", str(out), "--overwrite"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "marginal_generate.cli", *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a shell's background job ignores SIGINT
    )
    try:
        while not any(os.path.getsize(p) for p in glob.glob(str(out / "samples.rank*.jsonl"))):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)  # polling, not a timing assertion
        proc.send_signal(signal.SIGINT)  # Ctrl-C once the run has written its first result
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and stdout == ""
    (line,) = [line for line in stderr.splitlines() if line.startswith("marginal-generate: interrupted: ")]
    saved = sum(open(p).read().count("\n") for p in glob.glob(str(out / "*.jsonl")) if "failures" not in p)
    assert 1 <= saved < 40
    resume = [w for w in words if w != "--overwrite"] + ["--resume"]
    assert line == (
        f"marginal-generate: interrupted: {saved} scored sample(s) are saved in {out}; continue with: "
        f"{shlex.join(['marginal-generate', *resume])}"
    )
    # the command it gives continues the run
    command = shlex.split(line.split("continue with: ", 1)[1])
    status, printed, err = run(capsys, *command[1:])
    assert status == 0, err
    assert f"resume: {saved} sample(s) already done, {40 - saved} to score" in err
    assert f"done: 40 samples ({40 - saved} scored now, {saved} from an earlier run" in printed
