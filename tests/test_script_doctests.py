"""The doctests of the repository's scripts (``scripts/*.py``) and of the training pipeline (``training/**/*.py``):
pytest's ``--doctest-modules`` covers the package only; here every example in them runs and passes."""

import doctest
import importlib
from pathlib import Path

import pytest
from script_modules import SCRIPTS, load_script

TRAINING = Path(__file__).resolve().parents[1] / "training"


def has_examples(path: Path) -> bool:
    return any(line.lstrip().startswith(">>>") for line in path.read_text(encoding="utf-8").splitlines())


SCRIPTS_WITH_EXAMPLES = sorted(path.stem for path in SCRIPTS.glob("*.py") if has_examples(path))
TRAINING_WITH_EXAMPLES = sorted(
    ".".join(("training", *path.relative_to(TRAINING).with_suffix("").parts))
    for path in TRAINING.rglob("*.py")
    if has_examples(path)
)


def test_the_modules_with_examples_are_found():
    assert SCRIPTS_WITH_EXAMPLES == ["linear_baselines"]
    assert {
        "training.data_parallel",
        "training.near_duplicates",
        "training.augment",
        "training.tables",
        "training.generators.privacy",
        "training.model",
    } <= set(TRAINING_WITH_EXAMPLES)


def check(module, path: Path) -> None:
    examples = sum(line.lstrip().startswith(">>>") for line in path.read_text(encoding="utf-8").splitlines())
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted == examples


@pytest.mark.parametrize("name", SCRIPTS_WITH_EXAMPLES)
def test_every_script_example_passes(name):
    check(load_script(name), SCRIPTS / f"{name}.py")


@pytest.mark.parametrize("name", TRAINING_WITH_EXAMPLES)
def test_every_training_example_passes(name):
    module = importlib.import_module(name)
    check(module, Path(module.__file__))
