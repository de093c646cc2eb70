"""StepScores: the search's per-depth reading of the logits (decoding/step_scores.py) against the whole-row reading it
replaced: the same argmax, the same float64 log-probabilities bit for bit, the same children kept and dropped."""

import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of
from transformers import LogitsProcessor, LogitsProcessorList

import marginal_generate as mg
from marginal_generate.decoding.search import TreeParams, _width, select_children, select_top
from marginal_generate.decoding.step_scores import StepScores


def random_logits(seed: int, rows: int = 12, vocab: int = 300) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    scale = 3 + torch.rand(rows, 1, generator=generator) * 6  # rows from fairly flat to peaked
    logits = torch.randn(rows, vocab, generator=generator) * scale
    logits[0, 7] = logits[0, 3] = logits[0].max() + 1  # a tie for the argmax: the first index wins
    return logits


@pytest.mark.parametrize("seed", range(4))
def test_argmax_and_full_rows_equal_the_whole_row_log_softmax(seed):
    logits = random_logits(seed)
    whole = torch.log_softmax(logits.to(torch.float64), dim=-1)
    scores = StepScores(logits, read=[5, 0, 2])
    assert scores.argmax() == whole.argmax(-1).tolist()
    assert scores.argmax()[0] == 3
    assert torch.equal(scores.full([2, 0]), whole[[2, 0]])  # bit for bit
    assert torch.equal(StepScores(logits).full(list(range(12))), whole)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("top_p", "eps", "spare", "floor"), [(0.99, 0.01, 8, 5e-4), (0.9, 0.05, 0, 0.0), (1.0, 0.002, 3, 1e-4)]
)
def test_fewer_tokens_read_select_the_same_children(seed, top_p, eps, spare, floor):
    logits = random_logits(seed)
    whole = torch.log_softmax(logits.to(torch.float64), dim=-1)
    node_probs = torch.linspace(1.0, 0.02, 12).tolist()
    tree = TreeParams(top_p=top_p, eps=eps)
    least = min(eps, floor) if spare else eps
    width = _width(node_probs, logits.shape[-1], tree, spare)
    top, ids = StepScores(logits).top(list(range(12)), width, node_probs, least)
    assert top.shape[1] < width  # the search read fewer tokens than the width: the test can fail
    assert top.dtype == torch.float64
    ours = select_top(node_probs, top, ids, tree, spare, floor).lists()
    reference = select_children(node_probs, whole, tree, spare, floor).lists()
    assert ours[0] == reference[0]  # the same removed mass, to the bit
    for j in (1, 2):  # the same kept and dropped children (a tie may come in either order: row 0's planted one)
        assert [sorted(children) for children in ours[j]] == [sorted(children) for children in reference[j]]


class Shift(LogitsProcessor):
    """Adds a constant to every score: the distribution is the same, but the search reads the processor's scores."""

    def __call__(self, input_ids, scores):
        return scores + 1.0


@pytest.mark.parametrize("estimate", ["lower", "best"])
def test_search_equals_its_reading_of_every_row(estimate):
    """The search reads float64 rows only where it needs them; with a logits processor it reads every row, as it
    always did: the bounds and the estimate agree."""
    tok = tokenizer_of("word")
    model, space = guard_model("word", dtype=torch.float32), space_of("word")  # float32 logits, float64 bounds
    inputs = tok(PROMPTS[:3], return_tensors="pt", padding=True, add_special_tokens=False)

    def run(processor):
        return mg.score(
            model,
            inputs.input_ids,
            inputs.attention_mask,
            space,
            ["any_place"],
            eos_token_ids={tok.eos_token_id},
            estimate=estimate,
            logits_processor=processor,
        )["any_place"]

    ours, every_row = run(None), run(LogitsProcessorList([Shift()]))
    assert ours.stats["nodes_expanded"] > 3  # the tree branched
    assert torch.allclose(ours.lower, every_row.lower, atol=1e-12)
    assert torch.allclose(ours.upper, every_row.upper, atol=1e-12)
    assert torch.allclose(ours.probs, every_row.probs, atol=1e-12)
