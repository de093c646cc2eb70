"""A data-set run: any_place over N guard prompts against greedy ``generate`` over the same prompts.

    python benchmarks/dataset_speed.py                      # embedded model, CPU, 2,295 prompts
    python benchmarks/dataset_speed.py --model PATH --device cuda --dtype bfloat16 --batch-size 32

Prompts are the seed data set's queries (``--data``, default ``../shared/data/content_moderation_lm3.train.jsonl``,
cycled to ``--num-prompts``; the public file has 2,295 rows) in the model's guard prompt, sorted
by length and batched. Both methods see the same batches, each run once untimed first (a process's first ``generate``
pays for lazy imports, the allocator and, on a GPU, its kernels' loading: 10x a later call's time on the embedded
model on CPU, which the ratio once included), then timed, the methods interleaved, best of ``--repeats``; the table
gives wall time, samples per second and the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import timing  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import marginal_generate as mg  # noqa: E402
from marginal_generate.prompts.formats import conversation, encode_conversations  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Hub id or local path (default: the embedded model)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/content_moderation_lm3.train.jsonl"))
    parser.add_argument("--num-prompts", type=int, default=2295)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--top-p", type=float, default=0.99)
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from marginal_generate.loading import load_model

    model, tok, _ = load_model(args.model, args.device, args.dtype)
    space = mg.LabelSpace.llama_guard(tok)
    with open(args.data, encoding="utf-8") as f:
        queries = [json.loads(line)["unsafe_query"] for line in f if line.strip()]
    queries = list(itertools.islice(itertools.cycle(queries), args.num_prompts))
    lengths = [len(tok(q, add_special_tokens=False)["input_ids"]) for q in queries]
    order = sorted(range(len(queries)), key=lambda i: lengths[i])
    batches = [
        encode_conversations(
            tok, [conversation(queries[i]) for i in order[k : k + args.batch_size]], device=args.device
        )
        for k in range(0, len(order), args.batch_size)
    ]
    pad = timing.pad_id(tok)

    def greedy() -> None:
        timing.greedy_over(model, batches, args.max_new_tokens, pad_token_id=pad)

    def any_place() -> None:
        timing.any_place_over(model, batches, space, args.eps, args.top_p, args.max_new_tokens)

    methods = [("greedy generate", greedy), ("any_place (attention=auto)", any_place)]
    best, _ = timing.interleaved(methods, args.repeats, args.device)  # each run once untimed first
    rows = [(name, best[name]) for name, _ in methods]
    prompt_tokens = sum(b["attention_mask"].sum().item() for b in batches)
    print(
        f"model: {args.model or 'embedded tiny guard'} | device {args.device} {args.dtype} | "
        f"{len(queries)} prompts, {len(batches)} batches of {args.batch_size}, "
        f"mean prompt {prompt_tokens / len(queries):.0f} tokens | eps={args.eps} top_p={args.top_p} "
        f"max_new_tokens={args.max_new_tokens}"
    )
    print()
    columns = [("method", 28, ""), ("wall s", 8, ".2f"), ("samples/s", 9, ".1f"), ("x greedy", 8, ".2f")]
    print(timing.table(columns, [(name, s, len(queries) / s, s / rows[0][1]) for name, s in rows]))


if __name__ == "__main__":
    main()
