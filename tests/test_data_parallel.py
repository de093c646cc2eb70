"""``training/data_parallel.py``: the training pipeline's two processes compute what one process computes.

Spawned ranks re-import the ``__main__`` file, so each case runs a small script file in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

PROGRAM = """
import json, sys
import torch
sys.path.insert(0, {repo!r})
from training import data_parallel as dp


def gradient(args, rank, world):
    torch.manual_seed(args["seed"] + (rank if args.get("differ") else 0))
    model = torch.nn.Linear(4, 3)
    if args.get("differ"):
        dp.check_same_start(model, args["tok"])
    x = torch.arange(40, dtype=torch.float64).reshape(10, 4).float() / 10
    rows = dp.share(list(range(10)), rank, world)
    loss = model(x[rows]).pow(2).sum() / 10
    loss.backward()
    total = loss.item()
    if world > 1:
        dp.sum_grads(list(model.parameters()))
        (total,) = dp.sum_values(total)
    return {{"grads": [p.grad.tolist() for p in model.parameters()], "loss": total}}


def fail_on_rank_one(args, rank, world):
    if rank == 1:
        raise ValueError("rank one fails")
    return rank


class Vocab:
    def get_vocab(self):
        return {{"a": 0}}


if __name__ == "__main__":
    case = sys.argv[1]
    if case == "same":
        print(json.dumps([dp.launch(gradient, {{"seed": 0}}, 1), dp.launch(gradient, {{"seed": 0}}, 2)]))
    elif case == "differ":
        dp.launch(gradient, {{"seed": 0, "differ": True, "tok": Vocab()}}, 2)
    else:
        dp.launch(fail_on_rank_one, None, 2)
"""


def run(tmp_path: Path, case: str) -> subprocess.CompletedProcess:
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(PROGRAM.format(repo=str(REPO))))
    return subprocess.run(
        [sys.executable, str(script), case], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )


def test_two_ranks_sum_to_the_one_process_gradient(tmp_path):
    done = run(tmp_path, "same")
    assert done.returncode == 0, done.stderr
    one, two = json.loads(done.stdout.strip().splitlines()[-1])
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-6)
    flat = [torch.tensor(g).flatten() for g in one["grads"]], [torch.tensor(g).flatten() for g in two["grads"]]
    assert [g.shape for g in flat[0]] == [torch.Size([12]), torch.Size([3])]
    for g1, g2 in zip(*flat):
        torch.testing.assert_close(g2, g1, rtol=1e-5, atol=1e-7)
    assert flat[0][0].abs().max() > 1e-3


def test_ranks_that_built_different_models_fail(tmp_path):
    done = run(tmp_path, "differ")
    assert done.returncode != 0
    assert "rank(s) [1] failed" in done.stderr or "built different models" in done.stderr


def test_a_failing_rank_is_named(tmp_path):
    done = run(tmp_path, "fail")
    assert done.returncode != 0
    assert "data-parallel rank(s) [1] failed; rerun with --procs 1" in done.stderr
    assert "rank one fails" in done.stderr
