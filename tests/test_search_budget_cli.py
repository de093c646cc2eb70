"""The tree search's memory budget from the command line: ``evaluate --search-budget-gb`` (and the label-list
alias), params.yaml's ``search_budget_gb:`` (the flag wins), ``serve --search-budget-gb`` and the 400 a request
gets when its search would pass it. Bad values are one line and exit status 2."""

from __future__ import annotations

import re

import pytest

from marginal_generate.cli import main

BASE = ["evaluate", "--num-samples", "4", "--no-progress", "--no-plots", "--strategies", "any_place"]
REFUSED = r"over its budget of 1e-06 GB \(search_budget_gb=1e-06\)"


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and not any("Traceback" in line for line in err), err
    return err[-1]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan"])
@pytest.mark.parametrize("command", [["evaluate"], ["evaluate-labels", "--labels", "joy,anger"], ["serve"]])
def test_bad_budget_flags_are_one_line(tmp_path, capsys, command, value):
    out = tmp_path / "run"
    assert (
        main([*command, "--search-budget-gb", value, *(["--output-dir", str(out)] if command != ["serve"] else [])])
        == 2
    )
    assert error_line(capsys) == (
        f"marginal-generate: error: --search-budget-gb '{value}' is not a number of GB above 0; give e.g. 4, inf for "
        "no limit, or leave it out for the memory free on the model's device."
    )
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "abc", "-2.5", "true"])
def test_bad_params_budget_is_one_line_that_names_the_file(tmp_path, capsys, value):
    params = tmp_path / "params.yaml"
    params.write_text(f"search_budget_gb: {value}\n")
    assert main([*BASE, "--params", str(params), "--output-dir", str(tmp_path / "run")]) == 2
    shown = {"abc": "'abc'", "true": "True"}.get(value, value if value != "-2.5" else "-2.5")
    assert error_line(capsys) == (
        f"marginal-generate: error: params: {params} search_budget_gb must be a number of GB above 0 (.inf for no "
        f"limit), got {shown}; e.g. search_budget_gb: 4, or leave it out for the memory free on the model's device."
    )
    assert not (tmp_path / "run" / "scores.jsonl").exists()


def test_the_flag_and_the_params_key_reach_the_search_and_the_flag_wins(tmp_path, capsys):
    # a budget of 1 kB refuses every any_place search at its first depth: the run fails, naming the budget
    assert main([*BASE, "--search-budget-gb", "1e-6", "--output-dir", str(tmp_path / "flag")]) == 2
    assert re.search(r"all 4 samples failed.*SearchBudgetError: .*" + REFUSED, error_line(capsys))
    params = tmp_path / "params.yaml"
    params.write_text("search_budget_gb: 1.0e-6\n")
    assert main([*BASE, "--params", str(params), "--output-dir", str(tmp_path / "file")]) == 2
    assert re.search(REFUSED, error_line(capsys))
    # the flag wins over the file: 100 GB holds the default cut's search
    assert (
        main([*BASE, "--params", str(params), "--search-budget-gb", "100", "--output-dir", str(tmp_path / "both")]) == 0
    )
    assert "done: 4 samples (4 scored now, 0 from an earlier run; 0 of them failed)" in capsys.readouterr().out


def test_serve_budget_refuses_a_request_with_an_error_body_and_keeps_serving():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from marginal_generate.serving import create_app
    from marginal_generate.serving.command import build_parser, load_service

    service = load_service(build_parser().parse_args(["--search-budget-gb", "1e-6"]))
    assert service.scorer.search_budget_gb == 1e-6
    with TestClient(create_app(service)) as client:
        refused = client.post("/v1/moderations", json={"input": "How do I make a pipe bomb at home?"})
        greedy = client.post(
            "/v1/classify", json={"input": [{"role": "user", "content": "hi"}], "strategy": "greedy"}
        )  # no tree search: the budget does not apply
        health = client.get("/health")
    error = refused.json()["error"]
    assert refused.status_code == 400 and (error["code"], error["param"]) == ("search_budget_exceeded", "input")
    assert error["type"] == "invalid_request_error"
    assert re.match(
        r"this request's search does not fit the server's memory budget: the any_place tree search ", error["message"]
    )
    assert re.search(REFUSED, error["message"])
    assert ".;" not in error["message"]  # the budget's sentence and the server's are joined by one mark
    assert error["message"].endswith(
        "eps, top_p, max_new_tokens and the budget are the server's settings (--eps, --top-p, --max-new-tokens, "
        "--search-budget-gb): send fewer or shorter inputs per request, or ask the operator to change them."
    )
    assert greedy.status_code == 200 and health.json()["status"] == "ok"
