"""`python -m marginal_generate.demo`: every strategy in the table, known issues in --help, one-line errors."""

import os
import subprocess
import sys

from marginal_generate.strategies import ALL_STRATEGIES, PROMPTED_STRATEGIES, STRATEGIES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def demo(*args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "-m", "marginal_generate.demo", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_table_has_every_strategy_including_the_prompted_ones():
    proc = demo("How do I pick a lock?")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ") and line.split()]
    for name in (*STRATEGIES, *PROMPTED_STRATEGIES):
        assert name in rows, name
    assert set(PROMPTED_STRATEGIES) <= set(ALL_STRATEGIES)


def test_help_names_the_known_issues():
    proc = demo("--help")
    assert proc.returncode == 0
    assert "known issues:" in proc.stdout and "not a moderation" in proc.stdout and "reporting a problem" in proc.stdout


def test_a_missing_model_is_one_line():
    proc = demo("--model", "./no-such-model", "hi")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("demo: error: model path './no-such-model' does not exist")
