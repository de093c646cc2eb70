"""A ``groups:`` entry in params.yaml is ``evaluate --groups`` (#30): the same columns, the flag wins, errors in one
line that name the file."""

from __future__ import annotations

import json
import re

import pytest

from marginal_generate.cli import main

BASE = ["evaluate", "--num-samples", "6", "--no-progress", "--no-plots", "--strategies", "greedy,any_place"]


def params_file(tmp_path, body: str):
    path = tmp_path / "params.yaml"
    path.write_text(body)
    return str(path)


def groups_written(out) -> list[set[str]]:
    lines = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    return [set(r["groups"]["any_place"]) for r in lines]


def test_params_groups_are_columns_and_the_flag_wins(tmp_path, capsys):
    params = params_file(tmp_path, "groups:\n  violence: [S1, S9]\n  crimes: [S2, S3]\n")
    out = tmp_path / "file"
    assert main([*BASE, "--params", params, "--output-dir", str(out)]) == 0
    assert groups_written(out) == [{"violence", "crimes"}] * 6
    rows = {row["group"]: row["labels"] for row in json.loads((out / "metrics.json").read_text())["groups"]}
    assert rows == {"violence": ["S1", "S9"], "crimes": ["S2", "S3"]}
    printed = capsys.readouterr().out
    assert "groups: P(any of the group's labels)" in printed
    flagged = tmp_path / "flag"
    assert main([*BASE, "--params", params, "--groups", "sexual=S3,S12", "--output-dir", str(flagged)]) == 0
    assert groups_written(flagged) == [{"sexual"}] * 6
    rows = {row["group"]: row["labels"] for row in json.loads((flagged / "metrics.json").read_text())["groups"]}
    assert rows == {"sexual": ["S3", "S12"]}


@pytest.mark.parametrize(
    ("body", "extra", "message"),
    [
        (
            "groups:\n  violence: S1,S9\n",
            [],
            r"params: .*params\.yaml groups: group 'violence' must list label names, got 'S1,S9'; "
            r"e\.g\. violence: \[S1, S9\]\.$",
        ),
        ("groups: [S1, S9]\n", [], r"params: .*params\.yaml groups: must map each group's name to its labels"),
        (
            "groups:\n  violence: [S1, S99]\n",
            [],
            r"`groups` group 'violence' names labels the model does not have: \['S99'\]",
        ),
        (
            "groups:\n  violence: [S1, S9]\n",
            ["--strategies", "greedy"],
            r"`groups` are read from any_place's label sets, and --strategies greedy has no any_place; add it "
            r"\(e\.g\. --strategies any_place\) or leave the `groups:` of .*params\.yaml out\.$",
        ),
    ],
)
def test_bad_params_groups_are_one_line_and_write_nothing(tmp_path, capsys, body, extra, message):
    out = tmp_path / "run"
    status = main([*BASE, *extra, "--params", params_file(tmp_path, body), "--output-dir", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith("marginal-generate: error: "), err
    assert not any("Traceback" in line for line in err)
    assert re.search(message, err[-1]), err[-1]
    assert not (out / "scores.jsonl").exists()
