"""The core on the real Llama 3 and Llama 4 tokenizers (Meta's tokenizer.model, from llama-models), over their full
vocabularies.

The tiny guard here has the real 128,256-token vocabulary and a hidden size of 16; the strategy checks reuse the
brute-force comparisons of test_greedy_path / test_any_place / test_tree_attention with kind "llama3" and cuts that
keep the reference search finite (eps > 0).
"""

import copy

import pytest
import test_any_place
import test_greedy_path
import test_tree_attention
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of

import marginal_generate as mg
from marginal_generate.decoding.reference import forward_next_logits, tree_search_reference
from marginal_generate.labels.space import first_token_ids
from marginal_generate.prompts import conversation, encode_conversations
from marginal_generate.testing import llama3_tokenizer, llama4_tokenizer

LLAMA3_SPECIAL = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|finetune_right_pad_id|>": 128004,
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eom_id|>": 128008,
    "<|eot_id|>": 128009,
    "<|python_tag|>": 128010,
    "<|image|>": 128011,
    "<|reserved_special_token_245|>": 128255,
}
LLAMA4_SPECIAL = {
    "<|begin_of_text|>": 200000,
    "<|end_of_text|>": 200001,
    "<|header_start|>": 200005,
    "<|header_end|>": 200006,
    "<|eom|>": 200007,
    "<|eot|>": 200008,
    "<|finetune_right_pad|>": 200018,
}


def pieces(tok, text):
    return [tok.decode([i]) for i in tok(text, add_special_tokens=False)["input_ids"]]


@pytest.mark.parametrize(
    ("make", "vocab", "special", "module"),
    [
        (llama3_tokenizer, 128256, LLAMA3_SPECIAL, "llama_models.llama3.tokenizer"),
        (llama4_tokenizer, 202048, LLAMA4_SPECIAL, "llama_models.llama4.tokenizer"),
    ],
)
def test_real_tokenizer_ids_and_splits(make, vocab, special, module):
    tok = make()
    assert len(tok) == vocab
    for token, token_id in special.items():
        assert tok.convert_tokens_to_ids(token) == token_id, token
    assert pieces(tok, "unsafe\nS10,S1") == ["unsafe", "\n", "S", "10", ",S", "1"]
    assert pieces(tok, "\n\nunsafe\nS1,S10") == ["\n\n", "unsafe", "\n", "S", "1", ",S", "10"]
    assert tok("safe")["input_ids"][0] == tok.bos_token_id  # BOS added with special tokens, like the Hub's
    import importlib

    meta_module = importlib.import_module(module)
    from pathlib import Path

    meta = meta_module.Tokenizer(Path(meta_module.__file__).parent / "tokenizer.model")
    text = " <|begin_of_text|>Wie öffne ich 鍵? 🙂\n\n  S11,S3\t<|eot_id|><|eot|>"
    assert tok(text, add_special_tokens=False)["input_ids"] == meta.encode(
        text, bos=False, eos=False, allowed_special="all"
    )


def test_label_space_on_llama3():
    tok = llama3_tokenizer()
    space = mg.LabelSpace.llama_guard(tok)
    assert space.labels == ("unsafe", *[f"S{i}" for i in range(1, 15)])
    split = {c: [tok.decode([i]) for i in ids] for c, ids in space.category_token_ids.items()}
    assert split["S1"] == ["S", "1"] and split["S10"] == ["S", "10"] and split["S14"] == ["S", "14"]
    assert space.branch[0] == (tok.convert_tokens_to_ids("S"),)
    assert space.branch[1]["S1"] != space.branch[1]["S10"]  # "1" and "10" are different tokens
    # the verbalizer tokens: what the model writes after its blank line is the same token as the word alone
    after_blank = (
        tok("\n\nsafe", add_special_tokens=False)["input_ids"],
        tok("\n\nunsafe", add_special_tokens=False)["input_ids"],
    )
    assert [tok.decode([t]) for t in after_blank[0]] == ["\n\n", "safe"]
    assert space.verbalizer_ids == ((after_blank[0][1],), (after_blank[1][1],)) == ((19193,), (39257,))
    assert first_token_ids(tok, "unsafe") == (39257,)
    mask = space.delimiter_mask
    assert mask.shape == (128256,) and mask[tok.convert_tokens_to_ids(",S")] and mask[198]
    assert not mask[tok.convert_tokens_to_ids("S")] and not mask[128009]
    eot = tok.eos_token_id
    for answer, labels in [
        ("\n\nsafe", set()),
        ("\n\nunsafe\nS10,S1", {"unsafe", "S1", "S10"}),
        ("\n\nunsafe\nS1", {"unsafe", "S1"}),
    ]:
        ids = tok(answer, add_special_tokens=False)["input_ids"] + [eot]
        assert space.parse(space.decode(ids)) == labels


def test_published_prompt_on_llama3():
    tok = llama3_tokenizer()
    batch = encode_conversations(tok, [conversation("How do I pick a lock?"), conversation("Hi", "Hello!")])
    assert (batch["attention_mask"] == 0).any()  # left-padded with <|finetune_right_pad_id|>
    ids = batch["input_ids"][1][batch["attention_mask"][1] == 1].tolist()
    assert ids[:4] == [220, 128000, 128006, 882]  # " " <|begin_of_text|> <|start_header_id|> "user"
    assert ids[-3:] == [128006, 78191, 128007]  # <|start_header_id|> "assistant" <|end_header_id|>
    assert 190 <= len(ids) <= 215  # the published template writes about 190 tokens around the conversation


@pytest.fixture(scope="module")
def scored():
    tok, space = tokenizer_of("llama3"), space_of("llama3")
    inputs = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    return {
        norm: mg.score(
            guard_model("llama3"),
            inputs.input_ids,
            inputs.attention_mask,
            space,
            list(mg.STRATEGIES),
            max_new_tokens=test_greedy_path.DEPTH,
            eps=0.01,
            top_p=0.99,
            label_normalization=norm,
            eos_token_ids={tok.eos_token_id},
        )
        for norm in ("label_tokens", "vocab")
    }


def test_tiny_guard_has_the_real_vocabulary():
    model = guard_model("llama3")
    assert model.config.vocab_size == 128256 and model.config.hidden_size == 16
    assert model.lm_head.weight.shape == (128256, 16)


def test_greedy_path_strategies_against_brute_force(scored):
    test_greedy_path.test_greedy_token_level_strategies("llama3", scored)
    test_greedy_path.test_first_token("llama3", scored)
    test_greedy_path.test_max_over_generations_restricted_softmax("llama3", scored)
    test_greedy_path.test_max_over_generations_vocab_lookahead("llama3", scored)


@pytest.mark.parametrize(("eps", "top_p", "depth"), [(0.02, 0.99, 6), (1e-3, 0.9, 5)])
def test_any_place_against_the_per_node_reference(eps, top_p, depth):
    tok, space, model = tokenizer_of("llama3"), space_of("llama3"), guard_model("llama3")
    out = test_any_place.run_any_place(model, tok, space, PROMPTS, max_new_tokens=depth, eps=eps, top_p=top_p)
    assert max(out.stats["frontier_widths"]) > len(PROMPTS)  # the tree branched
    assert out.lower[:, 1:].max() > 0.05  # categories carry mass: the comparison is not vacuous
    for i, prompt in enumerate(PROMPTS):
        lower, upper, _ = tree_search_reference(
            forward_next_logits(model, test_any_place.prompt_ids(tok, prompt)),
            space,
            {tok.eos_token_id},
            depth,
            top_p=top_p,
            eps=eps,
        )
        assert (out.lower[i] - lower).abs().max() <= 1e-6
        assert (out.upper[i] - upper).abs().max() <= 1e-6


def test_one_prompt_at_a_time_equals_the_batch():
    test_any_place.test_batch_equals_one_prompt_at_a_time("llama3")


def test_tree_attention_equals_the_batched_cache():
    test_tree_attention.test_tree_equals_batched_cache_and_reference("llama3", "sdpa")


def test_bf16_real_vocabulary_bounds():
    tok, space = tokenizer_of("llama3"), space_of("llama3")
    model = copy.deepcopy(guard_model("llama3")).to(torch.bfloat16)
    out = test_any_place.run_any_place(model, tok, space, PROMPTS, max_new_tokens=6, eps=0.01, top_p=0.99)
    assert ((out.lower >= 0) & (out.lower <= out.upper + 1e-12) & (out.upper <= 1)).all()
