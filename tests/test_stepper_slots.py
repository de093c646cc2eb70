"""CachedStepper keeps its rows in cache slots (decoding/row_slots.py): the logits equal the reordered cache's."""

import pytest
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicSlidingWindowLayer

from marginal_generate.decoding.row_slots import RowSlots, adopt_slots
from marginal_generate.decoding.stepper import CachedStepper
from marginal_generate.testing import byte_level_tokenizer, tiny_llama

# (parents, tokens) per depth over 3 prompts: branching, rows ending, a prompt losing all its rows and one taking
# its slots, the frontier growing past and shrinking below the slots there were
STEPS = [
    ([0, 1, 2], [25, 26, 27]),
    ([0, 0, 0, 1, 2, 2], [28, 29, 30, 31, 32, 33]),
    ([0, 3, 4, 1, 2, 2], [50, 51, 52, 53, 54, 55]),  # row i in slot i, the last one copied there
    ([1, 2, 3, 4, 5], [34, 35, 36, 37, 38]),
    ([0, 2, 3, 3, 3, 4, 4], [39, 40, 41, 42, 43, 44, 45]),
    ([6, 5, 0], [46, 47, 48]),
    ([0], [49]),
]


@pytest.fixture(scope="module")
def model():
    return tiny_llama(byte_level_tokenizer(), seed=3).to(torch.float64)


def prompts(padded: bool):
    ids = torch.tensor([[5, 9, 11, 13, 17], [1, 1, 7, 8, 9], [1, 1, 1, 4, 6]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1]])
    return (ids, mask) if padded else (ids, torch.ones_like(mask))


def run(model, ids, mask, slots: bool):
    """Every depth's logits and sequences, the masks the model got and the slot plans."""
    stepper = CachedStepper(model, ids, mask)
    stepper.slot_rows = slots
    masks, plans = [], []
    hook = model.register_forward_pre_hook(lambda m, a, kw: masks.append(kw["attention_mask"].ndim), with_kwargs=True)
    try:
        with torch.inference_mode():
            out = [stepper.prefill()]
            if stepper.slots is not None:
                plan = stepper.slots.plan
                stepper.slots.plan = lambda *a: plans.append(plan(*a)) or plans[-1]
            for parents, tokens in STEPS:
                out.append(stepper.step(torch.tensor(parents), torch.tensor(tokens)))
                out.append(stepper.sequences())
    finally:
        hook.remove()
    return stepper, out, masks, plans


@pytest.mark.parametrize("padded", [True, False])
def test_slots_give_the_reordered_caches_logits(model, padded):
    reordered, expected, reordered_masks, _ = run(model, *prompts(padded), slots=False)
    slotted, got, masks, plans = run(model, *prompts(padded), slots=True)
    assert reordered.slots is None and slotted.slots is not None
    # by name: pytest's importlib mode may import row_slots twice (once for its doctests)
    assert all(type(layer).__name__ == "SlotLayer" for layer in slotted.cache.layers)
    assert len(got) == len(expected) == 1 + 2 * len(STEPS)
    for a, b in zip(got, expected):  # the same keys and values; a row's place in the batch moves the last bits only
        assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-12)
    assert torch.equal(got[-1], expected[-1])  # the sequences
    # the moves happened: generated tokens only into a slot of the same prompt, whole rows elsewhere
    assert sum(p.copies[0] for p in plans) > 0 and sum(p.copies[1] for p in plans) > 0
    assert not all(p.identity for p in plans)
    assert slotted.cache.layers[0].keys.shape[0] == len(STEPS[-1][0])  # dense: one slot per row
    # the padding goes in as sdpa's boolean 4D mask while a row has padding; without padding the 2D mask stays
    rows, padding = [0, 1, 2], []
    for parents, _ in STEPS:
        rows = [rows[p] for p in parents]
        padding.append(padded and any(r != 0 for r in rows))  # prompts 1 and 2 are the padded ones
    assert reordered_masks == [2] * (1 + len(STEPS))
    assert masks == [2] + [4 if p else 2 for p in padding]
    assert padded == (4 in masks) and 2 in masks[1:]


def test_plan_keeps_parents_slots_and_fills_holes_by_prompt():
    slots = RowSlots(3, prompt_width=5)
    plan = slots.plan([0, 0, 1, 2, 2], [0, 0, 1, 2, 2])
    assert plan.row_slot.tolist() == [0, 3, 1, 2, 4] and plan.copies == (0, 2)
    assert plan.full_dst.tolist() == [3, 4] and plan.full_src.tolist() == [0, 2]
    # prompt 1 ends and prompt 2 keeps one row, in slot 4: it moves into slot 2, free and holding prompt 2's part
    # (generated tokens only); prompt 0's second row moves from slot 3 into prompt 1's slot (the whole row)
    plan = slots.plan([0, 1, 4], [0, 0, 2])
    assert plan.row_slot.tolist() == [0, 1, 2] and plan.identity
    assert plan.gen_dst.tolist() == [2] and plan.gen_src.tolist() == [4]
    assert plan.full_dst.tolist() == [1] and plan.full_src.tolist() == [3]
    assert slots.slot_prompt == [0, 0, 2]


def test_caches_other_than_full_attention_layers_keep_the_reorder(model):
    cache = DynamicCache()
    cache.layers = [DynamicSlidingWindowLayer(sliding_window=4)]
    cache.layers[0].update(torch.zeros(2, 1, 3, 4), torch.zeros(2, 1, 3, 4))
    assert not adopt_slots(cache)
    assert isinstance(cache.layers[0], DynamicSlidingWindowLayer)
    full = DynamicCache()
    full.update(torch.zeros(2, 1, 3, 4), torch.zeros(2, 1, 3, 4), 0)
    assert adopt_slots(full) and type(full.layers[0]).__name__ == "SlotLayer"


def test_a_forward_that_skips_a_layers_append_is_refused(model):
    ids, mask = prompts(padded=True)
    stepper = CachedStepper(model, ids, mask)
    with torch.inference_mode():
        stepper.prefill()
        layer = stepper.cache.layers[0]
        layer.update = type(layer).__mro__[1].update.__get__(layer)  # DynamicLayer's append: the plan stays pending
        with pytest.raises(RuntimeError, match=r"^LlamaForCausalLM did not apply the moved cache rows to every layer"):
            stepper.step(torch.tensor([0, 1, 2]), torch.tensor([25, 26, 27]))
