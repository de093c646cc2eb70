"""The search's narrow model interface (decoding/next_tokens.py): the HF backend and the reference engine backend
(top-k and the mass left out only, testing/engine_backend.py) on a tiny model, against each other and the exact
values; what a top-k backend cannot give is refused before any forward."""

import pytest
import torch
from transformers import LogitsProcessorList

import marginal_generate as mg
from marginal_generate.decoding.estimate import EstimateParams
from marginal_generate.decoding.greedy_path import GreedyRecorder
from marginal_generate.decoding.next_tokens import StepperBackend
from marginal_generate.decoding.reference import enumerate_label_probs
from marginal_generate.decoding.search import TreeParams, run_search
from marginal_generate.decoding.stepper import CachedStepper
from marginal_generate.testing import tiny_llama, word_level_tokenizer
from marginal_generate.testing.engine_backend import TopKEngineBackend

TOK = word_level_tokenizer(["safe", "unsafe", "S1", "S10", ","])  # 12 tokens
SPACE = mg.LabelSpace(TOK, categories=["S1", "S10"])
EOS = {TOK.eos_token_id}
PROMPTS = ["unsafe", "safe , S1", "S10"]


def model(seed: int = 0):
    return tiny_llama(TOK, seed=seed, logit_scale=0.5, dtype=torch.float64)  # flat: every token has mass


def inputs():
    batch = TOK(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    return batch.input_ids, batch.attention_mask


def search(backend, tree: TreeParams, depth: int = 5, **kw):
    recorder = GreedyRecorder(SPACE, len(PROMPTS), EOS)
    result = run_search(backend, SPACE, EOS, depth, tree, recorder, strategies=["any_place", "greedy"], **kw)
    return result, recorder


@pytest.mark.parametrize(
    ("max_k", "tree"),
    [
        (12, TreeParams(0.99, 0.01, EstimateParams())),  # the whole vocabulary: the estimate's dropped children too
        (20, TreeParams(0.99, 0.05)),  # at most 1 / eps = 20 children of a node weigh eps or more
    ],
)
def test_an_engine_whose_k_covers_the_cut_gives_the_hf_results_bit_for_bit(max_k, tree):
    m = model()
    hf, hf_recorder = search(CachedStepper(m, *inputs()), tree)
    engine, engine_recorder = search(TopKEngineBackend(m, *inputs(), max_k=max_k), tree)
    assert max(hf.frontier_widths) > len(PROMPTS)  # the tree branched
    assert torch.equal(engine.lower, hf.lower) and torch.equal(engine.cut, hf.cut)
    assert engine.frontier_widths == hf.frontier_widths and engine.completions == hf.completions
    if tree.estimate is not None:
        assert hf.rollouts > 0 and engine.rollouts == hf.rollouts and torch.equal(engine.estimate, hf.estimate)
    assert engine_recorder.texts() == hf_recorder.texts()
    assert torch.equal(engine_recorder.token_probability(), hf_recorder.token_probability())


def test_a_small_k_widens_the_bounds_around_the_exact_values():
    m, depth = model(), 4
    exact = torch.stack(
        [enumerate_label_probs(m, TOK(p, add_special_tokens=False)["input_ids"], SPACE, EOS, depth) for p in PROMPTS]
    )
    assert exact.min() > 1e-4  # every label carries mass: the containment can fail
    whole, _ = search(CachedStepper(m, *inputs()), TreeParams(1.0, 0.0), depth)
    assert torch.allclose(whole.lower, exact, atol=1e-9) and torch.allclose(whole.upper, exact, atol=1e-9)
    for max_k, tree in [(2, TreeParams(1.0, 0.0, EstimateParams())), (3, TreeParams(0.99, 0.01, EstimateParams()))]:
        engine, _ = search(TopKEngineBackend(m, *inputs(), max_k=max_k), tree, depth)
        assert (engine.lower <= exact + 1e-12).all() and (exact <= engine.upper + 1e-12).all(), max_k
        assert ((engine.lower <= engine.estimate) & (engine.estimate <= engine.upper)).all()
        # 12 tokens of positive probability a node, k of them shown: the rest is cut at every node
        assert (engine.upper - engine.lower).min() > 1e-3, max_k
        full, _ = search(CachedStepper(m, *inputs()), tree, depth)
        assert (engine.upper - engine.lower >= full.upper - full.lower - 1e-12).all()
        assert (engine.upper - engine.lower).sum() > (full.upper - full.lower).sum()


def test_a_top_k_engine_refuses_what_reads_whole_rows_before_any_forward():
    engine = TopKEngineBackend(model(), *inputs(), max_k=5)
    what = r"backend TopKEngineBackend\(max_k=5\) gives only the top 5 next-token log-probabilities of a row"
    tree = TreeParams(0.99, 0.01)
    for strategy in ("first_token", "max_over_generations", "first_generation"):
        with pytest.raises(
            ValueError,
            match=rf"^strategy '{strategy}' reads the greedy path's whole next-token distribution, and {what}: leave "
            rf"'{strategy}' out, or use a backend with whole rows \(StepperBackend\)\.$",
        ):
            run_search(engine, SPACE, EOS, 5, tree, GreedyRecorder(SPACE, 3, EOS), strategies=["any_place", strategy])
    with pytest.raises(ValueError, match=rf"^label_normalization='vocab' looks ahead .*, and {what}: use "):
        recorder = GreedyRecorder(SPACE, 3, EOS, normalization="vocab")
        run_search(engine, SPACE, EOS, 5, tree, recorder, strategies=["any_place"])
    with pytest.raises(ValueError, match=rf"^`logits_processor` needs whole rows of logits, and {what}: leave it out"):
        run_search(
            engine, SPACE, EOS, 5, tree, GreedyRecorder(SPACE, 3, EOS), LogitsProcessorList([Doubling()]), strategies=[]
        )
    with pytest.raises(ValueError, match=rf"^`strategies` must name the strategies that will be read, since {what}"):
        run_search(engine, SPACE, EOS, 5, tree, GreedyRecorder(SPACE, 3, EOS))
    assert engine.forward_passes == 0
    result, _ = search(engine, tree)  # any_place and the greedy path run
    assert engine.forward_passes == len(result.frontier_widths)


class Doubling:
    """A logits processor that doubles the scores (a temperature of 1/2) and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, input_ids, scores):
        self.calls += 1
        return scores * 2


def test_the_hf_backend_takes_the_logits_processor_and_refuses_it_beside_run_search():
    m = model()
    tree = TreeParams(1.0, 0.05)
    given, wrapping = Doubling(), Doubling()
    from_stepper, _ = search(CachedStepper(m, *inputs()), tree, logits_processor=LogitsProcessorList([given]))
    wrapped, _ = search(StepperBackend(CachedStepper(m, *inputs()), LogitsProcessorList([wrapping])), tree)
    assert torch.equal(from_stepper.lower, wrapped.lower) and torch.equal(from_stepper.cut, wrapped.cut)
    assert given.calls == wrapping.calls == len(wrapped.frontier_widths)  # once a depth
    with pytest.raises(ValueError, match=r"^`logits_processor` goes to the backend, not to run_search, .*\(got "):
        search(StepperBackend(CachedStepper(m, *inputs())), tree, logits_processor=LogitsProcessorList([Doubling()]))


def test_engine_max_k_is_checked():
    with pytest.raises(ValueError, match=r"^`max_k` must be an integer >= 1 \(.*\), got 2\.5\.$"):
        TopKEngineBackend(model(), *inputs(), max_k=2.5)
