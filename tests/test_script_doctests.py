"""The doctests of the repository's scripts (``scripts/**/*.py``; pytest's ``--doctest-modules`` covers the package
only): every example in every script runs and passes."""

import doctest

import pytest
from script_modules import SCRIPTS, load_script

WITH_EXAMPLES = sorted(
    str(path.relative_to(SCRIPTS).with_suffix(""))
    for path in SCRIPTS.rglob("*.py")
    if any(line.lstrip().startswith(">>>") for line in path.read_text(encoding="utf-8").splitlines())
)


def test_the_scripts_with_examples_are_found():
    assert {"data_parallel", "linear_baselines", "near_duplicates", "train_tiny_guard"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_every_example_passes(name):
    source = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")
    examples = sum(line.lstrip().startswith(">>>") for line in source.splitlines())
    result = doctest.testmod(load_script(name))
    assert result.failed == 0 and result.attempted == examples
