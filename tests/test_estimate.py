"""The any_place estimate's pieces on hand-made cut children: what each kind of dropped child gives."""

import math

import pytest
import torch

import marginal_generate as mg
from marginal_generate.decoding.estimate import (
    CutEstimator,
    EstimateParams,
    check_estimate,
    grammar_estimate,
    open_item,
)
from marginal_generate.labels import LabelSpace
from marginal_generate.labels.fields import Field
from marginal_generate.testing import tiny_llama, word_level_tokenizer

TOK = word_level_tokenizer(["safe", "unsafe", "S1", "S2", "S10", ",", "\n", "x"])
SPACE = LabelSpace(TOK, categories=["S1", "S2", "S10"])
ID = {t: TOK.convert_tokens_to_ids(t) for t in ["safe", "unsafe", "S1", "S2", "S10", ",", "\n", "x", "<eos>"]}
EOS = {ID["<eos>"]}
LINE = (ID["unsafe"], ID["\n"])  # "unsafe\n": unsafe confirmed, every category still possible
ZERO, ONE = torch.zeros(1, 4, dtype=torch.float64), torch.ones(1, 4, dtype=torch.float64)


def estimator(eps=0.1, **params):
    return CutEstimator(SPACE, 1, EOS, max_new_tokens=10, eps=eps, params=EstimateParams(**params))


def cut(est, tokens, dropped, depth=None):
    state = SPACE.prefix_state(SPACE.decode(tokens), finished=False)
    return est.on_cut(0, tokens, state, dropped, len(tokens) if depth is None else depth)


def given(est, lower=ZERO, upper=ONE):
    return dict(zip(SPACE.labels, est.estimate(lower, upper)[0].tolist()))


def test_confirming_and_written_children_give_their_mass():
    est = estimator(rollout=None, answers=False)
    # "unsafe\nS1" + ",": confirms S1; "unsafe\nS1" + EOS: confirms S1 (end of answer)
    cut(est, LINE + (ID["S1"],), [(ID[","], 0.03), (ID["<eos>"], 0.02)])
    # "unsafe\n" + "S2": S2 written, not closed yet
    cut(est, LINE, [(ID["S2"], 0.04)])
    assert given(est) == pytest.approx({"unsafe": 0.0, "S1": 0.05, "S2": 0.04, "S10": 0.0})
    assert est.children_read == 3 and est.rollouts == 0


def test_children_lighter_than_the_floor_and_decided_children_give_nothing():
    est = estimator(eps=0.1, floor=0.5, rollout=None)  # floor: 0.05
    cut(est, LINE, [(ID["S2"], 0.049)])
    cut(est, (), [(ID["safe"], 0.3)])  # "safe": nothing can be added any more
    assert given(est) == pytest.approx({"unsafe": 0.0, "S1": 0.0, "S2": 0.0, "S10": 0.0})
    assert est.children_read == 1


def test_explored_answers_vote_on_the_labels_a_child_may_still_add():
    for backoff in (False, True):
        est = estimator(rollout=None, backoff=backoff)
        cut(est, LINE + (ID["S1"],), [(ID[","], 0.04)])  # "unsafe\nS1,": S1 confirmed, more may follow
        cut(est, LINE, [(ID["S10"], 0.02)])  # "unsafe\nS10": S10 written; no explored answer has it
        cut(est, LINE, [(ID["x"], 0.01)])  # "unsafe\nx": the item can no longer be a label: no vote
        est.on_answer(0, frozenset({"unsafe", "S1", "S2"}), 0.3)
        est.on_answer(0, frozenset({"unsafe", "S1"}), 0.1)
        est.on_answer(0, frozenset({"unsafe", "S2"}), 0.5)
        assert len(est.votes) == 2
        # S1: confirmed by its child (0.04); S2: 0.04 * 0.3 / 0.4 from the answers containing S1; S10: written (0.02)
        expected = {"unsafe": 0.0, "S1": 0.04, "S2": 0.03, "S10": 0.02}
        if backoff:  # S10's child gets half (backoff_weight) the votes of the answers holding what "unsafe\n" had
            expected["S1"] += 0.5 * 0.02 * 0.4 / 0.9  # confirmed: all three
            expected["S2"] += 0.5 * 0.02 * 0.8 / 0.9
        assert given(est) == pytest.approx(expected)


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_backed_off_votes_count_at_backoff_weight(weight):
    """A child that wrote a label no explored answer has gets ``backoff_weight`` of the votes of the answers that hold
    what its cut node had confirmed: it has already written a label none of them has, so it goes on less often."""
    est = estimator(rollout=None, backoff_weight=weight)
    cut(est, LINE, [(ID["S10"], 0.02)])  # "unsafe\nS10": S10 written; no explored answer holds S10
    est.on_answer(0, frozenset({"unsafe", "S1", "S2"}), 0.3)
    est.on_answer(0, frozenset({"unsafe", "S1"}), 0.1)
    est.on_answer(0, frozenset({"unsafe", "S2"}), 0.5)
    # the answers holding {unsafe} (all three, 0.9) add S1 in 0.4 and S2 in 0.8 of their mass
    expected = {"unsafe": 0.0, "S1": weight * 0.02 * 0.4 / 0.9, "S2": weight * 0.02 * 0.8 / 0.9, "S10": 0.02}
    assert given(est) == pytest.approx(expected)


@pytest.mark.parametrize(("weight", "scale", "s10"), [(1.0, 0.6, 0.05 + 0.6 * 0.02), (0.5, 1.0, 0.05 + 0.02)])
def test_the_calibration_compares_a_roll_out_with_the_weighted_backed_off_votes(weight, scale, s10):
    tok = word_level_tokenizer(["safe", "unsafe", "S1", "S2", "S10", "0", ",", "\n"])
    space = LabelSpace(tok, categories=["S1", "S2", "S10"])
    ids = {t: tok.convert_tokens_to_ids(t) for t in ["unsafe", "\n", "S1", "S2", "0"]}
    est = CutEstimator(
        space, 1, {tok.eos_token_id}, 10, eps=0.1, params=EstimateParams(rollout=1.0, probe=0.3, backoff_weight=weight)
    )
    line = (ids["unsafe"], ids["\n"])
    state = space.prefix_state("unsafe\n", finished=False)
    # "unsafe\nS1" (0.05, S1 written) is the row's probe: rolled out, it writes "0" (S10) and ends
    [(tokens, child_state, mass)] = est.on_cut(0, line, state, [(ids["S1"], 0.05)], depth=2)
    step = est.advance(0, tokens, child_state, mass, ids["0"], depth=2)
    assert step is not None and est.advance(0, *step, mass, tok.eos_token_id, depth=3) is None
    est.on_cut(0, line, state, [(ids["S2"], 0.02)], depth=2)  # "unsafe\nS2": votes
    est.on_answer(0, frozenset({"unsafe"}), 0.1)
    est.on_answer(0, frozenset({"unsafe", "S2", "S10"}), 0.6)
    out = est.estimate(torch.zeros(1, 4, dtype=torch.float64), torch.ones(1, 4, dtype=torch.float64))
    # the probe's check: no explored answer holds S1, so those holding {unsafe} (0.1, 0.6 and the probe's own 0.05)
    # would have said weight * 0.05 * (0.6 * 2 + 0.05 * 1) / 0.75 open labels; it found one (S10): the scale is
    # min(1, 0.05 / that) = 0.6 at weight 1, 1 at weight 0.5; "unsafe\nS2"'s pool (the 0.6 answer) adds S10
    assert est.scales == {0: pytest.approx(scale)}
    assert out[0].tolist() == pytest.approx([0.0, 0.0, 0.02, s10])


def test_heavy_children_are_rolled_out_and_give_their_mass_to_the_answer_they_reach():
    est = estimator(eps=0.1, rollout=0.5, backoff=False)  # roll-outs from 0.05
    started = cut(est, LINE, [(ID["S1"], 0.06), (ID["S2"], 0.04)])
    assert [(tokens, mass) for tokens, _, mass in started] == [(LINE + (ID["S1"],), 0.06)]
    tokens, state, mass = started[0]
    step = est.advance(0, tokens, state, mass, ID[","], depth=3)  # "unsafe\nS1,": S1 confirmed
    assert step is not None
    step = est.advance(0, *step, mass, ID["S10"], depth=4)
    assert est.advance(0, *step, mass, ID["<eos>"], depth=5) is None  # S10 confirmed at the end
    assert given(est) == pytest.approx({"unsafe": 0.0, "S1": 0.06, "S2": 0.04, "S10": 0.06})
    assert est.rollouts == 1
    # the roll-out's answer {unsafe, S1, S10} now votes for a lighter child that wrote S1 elsewhere in the tree
    assert est.answers[0] == {frozenset({"unsafe", "S1", "S10"}): 0.06}
    cut(est, (ID["\n"], ID["unsafe"], ID["\n"]), [(ID["S1"], 0.02)])
    assert given(est) == pytest.approx({"unsafe": 0.0, "S1": 0.08, "S2": 0.04, "S10": 0.08})


def test_a_stopped_roll_out_gives_what_it_holds_and_neither_checks_nor_votes():
    est = estimator(eps=0.1, rollout=0.5, backoff=False)
    (tokens, state, mass), *_ = cut(est, LINE, [(ID["S1"], 0.06)])
    tokens, state = est.advance(0, tokens, state, mass, ID[","], depth=3)  # "unsafe\nS1,": S1 confirmed
    tokens, state = est.advance(0, tokens, state, mass, ID["S2"], depth=4)  # "unsafe\nS1,S2": S2 written
    est.stop(0, tokens, state, mass)  # EstimateParams.tail: stopped here, before its end
    assert given(est) == pytest.approx({"unsafe": 0.0, "S1": 0.06, "S2": 0.06, "S10": 0.0})
    assert est.answers[0] == {} and est._checks == [] and est._live == {}  # no answer seen: no vote, no check


def test_no_roll_outs_without_eps():
    est = estimator(eps=0.0, rollout=0.5)
    assert est.rollout_mass == math.inf
    assert cut(est, LINE, [(ID["S1"], 0.3)]) == []


def test_the_estimate_stays_between_the_bounds():
    est = estimator(rollout=None, answers=False)
    cut(est, LINE, [(ID["S2"], 0.04)])
    lower = torch.tensor([[0.5, 0.1, 0.2, 0.0]], dtype=torch.float64)
    upper = torch.tensor([[0.5, 0.1, 0.23, 0.0]], dtype=torch.float64)
    assert est.estimate(lower, upper).tolist() == [[0.5, 0.1, 0.23, 0.0]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(per_node=-1), r"`per_node` must be an integer >= 0, got -1; 12 looks at"),
        (dict(per_node=2.5), r"`per_node` must be an integer >= 0, got 2.5"),
        (dict(floor=2.0), r"`floor` must be in \[0, 1\] \(a fraction of eps\), got 2.0; 0.01 is the default"),
        (dict(backoff_weight=1.5), r"`backoff_weight` must be in \[0, 1\], got 1.5; 0.5 is the default \(1: the"),
        (dict(rollout=-0.5), r"`rollout` must be in \[0, 1\] \(a fraction of eps\) or None, got -0.5"),
        (dict(probe=1.5), r"`probe` must be in \[0, 1\] \(a fraction of eps\) or None, got 1.5; 0.3 is the default"),
        (dict(settled=0.7), r"`settled` must be in \[0, 0.5\] or None, got 0.7; 0.05 is the default"),
        (dict(tail=-1), r"`tail` must be an integer >= 0 or None, got -1; 2 \(the default\) lets roll-outs run two"),
        (dict(tail=True), r"`tail` must be an integer >= 0 or None, got True"),
    ],
)
def test_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EstimateParams(**kwargs)


def test_bad_estimate_name():
    with pytest.raises(ValueError, match=r"`estimate` must be one of \['best', 'lower'\], got 'exact'; use 'best'"):
        check_estimate("exact")


def test_every_grammar_reports_what_it_has_written():
    """The estimator has no grammar of its own: each grammar's ``written`` says what a prefix has written but not
    confirmed; a yes/no ``Yes`` before the word ends gives its mass (before, only slot grammars did)."""
    yes_no = LabelSpace.yes_no(word_level_tokenizer(["Yes", "No", "Yesterday", ","]), "harm")
    tok = yes_no.tokenizer
    est = CutEstimator(yes_no, 1, {tok.eos_token_id}, max_new_tokens=4, eps=0.1, params=EstimateParams(rollout=None))
    root = yes_no.prefix_state("", finished=False)
    yes, yesterday = tok.convert_tokens_to_ids("Yes"), tok.convert_tokens_to_ids("Yesterday")
    est.on_cut(0, (), root, [(yes, 0.06), (yesterday, 0.03)], depth=0)
    assert est.estimate(torch.zeros(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)).tolist() == [
        [pytest.approx(0.06)]
    ]
    assert open_item(SPACE, "unsafe\nS1", SPACE.prefix_state("unsafe\nS1", False)) == (frozenset({"S1"}), True)
    fields = LabelSpace.fields(word_level_tokenizer(["Harm", ":", "yes", "no", "junk"]), [Field.binary("Harm")])
    text = "Harm: yes"
    assert open_item(fields, text, fields.prefix_state(text, False)) == (frozenset({"Harm: yes"}), True)
    assert open_item(fields, "junk", fields.prefix_state("junk", False)) == (frozenset(), False)


def test_votes_are_calibrated_per_prompt_by_its_roll_outs():
    """Prompt 0's roll-out ends where the explored answers go on (S2): its votes are scaled by 0/1 and its lighter
    child gives S2 nothing; prompt 1, the same tree without a roll-out, keeps its votes."""
    est = CutEstimator(SPACE, 2, EOS, max_new_tokens=10, eps=0.1, params=EstimateParams(rollout=0.5))  # from 0.05
    written = LINE + (ID["S1"],)  # "unsafe\nS1": S1 written; the comma confirms it, S2 or S10 may follow
    state = SPACE.prefix_state("unsafe\nS1", finished=False)
    started = est.on_cut(0, written, state, [(ID[","], 0.06)], depth=3)
    assert [mass for _, _, mass in started] == [0.06]
    tokens, child_state, mass = started[0]
    assert est.advance(0, tokens, child_state, mass, ID["<eos>"], depth=4) is None  # "unsafe\nS1,": ends
    other = (ID["\n"], *written)  # "\nunsafe\nS1" elsewhere in the tree: a child too light to roll out or probe
    for row in (0, 1):
        assert est.on_cut(row, other, state, [(ID[","], 0.02)], depth=4) == []
        est.on_answer(row, frozenset({"unsafe", "S1", "S2"}), 0.3)
    values = est.estimate(torch.zeros(2, 4, dtype=torch.float64), torch.ones(2, 4, dtype=torch.float64))
    assert est.scales == {0: 0.0}  # the votes said 0.06 of S2 or S10 for the roll-out; it found none
    assert values.tolist() == [[0.0, pytest.approx(0.08), 0.0, 0.0], [0.0, pytest.approx(0.02), 0.02, 0.0]]


def test_a_prompt_without_a_heavy_child_probes_its_first_voting_child():
    est = estimator(eps=0.1, rollout=0.8, probe=0.3)  # roll-outs from 0.08, the first probe from 0.03
    started = cut(est, LINE, [(ID["S1"], 0.05), (ID["S2"], 0.04)])
    assert [(tokens, mass) for tokens, _, mass in started] == [(LINE + (ID["S1"],), 0.05)]
    assert est.rollouts == 1 and cut(est, LINE, [(ID["S10"], 0.05)]) == []  # one probe per prompt
    assert cut(estimator(eps=0.1, rollout=0.8, probe=None), LINE, [(ID["S1"], 0.05)]) == []
    assert cut(estimator(eps=0.1, rollout=None, probe=0.3), LINE, [(ID["S1"], 0.05)]) == []  # no roll-outs at all


def test_a_heavy_child_the_explored_answers_agree_on_is_voted_for_not_rolled_out():
    """Every answer explored so far that holds S1 also holds S2 (and none S10): a heavy "unsafe\nS1" is settled and
    its votes place it; where they disagree (S2 in 0.6 of them), it is rolled out."""
    agree = estimator(eps=0.1, rollout=0.5, probe=None)  # roll-outs from 0.05
    agree.on_answer(0, frozenset({"unsafe", "S1", "S2"}), 0.4)
    assert cut(agree, LINE, [(ID["S1"], 0.06)]) == [] and agree.rollouts == 0
    assert given(agree) == pytest.approx({"unsafe": 0.0, "S1": 0.06, "S2": 0.06, "S10": 0.0})
    split = estimator(eps=0.1, rollout=0.5, probe=None)
    split.on_answer(0, frozenset({"unsafe", "S1", "S2"}), 0.3)
    split.on_answer(0, frozenset({"unsafe", "S1"}), 0.2)
    assert [mass for _, _, mass in cut(split, LINE, [(ID["S1"], 0.06)])] == [0.06]
    every = estimator(eps=0.1, rollout=0.5, probe=None, settled=None)
    every.on_answer(0, frozenset({"unsafe", "S1", "S2"}), 0.4)
    assert [mass for _, _, mass in cut(every, LINE, [(ID["S1"], 0.06)])] == [0.06]


def test_fields_keep_the_estimate_and_a_grammar_can_still_fall_back():
    """Calibrated, the estimate measured closer than the lower bound on fields too (benchmarks/RESULTS.md), so
    estimate='best' gives it there; a grammar whose ``estimate`` attribute says 'lower' still gets the lower bound."""
    tok = word_level_tokenizer(["Harm", ":", "yes", "no", "\n"])
    space = LabelSpace.fields(tok, [Field.binary("Harm")])
    assert grammar_estimate(space, "best") == "best" and grammar_estimate(space, "lower") == "lower"
    torch.manual_seed(0)
    model = tiny_llama(tok, seed=1, logit_scale=1.0)
    ids = torch.tensor([[tok.bos_token_id]])
    kw = dict(eps=0.05, top_p=0.9, max_new_tokens=4)
    scores = mg.score(model, ids, torch.ones_like(ids), space, ["any_place"], **kw)["any_place"]
    assert scores.estimate == "best" and bool(((scores.lower <= scores.probs) & (scores.probs <= scores.upper)).all())
    assert float((scores.upper - scores.lower).max()) > 0.01  # the cut dropped mass the estimate could place
    space.grammar.estimate = "lower"  # a grammar that measured the estimate worse than the lower bound
    scores = mg.score(model, ids, torch.ones_like(ids), space, ["any_place"], **kw)["any_place"]
    assert scores.estimate == "lower" and torch.equal(scores.probs, scores.lower)
