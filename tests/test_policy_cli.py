"""`marginal-generate policy RUN_DIR` and `evaluate --policy FILE` on a real run of the embedded model: thresholds
equal to `mg.fit_policy` on the run's validation split, the test report, the labels left out with the number they
need, and every mistake one error line with exit status 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import marginal_generate as mg
from marginal_generate.cli import main
from marginal_generate.policy.run import bootstrap_rate, load_run

ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished evaluate run: 200 samples of the embedded data (40 validation), any_place and greedy."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        out = tmp_path_factory.mktemp("policy") / "run"
        args = ["evaluate", "--num-samples", "200", "--strategies", "any_place,greedy", "--no-plots", "--no-progress"]
        assert main([*args, "--output-dir", str(out)]) == 0
    return out


def policy_cmd(capsys, *args):
    code = main(["policy", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(code, err, pattern):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("marginal-generate: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


def test_policy_fits_on_validation_reports_on_test_and_leaves_out_labels(run_dir, tmp_path, capsys):
    out = tmp_path / "policy.json"
    code, text, err = policy_cmd(capsys, run_dir, "--strategy", "any_place", "--target", "recall=0.9", "--out", out)
    assert code == 0, err
    run = load_run(str(run_dir), "any_place")
    val_p, val_y = run.split("validation")
    test_p, test_y = run.split("test")
    assert len(val_p) == 40 and len(test_p) == 160
    expected = mg.fit_policy(val_p, val_y, labels=run.labels, skip_refused=True)
    policy = mg.load_policy(out)
    assert policy.thresholds == expected.thresholds and policy.refused == expected.refused
    assert "unsafe" in policy.labels and policy.provenance["strategy"] == "any_place"
    assert policy.provenance["prompt_format"] == "chat_template" and policy.provenance["estimate"] == "best"
    assert policy.validation_size == 40
    # the test line of unsafe: its threshold and its test recall with the bootstrap interval
    t = policy.thresholds["unsafe"]
    recall, (lo, hi) = bootstrap_rate(test_p[:, 0] >= t, test_y[:, 0], "recall", resamples=1000, seed=0)
    assert recall == np.mean(test_p[test_y[:, 0] == 1, 0] >= t)
    line = next(line for line in text.splitlines() if line.startswith("unsafe "))
    assert f"{t:.4f}" in line and f"recall {recall:.3f} [{lo:.3f}, {hi:.3f}]" in line, line
    # the categories with too few positives are listed with what they need
    left = next(line for line in text.splitlines() if line.startswith("left out"))
    for label, why in policy.refused.items():
        assert f"{label} ({why})" in left
    assert re.search(r"S\d+ \(\d+ positives?, needs 22 for recall >= 0\.9\)", left), left
    assert f"written to {out} ({len(policy.labels)} label(s))" in text


def test_review_band_and_best_effort(run_dir, tmp_path, capsys):
    out = tmp_path / "policy.json"
    code, text, err = policy_cmd(
        capsys, run_dir, "--target", "recall=0.9", "--review", "fpr=0.5", "--best-effort", "--out", out
    )
    assert code == 0, err
    policy = mg.load_policy(out)
    assert not all(policy.guaranteed.values()) and policy.guaranteed["unsafe"]
    note = next(line for line in text.splitlines() if line.startswith("* best effort"))
    assert note.startswith("* best effort, no guarantee (meets its target on the validation split only): ")
    for label, why in policy.unguaranteed.items():
        assert f"{label} ({why})" in note
    assert re.search(r"S\d+ \(\d+ positives?, needs 22 for recall >= 0\.9\)", note), note
    run = load_run(str(run_dir), "any_place")
    test_p, _ = run.split("test")
    outcomes = policy.outcomes(test_p, run.labels)
    block = (outcomes == "block").any(axis=1)
    review = (outcomes == "review").any(axis=1) & ~block
    assert f"samples (160): {block.sum()} block, {review.sum()} review" in text
    assert f"expected review rate (validation): {policy.review_rate:.1%} of samples" in text


def test_per_label_target(run_dir, tmp_path, capsys):
    out = tmp_path / "policy.json"
    code, _, err = policy_cmd(capsys, run_dir, "--target", "recall=0.8", "--target", "unsafe:fpr=0.2", "--out", out)
    assert code == 0, err
    policy = mg.load_policy(out)
    assert policy.targets["unsafe"] == mg.Target("fpr", 0.2)
    assert {str(t) for label, t in policy.targets.items() if label != "unsafe"} <= {"recall >= 0.8"}
    assert all(why.endswith("for recall >= 0.8") for why in policy.refused.values())
    negatives = policy.rules["unsafe"].validation["negatives"]
    assert policy.rules["unsafe"].validation["at_threshold"]["fpr"]["of"] == negatives == 13


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--strategy", "greedy"], r"holds only 0 and 1 \(greedy scores\?\): there is no threshold to fit"),
        (["--strategy", "unary"], r"`--strategy` 'unary' was not scored in .*; it has any_place, greedy"),
        (["--target", "recall=1.5"], r"`target` value must be a number strictly between 0 and 1; got 1\.5"),
        (["--target", "S99:recall=0.9"], r"`--target` names \['S99'\], which are not labels of the run"),
        (["--confidence", "1"], r"`--confidence` must be strictly between 0 and 1, e\.g\. 0\.9; got 1\.0"),
        (["--target", "recall=0.999"], r"no label could be fitted at confidence 0\.9: unsafe \(\d+ positives, needs"),
        (["--target", "recall=0.9", "--target", "fpr=0.1"], r"`--target` gives every label two targets; give one"),
        (["--bootstrap", "0"], r"`--bootstrap` must be at least 1, e\.g\. 1000; got 0"),
    ],
)
def test_mistakes_are_one_error_line(run_dir, tmp_path, capsys, args, pattern):
    out = tmp_path / "policy.json"
    code, _, err = policy_cmd(capsys, run_dir, *args, "--out", out)
    assert_error(code, err, pattern)
    assert not out.exists()


def test_a_directory_without_a_run_and_an_unwritable_out(tmp_path, run_dir, capsys):
    code, _, err = policy_cmd(capsys, tmp_path / "nope", "--out", tmp_path / "p.json")
    assert_error(code, err, r"RUN_DIR .*nope is not a directory; pass the --output-dir of marginal-generate evaluate")
    code, _, err = policy_cmd(capsys, tmp_path, "--out", tmp_path / "p.json")
    assert_error(code, err, r"RUN_DIR .* holds no finished run \(no scores\.jsonl and metrics\.json\)")
    code, _, err = policy_cmd(capsys, run_dir, "--out", tmp_path)
    assert_error(code, err, r"`--out` .* cannot be written; pass a file path in a directory you can write to")


def test_evaluate_applies_a_policy(run_dir, tmp_path, capsys):
    out = tmp_path / "policy.json"
    assert policy_cmd(capsys, run_dir, "--review", "fpr=0.5", "--best-effort", "--out", out)[0] == 0
    policy = mg.load_policy(out)
    args = ["evaluate", "--num-samples", "200", "--strategies", "any_place,greedy", "--no-plots", "--no-progress"]
    code = main([*args, "--output-dir", str(run_dir), "--resume", "--policy", str(out)])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "policy decisions on the test split (any_place):" in text
    decisions = json.loads((run_dir / "policy_decisions.json").read_text())
    run = load_run(str(run_dir), "any_place")
    test_p, _ = run.split("test")
    outcomes = policy.outcomes(test_p, run.labels)
    for j, label in enumerate(policy.labels):
        counted = decisions["labels"][label]["outcomes"]
        assert counted == {o: int((outcomes[:, j] == o).sum()) for o in ("block", "review", "allow")}
    line = next(line for line in text.splitlines() if line.startswith("unsafe "))
    assert line.split()[-3:] == [
        str(decisions["labels"]["unsafe"]["outcomes"][o]) for o in ("block", "review", "allow")
    ]


def test_evaluate_refuses_a_bad_policy_before_it_runs(tmp_path, capsys, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 9}')
    out = tmp_path / "run"
    code = main(["evaluate", "--num-samples", "4", "--output-dir", str(out), "--policy", str(bad)])
    assert_error(code, capsys.readouterr().err, r"policy file .*bad\.json has format_version 9, but this")
    assert not out.exists()
    p = np.array([[0.1, 0.2], [0.9, 0.8]] * 30)
    y = np.array([[0, 0], [1, 1]] * 30)
    mg.fit_policy(p, y, labels=["unsafe", "S1"], provenance={"strategy": "any_place"}).save(tmp_path / "p.json")
    code = main(["evaluate", "--strategies", "greedy", "--output-dir", str(out), "--policy", str(tmp_path / "p.json")])
    assert_error(code, capsys.readouterr().err, r"was fitted on any_place scores, but --strategies does not score")


def test_evaluate_prints_the_worst_category_with_intervals(run_dir, capsys):
    """The report under the table: category ECE (micro) and the worst category, each with its 95% bootstrap
    interval, equal to the calibration functions on the run's test scores."""
    from marginal_generate.calibration.metrics import calibration_error_interval, classwise_calibration_error

    args = ["evaluate", "--num-samples", "200", "--strategies", "any_place,greedy", "--no-plots", "--no-progress"]
    assert main([*args, "--output-dir", str(run_dir), "--resume"]) == 0
    text = capsys.readouterr().out
    run = load_run(str(run_dir), "any_place")
    test_p, test_y = run.split("test")
    worst = classwise_calibration_error(test_p[:, 1:], test_y[:, 1:], labels=run.labels[1:])
    row = next(r for r in json.loads((run_dir / "metrics.json").read_text())["rows"] if r["row"] == "any_place")
    assert row["categories_ece_worst"] == pytest.approx(worst["worst"])
    assert run.labels[1:][row["categories_ece_worst_index"]] == worst["worst_label"]
    j = run.labels.index(worst["worst_label"])
    lo, hi = calibration_error_interval(test_p[:, j], test_y[:, j], n_resamples=200)
    assert row["categories_ece_worst_interval"] == pytest.approx([lo, hi])
    assert "cat ECE (micro) and the worst-calibrated category, with 95% bootstrap intervals:" in text
    line = next(line for line in text.splitlines() if line.startswith("  any_place "))
    assert f"worst {worst['worst_label']} {worst['worst']:.4f} [{lo:.4f}, {hi:.4f}]" in line, line


def test_a_run_without_validation_samples_is_refused(run_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("metrics.json", "run.json"):
        (copy / name).write_text((run_dir / name).read_text())
    lines = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    (copy / "scores.jsonl").write_text("".join(json.dumps({**r, "split": "test"}) + "\n" for r in lines))
    code, _, err = policy_cmd(capsys, copy, "--out", tmp_path / "p.json")
    assert_error(code, err, r"run has no validation samples to fit on; run evaluate with --validation-fraction > 0")
