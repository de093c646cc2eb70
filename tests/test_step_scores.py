"""StepScores: the search's per-depth reading of the logits (decoding/step_scores.py) against the whole-row reading it
replaced: the same argmax, the same float64 log-probabilities to float64 rounding, the same children kept and dropped;
the count of heavy tokens made on the logits in the model's dtype is never too few."""

import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of
from transformers import LogitsProcessor, LogitsProcessorList

import marginal_generate as mg
from marginal_generate.decoding import step_scores
from marginal_generate.decoding.selection import TreeParams, select_children, select_top, width
from marginal_generate.decoding.step_scores import StepScores, heavy_count, normalizers


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
    full = scores.full([2, 0])
    assert torch.allclose(full, whole[[2, 0]], rtol=0, atol=1e-13)  # the logits less a float64 normalizer
    assert torch.equal(StepScores(logits).full(list(range(12)))[[2, 0]], full)  # whichever rows are read beside
    top, ids = scores.top_logprobs([2, 0], 5)
    assert torch.equal(top, full.gather(-1, ids))  # a row read whole and its top: the same values, bit for bit


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
    k = width(node_probs, logits.shape[-1], tree, spare)
    top, ids = StepScores(logits).top(list(range(12)), k, node_probs, least)
    assert top.shape[1] < k  # the search read fewer tokens than the width: the test can fail
    assert top.dtype == torch.float64
    ours = select_top(node_probs, top, ids, tree, spare, floor).lists()
    reference = select_children(node_probs, whole, tree, spare, floor).lists()
    assert ours[0] == pytest.approx(reference[0], rel=0, abs=1e-13)  # the same removed mass, to float64 rounding
    for j in (1, 2):  # the same kept and dropped children (a tie may come in either order: row 0's planted one)
        got = [sorted(children) for children in ours[j]]
        want = [sorted(children) for children in reference[j]]
        assert [[t for t, _ in c] for c in got] == [[t for t, _ in c] for c in want]
        assert [[p for _, p in c] for c in got] == [pytest.approx([p for _, p in c], rel=0, abs=1e-13) for c in want]


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("seed", range(3))
def test_the_count_on_the_logits_is_never_too_few_and_at_most_a_hair_wide(seed, dtype):
    logits = random_logits(seed).to(dtype)
    whole = torch.log_softmax(logits.to(torch.float64), dim=-1)
    norm = normalizers(logits)
    assert torch.allclose(norm, torch.logsumexp(logits.to(torch.float64), -1), rtol=0, atol=1e-13)
    assert logits.dtype == dtype  # the normalizer's float64 pass leaves the logits alone
    generator = torch.Generator().manual_seed(seed)
    for _ in range(50):
        node_probs = torch.rand(12, generator=generator).clamp(min=1e-3).tolist()
        # a threshold on a token's log-probability: the children exactly at the boundary are the hard case
        row, token = (int(i) for i in torch.randint(12, (2,), generator=generator) * torch.tensor([1, 25]))
        least = node_probs[row] * float(whole[row, token].exp())
        exact = heavy_count(whole, node_probs, least)
        wide = heavy_count(logits, node_probs, least, norm)
        assert exact <= wide <= exact + (2 if dtype == torch.float32 else 40), (exact, wide)


def test_float64_logits_are_left_alone_and_a_row_of_minus_inf_reads_as_logsumexp():
    logits = torch.tensor([[0.5, -1.0, 2.0], [-torch.inf, -torch.inf, -torch.inf]], dtype=torch.float64)
    before = logits.clone()
    assert torch.equal(normalizers(logits), torch.logsumexp(logits, -1))
    assert torch.equal(logits, before)


@pytest.mark.parametrize("rows", [1, 8, 9, 17, 20])
@pytest.mark.parametrize("chunk_tokens", [8 * 40, step_scores._CHUNK_TOKENS])  # 8-row chunks, one chunk
def test_the_normalizers_made_in_chunks_are_logsumexp(rows, chunk_tokens, monkeypatch):
    monkeypatch.setattr(step_scores, "_CHUNK_TOKENS", chunk_tokens)
    logits = random_logits(rows, rows=rows, vocab=40)
    got = normalizers(logits)
    assert got.shape == (rows,)
    assert torch.allclose(got, torch.logsumexp(logits.to(torch.float64), -1), rtol=0, atol=1e-13)
    assert torch.equal(got[-1:], normalizers(logits[-2:])[-1:])  # a row's normalizer: the same beside other rows


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("read", [None, [0, 2, 5, 7, 7, 11], list(range(12)) * 2])
def test_rows_read_where_the_stepper_ran_them_are_the_same_bit_for_bit(seed, read):
    """A stepper's logits in the order it ran its rows (row i at order[i]) read as the rows in order would be."""
    logits = random_logits(seed)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(seed)).tolist()
    in_run_order = torch.empty_like(logits)
    in_run_order[order] = logits  # row i's logits at order[i]
    ours, rows_in_order = StepScores(in_run_order, read=read, order=order), StepScores(logits, read=read)
    rows = sorted(set(read)) if read is not None else list(range(12))
    node_probs = torch.linspace(1.0, 0.05, len(rows)).tolist()
    assert ours.argmax() == rows_in_order.argmax() and ours.argmax()[0] == 3  # row 0's planted tie: the first index
    assert ours.argmax_rows([7, 0, 2]) == rows_in_order.argmax_rows([7, 0, 2])
    assert torch.equal(ours.full(rows[::-1]), rows_in_order.full(rows[::-1]))
    for args in ((rows, 40), (rows, 40, node_probs, 0.01), (rows[::-1], 5)):
        for got, want in zip(ours.top_logprobs(*args), rows_in_order.top_logprobs(*args)):
            assert torch.equal(got, want)
