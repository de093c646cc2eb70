"""params.yaml: seed shape, aliases, per-model precedence, and errors that name the key."""

from __future__ import annotations

import textwrap

import pytest

from marginal_generate.evaluation.params import (
    ALL_STRATEGIES,
    DEFAULT_PARAMS,
    StrategyParams,
    canonical_strategy,
    check_model_keys,
    load_params,
    parse_params,
)

SEED_FILE = """
strategies:
  greedy_generation:
    max_new_tokens: 20
  marginal_probability_at_any_place:
    top_p: 0.99
    max_new_tokens: 50
    eps: 0.01
  marginal_probability_at_fixed_place:
    max_new_tokens: 50
  token_probability:
    max_new_tokens: 50
  probability_uncertainty:
    threshold: 0.3
  entropy_uncertainty:
    threshold: 1.2
  LogTokU:
    threshold: 0.5
models:
  meta-llama/Llama-3.1-8B-Instruct:
    top_p: 0.9
"""


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_file_covers_every_strategy():
    resolved = load_params(DEFAULT_PARAMS).for_model(None)
    assert set(resolved) == set(ALL_STRATEGIES)
    assert resolved["any_place"] == StrategyParams(top_p=0.99, eps=0.01, max_new_tokens=20, threshold=0.5)
    assert all(resolved[s].threshold is None for s in ("probability_uncertainty", "entropy_uncertainty", "logtoku"))


def test_seed_file_works_unchanged(tmp_path):
    params = load_params(write(tmp_path, SEED_FILE))
    plain = params.for_model("some/other-model")
    assert plain["any_place"].max_new_tokens == 50 and plain["any_place"].top_p == 0.99
    assert plain["fixed_place"].max_new_tokens == 50 and plain["greedy"].max_new_tokens == 20
    assert plain["logtoku"].threshold == 0.5 and plain["entropy_uncertainty"].threshold == 1.2
    instruct = params.for_model("meta-llama/Llama-3.1-8B-Instruct")
    assert instruct["any_place"].top_p == 0.9 and instruct["any_place"].eps == 0.01
    assert params.for_model("/models/Llama-3.1-8B-Instruct")["greedy"].top_p == 0.9  # a local copy matches by name


def test_model_strategy_overrides_take_precedence():
    params = parse_params(
        {
            "strategies": {"any_place": {"eps": 0.05, "top_p": 0.95}},
            "models": {"m": {"eps": 0.02, "strategies": {"marginal_probability_at_any_place": {"eps": 0.001}}}},
        }
    )
    assert params.for_model("m")["any_place"] == StrategyParams(top_p=0.95, eps=0.001, max_new_tokens=20, threshold=0.5)
    assert params.for_model("m")["greedy"].eps == 0.02
    assert params.for_model("x")["any_place"].eps == 0.05
    assert list(params.for_model("m", ["LogTokU", "greedy_generation"])) == ["logtoku", "greedy"]


@pytest.mark.parametrize(
    "data, match",
    [
        ({"strategies": {"greedy": {"temperature": 1.0}}}, r"strategies\.greedy has unknown key 'temperature'"),
        ({"strategies": {"beam_search": {}}}, r"strategies has unknown key 'beam_search'"),
        ({"strategy": {}}, r"unknown top-level key 'strategy'"),
        ({"models": {"m": {"top_k": 5}}}, r"models\.m has unknown key 'top_k'"),
        (
            {"models": {"m": {"strategies": {"any_place": {"beam": 2}}}}},
            r"models\.m\.strategies\.any_place has unknown key 'beam'",
        ),
        ({"strategies": {"any_place": {"top_p": 1.5}}}, r"any_place\.top_p must be a number in \(0, 1\], got 1\.5"),
        ({"strategies": {"any_place": {"eps": -0.1}}}, r"eps must be a number in \[0, 1\)"),
        ({"strategies": {"greedy": {"max_new_tokens": 0}}}, r"max_new_tokens must be an integer >= 1, got 0"),
        (
            {"strategies": {"greedy": {"threshold": "auto"}}},
            r"greedy\.threshold is 'auto', but only the uncertainty baselines",
        ),
        ({"strategies": {"greedy": {"threshold": 2}}}, r"threshold must be a probability in \[0, 1\], got 2"),
        ({"strategies": {"logtoku": {"threshold": -1}}}, r"threshold must be a number >= 0 or 'auto'"),
        ({"strategies": {"greedy": 3}}, r"strategies\.greedy must be a mapping"),
        ([1, 2], r"must hold a mapping"),
    ],
)
def test_bad_params_name_the_key(data, match):
    with pytest.raises(ValueError, match=match):
        parse_params(data)


def test_file_errors(tmp_path):
    with pytest.raises(ValueError, match=r"is not a file"):
        load_params(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match=r"is not valid YAML"):
        load_params(write(tmp_path, "strategies: [unclosed\n"))
    with pytest.raises(ValueError, match=r"unknown key 'tempreature'"):
        load_params(write(tmp_path, "strategies:\n  greedy:\n    tempreature: 1\n"))


def test_aliases():
    assert canonical_strategy("marginal_probability_at_any_place") == "any_place"
    assert canonical_strategy("marginal_probability_at_fixed_place") == "fixed_place"
    with pytest.raises(ValueError, match=r"unknown strategy 'nucleus'"):
        canonical_strategy("nucleus")


def test_a_user_file_is_merged_over_the_shipped_one_key_by_key(tmp_path):
    shipped = load_params().for_model(None)
    own = load_params(write(tmp_path, "strategies:\n  any_place:\n    top_p: 0.9\n")).for_model(None)
    assert own["any_place"].top_p == 0.9
    assert (
        own["any_place"].eps == shipped["any_place"].eps
        and own["any_place"].max_new_tokens == shipped["any_place"].max_new_tokens
    )
    assert own["per_category_prompt"].max_new_tokens == shipped["per_category_prompt"].max_new_tokens == 8
    assert own["logtoku"].threshold is None  # the shipped 'auto' stays
    assert {k: v for k, v in own.items() if k != "any_place"} == {k: v for k, v in shipped.items() if k != "any_place"}
    instruct = "meta-llama/Llama-3.1-8B-Instruct"  # the shipped file's model entry (top_p 0.9) stays too
    assert (
        load_params(write(tmp_path, "strategies:\n  greedy:\n    threshold: 0.4\n"))
        .for_model(instruct)["any_place"]
        .top_p
        == 0.9
    )
    alone = load_params(
        write(tmp_path, "strategies:\n  logtoku:\n    threshold: 0.3\n"), over_defaults=False
    ).strategies
    assert alone == {"logtoku": {"threshold": 0.3}}


def test_models_keys_that_match_no_model_are_refused(tmp_path):
    from marginal_generate.default_model import DEFAULT_MODEL

    seed = load_params(write(tmp_path, SEED_FILE), over_defaults=False)
    check_model_keys(seed, "meta-llama/Llama-3.1-8B-Instruct")
    check_model_keys(seed, "/models/Llama-3.1-8B-Instruct")  # a local copy matches by its last path component
    with pytest.raises(
        ValueError,
        match=r"params: .*params\.yaml sets models \['meta-llama/Llama-3\.1-8B-Instruct'\], and none of them is this "
        r"run's model \('meta-llama/Llama-Guard-3-8B'\); a key matches the --model id or path",
    ):
        check_model_keys(seed, "meta-llama/Llama-Guard-3-8B")
    with pytest.raises(ValueError, match=r"\(the embedded tiny guard, key tiny-guard\)"):
        check_model_keys(seed, None)
    two = parse_params({"models": {"meta-llama/Llama-3.1-8B-Instruct": {"top_p": 0.9}, "tiny-guard": {"eps": 0.05}}})
    check_model_keys(two, None)  # a file for several models passes when one of them is the run's
    check_model_keys(parse_params({"strategies": {"greedy": {"max_new_tokens": 5}}}), "any/model")
    by_path = parse_params({"models": {DEFAULT_MODEL: {"eps": 0.05}}})
    assert by_path.for_model(None)["any_place"].eps == 0.05 == two.for_model(None)["any_place"].eps
