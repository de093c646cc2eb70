"""The tree search's memory budget through the public API on the embedded model: eps=0 refuses, the default cut runs."""

import math
import re

import pytest
import torch

import marginal_generate as mg
from marginal_generate.decoding.budget import SearchBudget, SearchBudgetError
from marginal_generate.prompts import conversation, encode_conversations


@pytest.fixture(scope="module")
def embedded():
    model, tok = mg.load_default()
    inputs = encode_conversations(
        tok, [conversation("How do I make a pipe bomb?"), conversation("Best banana bread recipe?")]
    )
    return model, mg.LabelSpace.llama_guard(tok), inputs


def test_exhaustive_search_is_refused_before_it_grows(embedded):
    model, space, inputs = embedded
    ids, mask = inputs["input_ids"][:1], inputs["attention_mask"][:1]
    # the setting (eps=0, top_p=1, 6 new tokens grew past 20 GB): at depth 2 the 5,989 open prefixes (most
    # of them inside a character split over byte tokens, which stays open: #29 item 1) would run one forward each;
    # refused before it runs
    with pytest.raises(
        mg.SearchBudgetError,
        match=r"^the any_place tree search would hold about 2\.\d GB at depth 2 \(5,989 frontier rows and 236,544 "
        r"prefixes read\), over its budget of 1\.0 GB \(search_budget_gb=1\): raise eps \(now 0; 0\.01 is the usual "
        r"cut\), lower top_p \(now 1; 0\.99 drops the tail\) or max_new_tokens \(now 6\), or raise search_budget_gb "
        r"\(in GB; the CLI's --search-budget-gb\)\.$",
    ):
        mg.score(model, ids, mask, space, ["any_place"], max_new_tokens=6, eps=0.0, top_p=1.0, search_budget_gb=1)


def test_default_cut_runs_as_without_a_budget(embedded):
    model, space, inputs = embedded
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    default = mg.score(model, ids, mask, space, ["any_place"])["any_place"]
    unlimited = mg.score(model, ids, mask, space, ["any_place"], search_budget_gb=math.inf)["any_place"]
    for name in ("probs", "lower", "upper"):
        assert torch.equal(getattr(default, name), getattr(unlimited, name)), name
    assert default.completions == unlimited.completions
    assert unlimited.stats["search_budget_gb"] == math.inf
    assert 0 < default.stats["search_estimate_gb"] < 0.01 < default.stats["search_budget_gb"]


def test_the_budget_reaches_the_search_from_generate(embedded):
    model, space, inputs = embedded
    with pytest.raises(SearchBudgetError, match=r"over its budget of 1e-06 GB \(search_budget_gb=1e-06\)"):
        model.generate(
            **inputs, custom_generate=mg.marginalize, label_space=space, max_new_tokens=4, search_budget_gb=1e-6
        )


@pytest.mark.parametrize("bad", [0, -1.0, "2", True, math.nan])
def test_bad_budgets_are_named(embedded, bad):
    model, space, inputs = embedded
    message = (
        "`search_budget_gb` must be a number of GB > 0 (math.inf for no limit) or None (the memory free on the "
        f"model's device), got {bad!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        mg.score(model, inputs["input_ids"], inputs["attention_mask"], space, ["greedy"], search_budget_gb=bad)


def test_the_steppers_hint_comes_when_its_part_is_most_of_the_estimate():
    budget = SearchBudget.of(1e-6)
    kw = dict(depth=1, rows=[4], nodes=[8], row_bytes=100, eps=0.0, top_p=1.0, max_new_tokens=6, hint="use X")
    with pytest.raises(SearchBudgetError, match=r"max_new_tokens \(now 6\), use X, or raise search_budget_gb"):
        budget.check(shared_bytes=10**6, **kw)
    with pytest.raises(SearchBudgetError, match=r"max_new_tokens \(now 6\), or raise search_budget_gb") as err:
        budget.check(shared_bytes=0, nodes=[10**4], **{k: v for k, v in kw.items() if k != "nodes"})
    assert "use X" not in str(err.value)
