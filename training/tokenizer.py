"""The tokenizer: a byte-level BPE (Llama 3 pre-tokenizer regex, digits in groups of up to three, Llama 3 special
tokens) trained on the run's own training conversations, wrapped as a ``PreTrainedTokenizerFast`` with the guard's
chat template and checked against :func:`training.prompt_format.render_prompt`."""

from __future__ import annotations

import argparse
import random

from marginal_generate.prompts.label_prompts import unary_question
from training.conversations import branches_for, make_example
from training.encoding import Encoder
from training.generators import benign, harmful
from training.prompt_format import (
    CATEGORIES,
    CHAT_TEMPLATE,
    DEFAULT_POLICY,
    answer_text,
    prompt_prefix,
    prompt_suffix,
    render_prompt,
)
from training.queries import privacy_queries, single_request_queries
from training.run_data import RunData

SPECIAL = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
]
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _strip_special(text: str) -> str:
    """Corpus text for the BPE trainer: special tokens become line breaks (they are never merged)."""
    for t in SPECIAL:
        text = text.replace(t, "\n")
    return text


def build_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
        special_tokens=[("<|begin_of_text|>", bos)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
        additional_special_tokens=["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"],
        model_max_length=1024,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def check_tokenizer(tok) -> None:
    for word in ["safe", "unsafe", "S", "\n\n", "\n", ",", "yes", "no"]:
        ids = tok(word, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, (word, ids)
    for c in CATEGORIES:
        pieces = tok.convert_ids_to_tokens(tok(c, add_special_tokens=False)["input_ids"])
        assert pieces == ["S", c[1:]], (c, pieces)
    convs = [
        [{"role": "user", "content": " Hi  "}, {"role": "assistant", "content": "Hello"}],
        [{"role": "user", "content": "Hi"}],
    ]
    policy = {"S3": "Sex Crimes.", "S10": "Hate."}
    question = unary_question("User", "S10", "Hate")
    excluded = [c for c in CATEGORIES if c != "S3"]
    encoder = Encoder(tok)
    for conv in convs:
        assert tok.apply_chat_template(conv, tokenize=False) == render_prompt(conv)
        assert tok.apply_chat_template(conv, tokenize=False, categories=policy) == render_prompt(conv, policy)
        assert tok.apply_chat_template(conv, tokenize=False, question=question) == render_prompt(
            conv, question=question
        )
        assert tok.apply_chat_template(conv, tokenize=False, excluded_category_keys=excluded) == render_prompt(
            conv, {"S3": DEFAULT_POLICY["S3"]}
        )
        whole = tok(render_prompt(conv, policy), add_special_tokens=False)["input_ids"]
        assert encoder.ids(prompt_prefix(conv)) + encoder.ids(prompt_suffix(conv, policy)) == whole
        answer, _, _ = encoder.guard_answer(["S10", "S3"])
        assert answer == tok("\n\nunsafe\nS10,S3", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def tokenizer_corpus(data: RunData, args: argparse.Namespace) -> list[str]:
    """Training conversations with answers (every category order seen), their policy and yes/no prompts, and benign
    prompts."""
    rng = random.Random(args.seed + 1)
    corpus = []
    unsafe = [(r["query"], r["categories"]) for r in data.train_rows + data.dna_train] + single_request_queries(
        2000, args.seed + 6
    )
    unsafe += data.hand.harmful_train
    if args.privacy_per_epoch:
        unsafe += privacy_queries(1500, args.seed + 12, data.held_templates)
    for query, categories in unsafe:
        conv, cats = make_example(query, categories, rng, args.agent_frac, True, args.sentence_shuffle)
        corpus.append(render_prompt(conv).replace("<|begin_of_text|>", "") + answer_text(cats))
        for kind, extra, _ in branches_for(cats, "User", rng, 1.0, 1.0)[1:]:
            corpus.append(
                prompt_suffix(conv, extra if kind == "guard" else None, extra if kind == "unary" else None)
                + "\n\nyes\n\nno"
            )
    safe = benign.benign_prompts(2000, args.seed + 2, "train", args.docstring_frac) + harmful.benign_shared_requests(
        800, args.seed + 2
    )
    safe += data.hand.benign_train
    for q in safe:
        conv, cats = make_example(q, [], rng, args.agent_frac, True)
        corpus.append(render_prompt(conv) + answer_text(cats))
    return [_strip_special(c) for c in corpus]


def tokenizer_for(data: RunData, args: argparse.Namespace):
    """A byte-level BPE tokenizer trained on the run's corpus, checked against the chat template."""
    tok = build_tokenizer(tokenizer_corpus(data, args), args.vocab_size)
    check_tokenizer(tok)
    return tok
