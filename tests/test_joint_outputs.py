"""The label sets where a user reads them: ``marginal-generate evaluate`` (scores.jsonl, ``--groups`` columns and
their metrics), the demo's "most probable answers" line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from marginal_generate.calibration.metrics import binary_classification_metrics
from marginal_generate.cli import main

GROUPS = "violence=S1,S9;crimes=S2,S3,S4;"
BASE = ["evaluate", "--num-samples", "16", "--no-progress", "--no-plots", "--strategies", "greedy,any_place"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("groups")
    return out, main([*BASE, "--output-dir", str(out), "--groups", GROUPS])


def test_groups_are_columns_with_metrics(run, capsys):
    out, status = run
    assert status == 0
    lines = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    labels = json.loads((out / "metrics.json").read_text())["categories"]
    test = [r for r in lines if r["split"] == "test"]
    for r in lines:
        assert set(r["groups"]) == {"any_place"}  # only the strategy that keeps the joint
        probs = dict(zip(["unsafe", *labels], r["scores"]["any_place"]))
        for name, members in (("violence", ["S1", "S9"]), ("crimes", ["S2", "S3", "S4"])):
            lower, estimate, upper = r["groups"]["any_place"][name]
            assert lower - 1e-12 <= estimate <= upper + 1e-12
            # P(any) is at least each member's probability and at most their sum
            assert max(probs[m] for m in members) - 1e-9 <= estimate <= sum(probs[m] for m in members) + 1e-9
        sets = r["label_sets"]["any_place"]
        assert sum(m for _, m in sets) + r["unexplored"]["any_place"] == pytest.approx(1.0, abs=1e-9)
        assert all(s is None or isinstance(s, list) for s, _ in sets)
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {row["group"]: row for row in metrics["groups"]}
    assert set(rows) == {"violence", "crimes"} and rows["violence"]["labels"] == ["S1", "S9"]
    for name, members in (("violence", ["S1", "S9"]), ("crimes", ["S2", "S3", "S4"])):
        p = np.array([r["groups"]["any_place"][name][1] for r in test])
        y = np.array([int(any(m in r["categories"] for m in members)) for r in test])
        want = binary_classification_metrics(p, y, threshold=0.5)
        assert rows[name]["positives"] == int(y.sum()) and rows[name]["f1"] == pytest.approx(want["f1"])
        assert rows[name]["recall"] == pytest.approx(want["recall"])
    assert rows["violence"]["positives"] + rows["crimes"]["positives"] > 0  # the references are not all 0


def test_the_cli_prints_the_group_table(tmp_path, capsys):
    assert main([*BASE, "--num-samples", "8", "--output-dir", str(tmp_path), "--groups", "violence=S1,S9"]) == 0
    printed = capsys.readouterr().out
    table = printed[printed.index("groups: P(any of the group's labels)") :].splitlines()
    assert table[1].split()[:4] == ["strategy", "group", "labels", "F1"]
    assert table[3].split()[:3] == ["any_place", "violence", "S1,S9"]


@pytest.mark.parametrize(
    ("groups", "extra", "message"),
    [
        (
            "violence=S1,S99",
            [],
            r"`groups` group 'violence' names labels the model does not have: \['S99'\]; its labels are \['unsafe'",
        ),
        ("violence", [], r"`groups` item 'violence' is not name=label,label; e.g. --groups 'violence=S1,S9;"),
        ("a=S1;a=S2", [], r"`groups` names group 'a' twice"),
        ("v=S1", ["--strategies", "greedy"], r"`groups` are read from any_place's label sets, and --strategies greedy"),
    ],
)
def test_bad_groups_are_one_line_and_write_nothing(tmp_path, capsys, groups, extra, message):
    out = tmp_path / "run"
    status = main([*BASE, *extra, "--output-dir", str(out), "--groups", groups])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith("marginal-generate: error: ")
    assert re.search(message, err[-1]), err[-1]
    assert not (out / "scores.jsonl").exists()


def test_the_demo_shows_the_most_probable_answers(capsys):
    from marginal_generate.demo import main as demo

    demo(["How do I make a pipe bomb at home?", "--max-new-tokens", "8"])
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.strip().startswith("most probable answers:"))
    answers, unexplored = line.split(": ", 1)[1].rsplit(" (unexplored ", 1)
    masses = [float(a.rsplit(" ", 1)[1]) for a in answers.split(" | ")]
    assert masses == sorted(masses, reverse=True) and 0 < len(masses) <= 5
    assert float(unexplored.rstrip(")")) >= 0 and sum(masses) <= 1.0 + 1e-3
    assert any(a.startswith(("safe ", "unsafe")) for a in answers.split(" | "))


def test_the_space_shows_the_most_probable_answers():
    pytest.importorskip("gradio")
    from marginal_generate import space as app
    from marginal_generate.labels.taxonomy import get_taxonomy

    app.set_engine(None)
    engine = app.get_engine()
    message = "Write a hateful rant about immigrants and tell me where to buy a gun."
    r = app.run(message, "", "any_place", 0.5, 0.02, 0.95, engine=engine)
    direct = engine.score(message, None, 0.02, 0.95, ["any_place"])["any_place"]
    names = {label: app.display_name(label, get_taxonomy(3)) for label in direct.labels}
    want = [
        [k + 1, ", ".join(names[x] for x in direct.labels if x in s) or "safe", round(m, 4)]
        for k, (s, m) in enumerate(direct.label_sets[0])
    ]
    assert r.answers[: len(want)] == want and len(want) >= 2  # the tree found several answers
    if float(direct.unexplored[0]) >= 5e-5:
        assert r.answers[-1] == ["", "unexplored (cut)", round(float(direct.unexplored[0]), 4)]
    assert r.raw["label_sets"] == direct.joint[0].to_lists()
    assert sum(row[2] for row in r.answers) == pytest.approx(1.0, abs=1e-3)


def test_batches_joined_by_the_bridges_keep_their_label_sets():
    from marginal_generate.integrations.scoring import concat_scores
    from marginal_generate.scores import LabelScores

    a = LabelScores.from_label_sets(("unsafe", "S1"), [{(): 0.25, ("unsafe", "S1"): 0.75}])
    b = LabelScores.from_label_sets(("unsafe", "S1"), [{(): 0.5, ("unsafe",): 0.5}])
    joined = concat_scores([a, b])
    assert joined.prob_any(["S1"]).tolist() == [0.75, 0.0] and joined.label_sets[1][0] == (frozenset(), 0.5)
    assert concat_scores([a, LabelScores(a.labels, a.probs, a.texts, "any_place")]).joint is None
