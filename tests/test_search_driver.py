"""The search loop driven by a scripted stepper with no model: values computed by hand."""

import math

import pytest
import torch

from marginal_generate.decoding.budget import NODE_BYTES, SearchBudget, SearchBudgetError, row_bytes
from marginal_generate.decoding.estimate import EstimateParams
from marginal_generate.decoding.greedy_path import GreedyRecorder
from marginal_generate.decoding.next_tokens import TopTokens
from marginal_generate.decoding.search import TreeParams, run_search
from marginal_generate.labels.space import LabelSpace
from marginal_generate.testing import word_level_tokenizer

TOK = word_level_tokenizer(["safe", "unsafe", "S1", "S10", ",", "\n"])
SPACE = LabelSpace(TOK, categories=["S1", "S10"])
V = len(TOK)
ID = {t: TOK.convert_tokens_to_ids(t) for t in ["safe", "unsafe", "S1", "S10", ",", "\n", "<eos>"]}
EOS = {ID["<eos>"]}

# next-token distributions of a scripted "model", by answer prefix
SCRIPT = {
    (): {"unsafe": 0.6, "safe": 0.4},
    ("safe",): {"<eos>": 1.0},
    ("unsafe",): {"\n": 0.9, "<eos>": 0.1},
    ("unsafe", "\n"): {"S1": 0.5, "S10": 0.5},
    ("unsafe", "\n", "S1"): {"<eos>": 0.7, ",": 0.3},
    ("unsafe", "\n", "S1", ","): {"S10": 1.0},
    ("unsafe", "\n", "S1", ",", "S10"): {"<eos>": 1.0},
    ("unsafe", "\n", "S10"): {"<eos>": 1.0},
}
NAMES = {v: k for k, v in ID.items()}


def logits_for(tokens: tuple[int, ...]) -> torch.Tensor:
    table = SCRIPT[tuple(NAMES[t] for t in tokens)]
    out = torch.full((V,), -math.inf, dtype=torch.float64)
    for name, p in table.items():
        out[ID[name]] = math.log(p)
    return out


class ScriptedStepper:
    """Implements the Stepper protocol from SCRIPT: no model, no cache."""

    def __init__(self, batch_size: int = 1):
        self.batch_size = batch_size
        self.forward_passes = 0
        self.rows: list[tuple[int, ...]] = [()] * batch_size

    def prefill(self):
        self.forward_passes += 1
        return torch.stack([logits_for(r) for r in self.rows])

    def step(self, parents, tokens):
        self.forward_passes += 1
        self.rows = [self.rows[p] + (t,) for p, t in zip(parents.tolist(), tokens.tolist())]
        return torch.stack([logits_for(r) for r in self.rows])

    def sequences(self):
        raise AssertionError("no logits processor in these tests")


def search(eps: float, top_p: float = 1.0, max_new_tokens: int = 10, normalization="label_tokens", estimate=None):
    recorder = GreedyRecorder(SPACE, 1, EOS, normalization=normalization)
    result = run_search(ScriptedStepper(), SPACE, EOS, max_new_tokens, TreeParams(top_p, eps, estimate), recorder)
    return result, recorder


def test_exact_tree_mass():
    result, _ = search(eps=0.0)
    exact = [0.6, 0.6 * 0.9 * 0.5, 0.6 * 0.9 * (0.5 + 0.5 * 0.3)]
    assert result.lower[0].tolist() == pytest.approx(exact, abs=1e-12)
    assert result.upper[0].tolist() == pytest.approx(exact, abs=1e-12)


def test_eps_cut_moves_mass_to_the_upper_bound():
    result, _ = search(eps=0.2)
    # cut below eps: "unsafe<eos>" (0.06, before anything is confirmed) and both children of "unsafe\nS1" (0.27)
    assert result.lower[0].tolist() == pytest.approx([0.54, 0.0, 0.27], abs=1e-12)
    assert result.upper[0].tolist() == pytest.approx([0.6, 0.33, 0.6], abs=1e-12)


def test_estimate_places_the_dropped_mass():
    # eps=0.2 drops "unsafe<eos>" (0.06: confirms unsafe) and both children of "unsafe\nS1" (0.27):
    # "<eos>" (0.189) and "," (0.081) both confirm S1; after "unsafe\nS1," S10 may still come, and no
    # explored answer ("safe", "unsafe\nS10") contains S1 to vote on it
    result, _ = search(eps=0.2, estimate=EstimateParams(rollout=None, backoff=False))
    assert result.estimate[0].tolist() == pytest.approx([0.6, 0.27, 0.27], abs=1e-12)
    # with backoff (the default), the answers that hold what "unsafe\nS1" had confirmed (unsafe) vote instead, at
    # backoff_weight: "unsafe\nS10" gives S10 all of the comma's 0.081 at weight 1 (as the model does), half at 0.5
    result, _ = search(eps=0.2, estimate=EstimateParams(rollout=None, backoff_weight=1.0))
    assert result.estimate[0].tolist() == pytest.approx([0.6, 0.27, 0.351], abs=1e-12)
    result, _ = search(eps=0.2, estimate=EstimateParams(rollout=None))
    assert result.estimate[0].tolist() == pytest.approx([0.6, 0.27, 0.3105], abs=1e-12)
    assert result.rollouts == 0
    # a roll-out of "unsafe\nS1," (0.081 >= 0.3 * eps) writes S10 then EOS: the estimate is exact here
    result, _ = search(eps=0.2, estimate=EstimateParams(rollout=0.3))
    exact = [0.6, 0.6 * 0.9 * 0.5, 0.6 * 0.9 * (0.5 + 0.5 * 0.3)]
    assert result.estimate[0].tolist() == pytest.approx(exact, abs=1e-12)
    assert result.rollouts == 1
    assert result.lower[0].tolist() == pytest.approx([0.54, 0.0, 0.27], abs=1e-12)  # the bounds do not move
    # the roll-out rides along in the same forwards: rows "unsafe\nS1," then "unsafe\nS1,S10" after the tree's last
    assert result.frontier_widths == [1, 1, 1, 2, 1, 1]


def test_top_p_cut():
    # nucleus 0.85 at "unsafe\nS1" keeps <eos> (0.7) and "," (0.3, cumulative 1.0 needed to pass 0.85) -> both kept;
    # at "unsafe" it keeps "\n" (0.9) and drops <eos> (0.1)
    result, _ = search(eps=0.0, top_p=0.85)
    assert result.lower[0].tolist() == pytest.approx([0.54, 0.27, 0.351], abs=1e-12)
    assert result.upper[0].tolist() == pytest.approx([0.6, 0.33, 0.411], abs=1e-12)


def test_length_limit_completes_rather_than_cuts():
    # with 3 new tokens, "unsafe\nS1" ends there: S1 is read at the end of the answer, nothing is cut
    result, _ = search(eps=0.0, max_new_tokens=3)
    assert result.lower[0].tolist() == pytest.approx([0.6, 0.27, 0.27], abs=1e-12)
    assert result.cut[0].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)


def test_greedy_path_records():
    result, recorder = search(eps=0.0)
    assert recorder.texts() == ["unsafe\nS1"]  # ties go to the lower token id: S1 before S10
    assert recorder.first_token()[0, 0].item() == pytest.approx(0.6)
    assert recorder.token_probability()[0].tolist() == pytest.approx([0.6, 0.5, 0.0])
    assert recorder.fixed_place()[0].tolist() == pytest.approx([0.6, 0.27, 0.0])
    assert recorder.greedy()[0].tolist() == [1.0, 1.0, 0.0]
    # one category position (after "unsafe\n"): softmax over {S1, S10} = 0.5 / 0.5
    assert recorder.max_over_generations()[0].tolist() == pytest.approx([0.6, 0.5, 0.5])


def test_vocab_normalization_looks_ahead_to_the_delimiter():
    _, recorder = search(eps=0.0, normalization="vocab")
    # P(S1 exactly) = P(S1) * P(delimiter | S1) = 0.5 * (0.7 + 0.3); P(S10) = 0.5 * 1.0; unsafe: full-vocab 0.6
    assert recorder.max_over_generations()[0].tolist() == pytest.approx([0.6, 0.5, 0.5])


class WideStepper(ScriptedStepper):
    """SCRIPT for sample 0; for sample 1 every token is equally likely at every step (a tree as wide as it gets)."""

    def __init__(self):
        super().__init__(batch_size=2)
        self.owner = [0, 1]

    def _logits(self):
        rows = [logits_for(r) if o == 0 else torch.zeros(V, dtype=torch.float64) for r, o in zip(self.rows, self.owner)]
        return torch.stack(rows)

    def prefill(self):
        self.forward_passes += 1
        return self._logits()

    def step(self, parents, tokens):
        self.forward_passes += 1
        self.owner = [self.owner[p] for p in parents.tolist()]
        self.rows = [self.rows[p] + (t,) for p, t in zip(parents.tolist(), tokens.tolist())]
        return self._logits()


def test_budget_refuses_before_reading_a_child_and_names_the_sample():
    stepper = WideStepper()
    recorder = GreedyRecorder(SPACE, 2, EOS)
    budget = SearchBudget.of(1e-6)  # 1,000 bytes: less than one prefix of sample 1's V children
    with pytest.raises(
        SearchBudgetError,
        match=rf"^the any_place tree search would hold about [\d.e-]+ GB at depth 0 \(2 frontier rows and {2 + V:,} "
        rf"prefixes read; most in sample 1 of 2: 1 rows, {V} prefixes\), over its budget of 1e-06 GB "
        r"\(search_budget_gb=1e-06\): raise eps \(now 0; 0\.01 is the usual cut\), lower top_p \(now 1; 0\.99 drops "
        r"the tail\) or max_new_tokens \(now 10\), or raise search_budget_gb "
        r"\(in GB; the CLI's --search-budget-gb\)\.$",
    ):
        run_search(stepper, SPACE, EOS, 10, TreeParams(1.0, 0.0), recorder, budget=budget)
    assert stepper.forward_passes == 1 and stepper.rows == [(), ()]  # the prompts only: no depth was expanded
    assert issubclass(SearchBudgetError, ValueError)


def test_budget_counts_each_depth_and_leaves_the_result_alone():
    free, _ = search(eps=0.0)
    recorder = GreedyRecorder(SPACE, 1, EOS)
    budget = SearchBudget.of(1.0)
    guarded = run_search(ScriptedStepper(), SPACE, EOS, 10, TreeParams(1.0, 0.0), recorder, budget=budget)
    assert torch.equal(guarded.lower, free.lower) and torch.equal(guarded.cut, free.cut)
    # frontier widths 1, 1, 1, 2, 1, 1; prefixes read by the end of each depth 2, 4, 6, 9, 10, 11 (every child with a
    # probability above 0); the largest estimate is the last depth's: one float64 row of V entries, all sorted at
    # eps=0, and the 11 prefixes (2 rows and 9 prefixes at depth 3 weigh less)
    assert guarded.frontier_widths == [1, 1, 1, 2, 1, 1]
    assert guarded.memory_estimate == row_bytes(V, V, 8) + 11 * NODE_BYTES > 2 * row_bytes(V, V, 8) + 9 * NODE_BYTES
    assert free.memory_estimate == 0.0  # no budget, no estimate


class ScriptedTopK:
    """SCRIPT behind the narrow interface as an engine answers: the top ``max_k`` tokens of a row and the mass left
    out, no whole rows (ties in the order of the token ids)."""

    whole_rows = False

    def __init__(self, max_k: int):
        self.max_k, self.name, self.batch_size, self.forward_passes = max_k, f"scripted top-{max_k}", 1, 0
        self.rows: list[tuple[int, ...]] = [()]

    def prefill(self, read):
        return self._answer()

    def expand(self, parents, tokens, read):
        self.rows = [self.rows[p] + (t,) for p, t in zip(parents, tokens)]
        return self._answer()

    def _answer(self):
        self.forward_passes += 1
        logp = torch.stack([logits_for(r) for r in self.rows])
        ids = torch.tensor([sorted(range(V), key=lambda t: (-float(row[t]), t))[: self.max_k] for row in logp])
        return ScriptedAnswer(TopTokens(logp.gather(-1, ids), ids))


class ScriptedAnswer:
    """One call's answer of :class:`ScriptedTopK`: ``top`` gives at most ``max_k`` tokens, whatever ``k`` asks."""

    vocab, dtype = V, torch.float64

    def __init__(self, top: TopTokens):
        self._top = top

    def argmax(self):
        return self._top.ids[:, 0].tolist()

    def top(self, rows, k, node_probs=None, least=0.0):
        index = torch.tensor(rows, dtype=torch.long)
        return TopTokens(self._top.logprobs[index, :k], self._top.ids[index, :k])


def test_a_top_k_backend_cuts_the_children_it_cannot_show():
    exact = [0.6, 0.6 * 0.9 * 0.5, 0.6 * 0.9 * (0.5 + 0.5 * 0.3)]
    # k=2 is SCRIPT's widest branching: every child is seen, the bounds are exact as with whole rows
    result = run_search(
        ScriptedTopK(2), SPACE, EOS, 10, TreeParams(1.0, 0.0), GreedyRecorder(SPACE, 1, EOS), strategies=[]
    )
    assert result.lower[0].tolist() == pytest.approx(exact, abs=1e-12)
    assert result.upper[0].tolist() == pytest.approx(exact, abs=1e-12)
    # k=1 shows one child a node: "safe" (0.4) at the root, "unsafe<eos>" (0.06), "unsafe\nS10" (0.27, the tie goes
    # to S1) and "unsafe\nS1," (0.081) are cut, each into the labels its node may still add
    recorder = GreedyRecorder(SPACE, 1, EOS)
    result = run_search(ScriptedTopK(1), SPACE, EOS, 10, TreeParams(1.0, 0.0), recorder, strategies=["any_place"])
    assert result.lower[0].tolist() == pytest.approx([0.54, 0.189, 0.0], abs=1e-12)
    assert result.cut[0].tolist() == pytest.approx([0.46, 0.811, 0.811], abs=1e-12)
    assert ((result.lower[0] <= torch.tensor(exact)) & (torch.tensor(exact) <= result.upper[0])).all()
    assert recorder.texts() == ["unsafe\nS1"] and recorder.token_probability()[0].tolist() == pytest.approx(
        [0.6, 0.5, 0.0]
    )  # the greedy path reads the top 1 only


class WanderingStepper(ScriptedStepper):
    """SCRIPT with a heavy dropped child that never ends: "unsafe\nS10" writes "," for ever (S10 confirmed, S1 still
    possible), so its roll-out runs to ``max_new_tokens`` unless ``EstimateParams.tail`` stops it."""

    def step(self, parents, tokens):
        self.forward_passes += 1
        self.rows = [self.rows[p] + (t,) for p, t in zip(parents.tolist(), tokens.tolist())]
        return torch.stack([self.logits(r) for r in self.rows])

    def prefill(self):
        self.forward_passes += 1
        return torch.stack([self.logits(r) for r in self.rows])

    @staticmethod
    def logits(tokens):
        names = tuple(NAMES[t] for t in tokens)
        table = {
            (): {"unsafe": 1.0},
            ("unsafe",): {"\n": 1.0},
            ("unsafe", "\n"): {"S1": 0.991, "S10": 0.009},  # S10: below eps=0.01, above the roll-out floor 0.008
            ("unsafe", "\n", "S1"): {"<eos>": 1.0},
        }.get(names, {",": 1.0})
        out = torch.full((V,), -math.inf, dtype=torch.float64)
        for name, p in table.items():
            out[ID[name]] = math.log(p)
        return out


@pytest.mark.parametrize(
    ("tail", "forwards", "widths"), [(2, 6, [1, 1, 1, 2, 1, 1]), (None, 10, [1, 1, 1, 2] + [1] * 6)]
)
def test_roll_outs_run_tail_depths_alone_then_stop_at_what_they_hold(tail, forwards, widths):
    stepper = WanderingStepper()
    tree = TreeParams(1.0, 0.01, EstimateParams(tail=tail))
    result = run_search(stepper, SPACE, EOS, 10, tree, GreedyRecorder(SPACE, 1, EOS), strategies=["any_place"])
    # the tree ends at depth 3 ("unsafe\nS1" + EOS); the roll-out of "unsafe\nS10" runs alone from depth 4: two
    # depths with tail=2, to max_new_tokens without; either way it confirmed S10 at its first ","
    assert result.rollouts == 1 and stepper.forward_passes == forwards and result.frontier_widths == widths
    assert result.lower[0].tolist() == pytest.approx([1.0, 0.991, 0.0], abs=1e-12)
    assert result.estimate[0].tolist() == pytest.approx([1.0, 0.991, 0.009], abs=1e-12)
