"""Every script in benchmarks/ starts: ``--help`` imports it and everything it imports (a benchmark that names a
method the package no longer has fails there), and prints its usage. The scripts' numbers are their own job."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "timing.py")  # timing.py: a module they share


def test_every_benchmark_is_listed():
    assert {"overhead.py", "gc_pauses.py", "joint_cost.py", "stepper_ab.py", "dataset_speed.py"} <= set(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_starts(script):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"],
        cwd=BENCHMARKS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: "), done.stdout[:500]
