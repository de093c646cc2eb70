"""The training pipeline's entry points (``python -m training``, ``scripts/train_tiny_guard.py``): the same flags and
errors, and the CPU kernels they ask torch for (the shipped model's AVX2 ones: the weights depend on them)."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CAPABILITY = (
    "import training; training.use_shipped_kernels(); import torch; print(torch.backends.cpu.get_cpu_capability())"
)


@pytest.mark.parametrize("entry", [["-m", "training"], ["scripts/train_tiny_guard.py"]])
def test_both_entry_points_refuse_a_bad_option(entry):
    done = subprocess.run(
        [sys.executable, *entry, "--unsafe-weight", "0"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    prog = "python -m training" if entry[0] == "-m" else "train_tiny_guard.py"
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"{prog}: error: --unsafe-weight 0.0: give a positive weight, e.g. 1.6 (the default; 1 weighs both verdicts "
        "alike)"
    )


def capability(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    done = subprocess.run(
        [sys.executable, "-c", CAPABILITY], capture_output=True, text=True, cwd=REPO, timeout=120, env={**clean, **env}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="AVX2 kernels exist on x86-64 only")
def test_the_entry_points_ask_for_the_shipped_kernels_unless_told_otherwise():
    import torch

    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip(f"this CPU has {torch.backends.cpu.get_cpu_capability()} kernels, not AVX2")
    assert capability() == "AVX2"
    assert capability(ATEN_CPU_CAPABILITY="default") == "DEFAULT"
