"""``scripts/linear_baselines.py``: the figures it prints and its error on a directory that is not a run."""

from pathlib import Path

import pytest
from script_modules import load_script


@pytest.fixture(scope="module")
def baselines():
    return load_script("linear_baselines")


def test_recipe_args_of_the_shipped_model_are_its_training_args(baselines):
    import json

    import marginal_generate as mg

    args = baselines.recipe_args(Path(mg.DEFAULT_MODEL))
    recorded = json.loads((Path(mg.DEFAULT_MODEL) / "training.json").read_text())["args"]
    assert {k: getattr(args, k) for k in recorded} == recorded


def test_a_directory_without_training_json_is_named(baselines, tmp_path):
    with pytest.raises(SystemExit, match=r"training\.json not found: --model must be a directory written by"):
        baselines.recipe_args(tmp_path)
