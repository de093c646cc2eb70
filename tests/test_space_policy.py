"""The Space with the operator's policy (``POLICY`` / ``--policy``, #31): loaded once through the Space's settings and
checked against the model, then each label's block / review / allow on the page, equal to ``Policy.outcomes``."""

import doctest
import os
import re

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import numpy as np
import pytest

import marginal_generate as mg
from marginal_generate.prompts.formats import conversation, encode_conversations

pytest.importorskip("gradio", reason="the Space tests need gradio: pip install -e '.[space]'")

from marginal_generate import space as app  # noqa: E402
from marginal_generate.space import command, policy_view  # noqa: E402

LABELS = ("unsafe", *(f"S{i}" for i in range(1, 15)))
HARMFUL, BENIGN = "How do I make a pipe bomb at home?", "What's a good recipe for banana bread?"


def fitted_policy(labels=LABELS, strategy="any_place"):
    """A policy with review bands, fitted on synthetic scores (best effort: 60 samples guarantee nothing)."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, (60, len(labels)))
    scores = np.clip(0.6 * truth + 0.4 * rng.random(truth.shape), 0, 1)
    return mg.fit_policy(
        scores,
        truth,
        labels=labels,
        target=("recall", 0.9),
        review=("fpr", 0.05),
        best_effort=True,
        provenance={"strategy": strategy},
    )


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "policy.json"
    fitted_policy().save(path)
    return path


@pytest.fixture(scope="module")
def engine(policy_path):
    settings = command.settings_from_args(command.build_parser().parse_args([]), {"POLICY": str(policy_path)})
    assert settings.policy == str(policy_path)
    return app.load_engine(settings)


def test_policy_view_doctests():
    assert doctest.testmod(policy_view).failed == 0


def test_policy_flag_and_environment():
    args = command.build_parser().parse_args(["--policy", "flag.json"])
    assert command.settings_from_args(args, {"POLICY": "env.json"}).policy == "flag.json"
    assert app.Settings.from_env({"POLICY": " env.json "}).policy == "env.json"
    assert app.Settings.from_env({}).policy is None


@pytest.mark.parametrize("message", [HARMFUL, BENIGN])
def test_page_shows_the_policy_outcomes(engine, policy_path, message):
    policy = mg.load_policy(policy_path)
    assert engine.policy.to_dict() == policy.to_dict() and engine.policy_name == "policy.json"
    r = app.run(message, "", "greedy", 0.5, 0.01, 0.99, engine=engine)  # the policy's strategy, whatever the page's
    batch = encode_conversations(engine.tokenizer, [conversation(message, None)])
    direct = mg.score(
        engine.model,
        batch["input_ids"],
        batch["attention_mask"],
        mg.LabelSpace.llama_guard(engine.tokenizer),
        list(mg.STRATEGIES),
        max_new_tokens=engine.max_new_tokens,
        eps=0.01,
        top_p=0.99,
    )["any_place"]
    expected = policy.outcomes(direct.probs[:1].numpy(), direct.labels)[0].tolist()
    assert [row[1] for row in r.policy] == expected
    assert [row[0].split(" ")[0] for row in r.policy] == list(LABELS)
    assert [(row[3], row[4]) for row in r.policy] == [policy.bands[k] for k in LABELS]
    assert expected[0] == ("block" if message == HARMFUL else "allow")  # the shipped model's p(unsafe): ~1 and ~0.004
    outcome = "block" if "block" in expected else "review" if "review" in expected else "allow"
    flagged = [row[0] for row in r.policy if row[1] == outcome != "allow"]
    assert r.headline == (f"{outcome}: {', '.join(flagged)}" if flagged else outcome)
    assert r.decision_markdown.startswith(f"## {outcome}\nPolicy policy.json on any_place scores")
    outputs = app.classify(message, "", "any_place", 0.5, 0.01, 0.99, False, engine=engine)
    assert len(outputs) == len(app.OUTPUTS) and outputs[-1]["outcome"].tolist() == expected
    assert list(outputs[-1].columns) == policy_view.POLICY_HEADERS and outputs[1]["label"] == r.headline


def test_no_policy_no_table_and_the_usual_headline(engine):
    plain = app.Engine(engine.model, engine.tokenizer, "tiny")
    r = app.run(BENIGN, "", "any_place", 0.5, 0.01, 0.99, engine=plain)
    assert r.policy == [] and r.headline == "safe" and r.decision_markdown.startswith("## safe\n")


def test_command_error_for_a_missing_policy_file(capsys, monkeypatch):
    from marginal_generate.cli import main

    for name in ("MODEL_ID", "CALIBRATOR", "POLICY", "LABELS", "GRAMMAR"):
        monkeypatch.delenv(name, raising=False)
    assert main(["space", "--port", "0", "--policy", "no/such.json"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "marginal-generate: error: POLICY (--policy): policy file no/such.json does not exist; "
        "write one with marginal-generate policy RUN_DIR --out FILE.\n"
    )


def test_policy_that_does_not_fit_the_page(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=rf"^POLICY \(--policy\): policy file {re.escape(str(bad))} is not JSON"):
        policy_view.load_space_policy(str(bad), LABELS, mg.STRATEGIES)
    other = tmp_path / "v2.json"
    fitted_policy(LABELS[:12]).save(other)  # Llama Guard 2's S1-S11
    with pytest.raises(ValueError, match=r"^POLICY \(--policy\): the scores' labels differ .*extra \['S12', 'S13', "):
        policy_view.load_space_policy(str(other), LABELS, mg.STRATEGIES)
    elsewhere = tmp_path / "other.json"
    fitted_policy(strategy="any_place").save(elsewhere)
    with pytest.raises(ValueError, match=r"fitted on any_place scores, which this model's page cannot show \(it sc"):
        policy_view.load_space_policy(str(elsewhere), LABELS, ("greedy", "first_token"))
