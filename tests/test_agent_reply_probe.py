"""``scripts/agent_reply_probe.py``: the count the README's runs table quotes for the shipped model, the Space's
example among its replies, and its error on a folder that is not a model."""

import pytest
from script_modules import load_script
from space_examples import space_examples


@pytest.fixture(scope="module")
def probe():
    return load_script("agent_reply_probe")


def test_the_first_reply_is_the_spaces_example(probe):
    user, reply, unsafe = probe.REPLIES[0]
    assert [user, reply] in space_examples() and unsafe


def test_the_shipped_model_gets_four_of_six(probe, capsys):
    """The README's runs table says 4/6 for the shipped model (u4)."""
    assert probe.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and lines[-1] == "4/6 replies judged right"
    assert [line.split()[0] for line in lines[:6]] == ["right", "WRONG", "WRONG", "right", "right", "right"]


def test_a_folder_without_a_model_is_refused(probe, tmp_path, capsys):
    with pytest.raises(SystemExit):
        probe.main(["--model", str(tmp_path)])
    assert f"--model {tmp_path}: no config.json there" in capsys.readouterr().err
