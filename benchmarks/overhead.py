"""any_place's overhead over batched greedy ``generate``: one table, every row a ratio to greedy in the same run.

Rows: greedy ``generate`` (batched), any_place with ``estimate="lower"`` (the certified bounds alone), any_place
with ``estimate="best"`` (the default: the bounds plus the estimate's roll-outs and votes), and the project's
reference walk with one ``generate`` call per tree node (``marginal_generate.decoding.reference``, batch size 1,
no cache; on the first ``--reference-prompts`` prompts, its time scaled to all of them). Each row is the best of
``--repeats`` runs; the methods are interleaved repeat by repeat, so a shared machine's load falls on all of them.
Beside each row: the seconds of its best run spent inside the model's own ``forward`` (``timing.ForwardClock``), i.e.
the method with every line of Python around the model taken away. That is its floor: any_place's forwards alone,
over greedy's whole time, bound how close to greedy any bookkeeping can bring it. And the tokens its forwards were
fed past the prompts (one per decoding row and depth), what that floor grows with: the tree's rows and the
estimate's roll-outs against greedy's one row per prompt.

    python benchmarks/overhead.py                        # the shipped model, 64 held-out prompts, batch 16
    python benchmarks/overhead.py --model real-vocab     # a random 2-layer Llama over the real Llama 3 vocabulary
    python benchmarks/overhead.py --profile 20           # cProfile of one any_place call: top 20 by cumtime, tottime

``real-vocab`` is ``benchmarks/real_vocab_speed.py``'s model: random weights, a planted guard-like bigram bias, the
published Llama Guard 3 template.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import ForwardClock, any_place_over, greedy_over, interleaved, machine, pad_id, table  # noqa: E402

import marginal_generate as mg  # noqa: E402
from marginal_generate.decoding.reference import generate_next_logits, tree_search_reference  # noqa: E402
from marginal_generate.prompts import conversation, encode_conversations  # noqa: E402


def shipped(prompts: int):
    """The embedded model, its tokenizer and the first ``prompts`` held-out conversations."""
    model, tok = mg.load_default()
    records = mg.load_default_eval_data()[:prompts]
    return model, tok, [r.conversation for r in records], "auto", "shipped tiny guard (marginal_generate.load_default)"


def real_vocab(prompts: int):
    """``real_vocab_speed.py``'s random 2-layer Llama over the Llama 3 tokenizer, with its planted bigram bias."""
    from real_vocab_speed import QUERIES, SHAPES

    from marginal_generate.testing import llama3_tokenizer, planted_guard_llama

    tok = llama3_tokenizer()
    model = planted_guard_llama(tok, SHAPES["small"])
    convs = [conversation(f"{QUERIES[k % len(QUERIES)]} (case {k})") for k in range(prompts)]
    return model, tok, convs, "llama_guard_3", "random Llama, 2 layers, hidden 256, real Llama 3 vocabulary"


def run_parser(description: str | None, cut: bool = True) -> argparse.ArgumentParser:
    """The flags this script shares with its A/B scripts (prefix_reading.py, stepper_ab.py): the model, the prompts,
    the batch, the threads, the repeats and, with ``cut``, the search's cut and answer length."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["shipped", "real-vocab"], default="shipped")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    if cut:
        parser.add_argument("--eps", type=float, default=0.01)
        parser.add_argument("--top-p", type=float, default=0.99)
        parser.add_argument("--max-new-tokens", type=int, default=20)
    return parser


def run_setup(args: argparse.Namespace) -> tuple[Any, Any, list, str, mg.LabelSpace, list[dict[str, Any]]]:
    """What :func:`run_parser`'s flags ask for: the threads set, then the model, its tokenizer, the conversations,
    the model's name, its Llama Guard label space and the encoded batches."""
    torch.set_num_threads(args.threads)
    model, tok, convs, prompt_format, name = (shipped if args.model == "shipped" else real_vocab)(args.prompts)
    batches = [
        encode_conversations(tok, convs[i : i + args.batch_size], prompt_format)
        for i in range(0, len(convs), args.batch_size)
    ]
    return model, tok, convs, name, mg.LabelSpace.llama_guard(tok), batches


def main() -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--reference-prompts", type=int, default=4, help="prompts the reference walk runs on (0: none)")
    parser.add_argument("--profile", type=int, default=0, help="print the top N of a cProfile of one any_place call")
    args = parser.parse_args()

    model, tok, convs, name, space, batches = run_setup(args)
    eos = model.generation_config.eos_token_id
    eos_ids = {eos} if isinstance(eos, int) else set(eos)
    pad = pad_id(tok)

    def greedy():
        return greedy_over(model, batches, args.max_new_tokens, pad_token_id=pad)

    def any_place(estimate: str):
        return lambda: any_place_over(
            model, batches, space, args.eps, args.top_p, args.max_new_tokens, estimate=estimate
        )

    rows = [
        b["input_ids"][i][b["attention_mask"][i] == 1].tolist() for b in batches for i in range(b["input_ids"].shape[0])
    ][: args.reference_prompts]

    def reference():
        return [
            tree_search_reference(
                generate_next_logits(model, r), space, eos_ids, args.max_new_tokens, top_p=args.top_p, eps=args.eps
            )
            for r in rows
        ]

    if args.profile:
        any_place("best")()  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        any_place("best")()
        profiler.disable()
        for key in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(args.profile)
            print(out.getvalue())
        return

    methods = [
        ("greedy generate (batched)", greedy),
        ('any_place, estimate="lower"', any_place("lower")),
        ('any_place, estimate="best" (default)', any_place("best")),
    ]
    if rows:
        methods.append(("reference walk: one generate per node", reference))
    # interleaved repeat by repeat; one timed run of the slow walk
    with ForwardClock(model) as clock:
        best, outputs = interleaved(methods, args.repeats, once={methods[-1][0]} if rows else (), clock=clock)
    if rows:  # the walk ran on a few prompts: its time for all of them
        best[methods[-1][0]] *= len(convs) / len(rows)
        clock.best[methods[-1][0]] *= len(convs) / len(rows)
        clock.best_tokens[methods[-1][0]] = round(clock.best_tokens[methods[-1][0]] * len(convs) / len(rows))
    lower, estimate = outputs[methods[1][0]], outputs[methods[2][0]]
    diff = 0.0
    if rows:
        flat = [(o, i) for o in lower for i in range(o.lower.shape[0])]
        for (o, i), (lo, up, _) in zip(flat, outputs[methods[-1][0]]):
            diff = max(diff, float((o.lower[i] - lo).abs().max()), float((o.upper[i] - up).abs().max()))
    base = best[methods[0][0]]
    print(f"model: {name} | {machine()}")
    print(
        f"{len(convs)} prompts in batches of {args.batch_size}; eps={args.eps} top_p={args.top_p} "
        f"max_new_tokens={args.max_new_tokens}; best of {args.repeats}, methods interleaved; "
        f"nodes expanded {sum(o.stats['nodes_expanded'] for o in estimate)}, "
        f"roll-outs {sum(o.stats.get('rollouts', 0) for o in estimate)}"
    )
    print()
    columns = [
        ("method", 40, ""),
        ("wall s", 8, ".3f"),
        ("x greedy", 8, ".2f"),
        ("of which model forward s", 24, ".3f"),
        ("forward alone x greedy", 22, ".2f"),
        ("tokens fed", 10, ",d"),
        ("x greedy's", 10, ".2f"),
    ]
    fed = clock.best_tokens[methods[0][0]]
    print(
        table(
            columns,
            [
                (
                    label,
                    best[label],
                    best[label] / base,
                    clock.best[label],
                    clock.best[label] / base,
                    clock.best_tokens[label],
                    clock.best_tokens[label] / fed,
                )
                for label, _ in methods
            ],
        )
    )
    if rows:
        print(f"(the reference walk ran on {len(rows)} of {len(convs)} prompts; its time is scaled to all of them)")
    print()
    print(f'estimate="best" vs estimate="lower": {best[methods[2][0]] / best[methods[1][0]]:.2f}x')
    # the bounds do not depend on the estimate, but a row's float32 logits depend on the rows beside it in the batch
    # (2-thread matmul blocking), and the estimate's roll-outs add rows: about 1e-7 apart on the shipped model
    apart = max(
        max(float((a.lower - b.lower).abs().max()), float((a.upper - b.upper).abs().max()))
        for a, b in zip(lower, estimate)
    )
    print(
        f"max |bounds of lower - bounds of best|: {apart:.1e}; "
        f"max |any_place - reference walk| over the bounds: {diff:.2e}"
    )


if __name__ == "__main__":
    main()
