"""The README's examples are all run: every ```python block, in order and in one namespace (as a reader pastes them
into one session), and every ```bash block, in a temporary working directory and offline.

A block that cannot run here says why on the line before its fence: ``<!-- not run: needs the gated Hub model -->``.
The Install section's blocks install packages and are not run. ``marginal-generate evaluate`` runs on 8 samples
without plots or progress bars (``--num-samples 8 --no-plots --no-progress`` appended). Where the README shows what a
python block prints (the untagged block right after it), the block prints exactly that; and the Decisions section's
``policy`` command prints the table shown after it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import README, example, printed_outputs, readme_blocks

SECTIONS_NOT_RUN = {"Install": "installs packages into the environment"}
QUICK_EVALUATE = "--num-samples 8 --no-plots --no-progress"


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUN = [b for b in BLOCKS if b.not_run is None and b.section not in SECTIONS_NOT_RUN]


def environment() -> dict[str, str]:
    """This interpreter's scripts first on PATH (``python``, ``marginal-generate``), offline, no cache redirection."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"}


def test_every_block_is_run_or_says_why():
    assert [b.language for b in RUN if b.language == "python"], "the README has python examples"
    for block in BLOCKS:
        where = f"README line {block.line}"
        if block.not_run is not None:
            assert block.not_run, f"{where}: say why the block is not run: <!-- not run: <reason> -->"
            assert block.language in ("python", "bash"), f"{where}: only code blocks are run or skipped"
        elif block.language not in ("python", "bash"):
            assert block.language == "", f"{where}: a ```{block.language} block is neither run nor skipped"
            assert not re.match(r"\s*(python|pip|marginal-generate|accelerate)\b", block.code), (
                f"{where}: a command in an untagged block; tag it ```bash (and say why if it cannot run)"
            )


def test_not_run_comments_must_precede_a_block():
    with pytest.raises(ValueError, match=r"README line 1: a 'not run' comment must come just before a fenced block"):
        readme_blocks("<!-- not run: needs a GPU -->\nSome prose.\n```python\nx = 1\n```\n")


PYTHON_RUNNER = """
import contextlib, io, json, sys, time, traceback
namespace = {"__name__": "__main__"}
printed = {}
for line, code in BLOCKS:
    start = time.perf_counter()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md, block at line {line}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"README block at line {line} failed; it printed:\\n{out.getvalue()}")
    printed[line] = out.getvalue()
    print(f"README block at line {line}: ran in {time.perf_counter() - start:.1f} s", flush=True)
with open("readme_printed.json", "w", encoding="utf-8") as f:
    json.dump(printed, f)
"""


@pytest.mark.slow
def test_python_examples_run(tmp_path):
    python = [(b.line, b.code) for b in RUN if b.language == "python"]
    script = f"BLOCKS = {python!r}\n{PYTHON_RUNNER}"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    ran = [line for line in proc.stdout.splitlines() if line.startswith("README block at line")]
    print("\n".join(ran))
    assert [f"README block at line {line}: ran" for line, _ in python] == [line.split(" in ")[0] for line in ran]
    assert (tmp_path / "ts.json").exists()  # what the examples say they write, they wrote
    assert (tmp_path / "emotions-eval" / "metrics.json").exists()
    # what the README shows a block printing is what it prints now (the versions in constraints.txt)
    printed = json.loads((tmp_path / "readme_printed.json").read_text(encoding="utf-8"))
    shown = printed_outputs(RUN, README.read_text(encoding="utf-8"))
    assert shown, "the README shows some python block's output"
    for line, expected in shown.items():
        assert printed[str(line)] == expected, (
            f"README block at line {line}: what it shows it printing is stale; it prints now:\n{printed[str(line)]}"
        )


def shell_script(code: str) -> str:
    """The block as a script: continued lines joined, ``marginal-generate evaluate`` made quick."""
    lines = code.replace("\\\n", " ").splitlines()
    return "\n".join(
        f"{line} {QUICK_EVALUATE}" if line.startswith("marginal-generate evaluate") else line for line in lines
    )


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in RUN if b.language == "bash"], ids=lambda b: f"line{b.line}")
def test_shell_commands_run(block, tmp_path):
    script = shell_script(block.code)
    proc = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"README line {block.line}:\n{script}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    if "marginal-generate evaluate" in script:
        assert "any_place" in proc.stdout and "done: 8 samples" in proc.stdout
        assert (tmp_path / "marginal-generate-eval" / "metrics.json").exists()
    if "marginal_generate.demo" in script:
        assert "any_place" in proc.stdout


def test_shell_scripts_make_evaluate_quick():
    assert shell_script("marginal-generate evaluate\npython -m x \\\n  --y\n") == (
        f"marginal-generate evaluate {QUICK_EVALUATE}\npython -m x    --y"
    )


@pytest.mark.slow
def test_the_policy_journey_prints_the_table_the_readme_shows(tmp_path):
    """The Decisions section's journey, its first two commands as written (the whole embedded data set, no quick
    flags): ``policy`` prints exactly the table the README shows after the block."""
    block, shown = example(RUN, "marginal-generate policy ")
    evaluate, policy = block.code.replace("\\\n", " ").splitlines()[:2]
    assert evaluate.startswith("marginal-generate evaluate ") and policy.startswith("marginal-generate policy ")
    for command in (evaluate, policy):
        proc = subprocess.run(
            ["bash", "-e", "-c", command], cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    assert proc.stdout == shown.code, f"README line {shown.line}: stale; `{policy}` prints now:\n{proc.stdout}"
