"""A data-set run: any_place over N guard prompts against greedy ``generate`` over the same prompts.

    python benchmarks/dataset_speed.py                      # embedded model, CPU, 2,295 prompts
    python benchmarks/dataset_speed.py --model PATH --device cuda --dtype bfloat16 --batch-size 32

Prompts are the seed data set's queries (``--data``, default ``../shared/data/content_moderation_lm3.train.jsonl``,
cycled to ``--num-prompts``; the public file has 2,295 rows) in the model's guard prompt, sorted
by length and batched. Both methods see the same batches; the table gives wall time, samples per
second and the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import torch

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
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def greedy() -> None:
        for b in batches:
            model.generate(**b, do_sample=False, max_new_tokens=args.max_new_tokens, pad_token_id=pad)

    def any_place() -> None:
        for b in batches:
            model.generate(
                **b,
                custom_generate=mg.marginalize,
                label_space=space,
                strategy="any_place",
                eps=args.eps,
                top_p=args.top_p,
                max_new_tokens=args.max_new_tokens,
            )

    rows = []
    for name, fn in [("greedy generate", greedy), ("any_place (attention=auto)", any_place)]:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        rows.append((name, time.perf_counter() - start))
    prompt_tokens = sum(b["attention_mask"].sum().item() for b in batches)
    print(
        f"model: {args.model or 'embedded tiny guard'} | device {args.device} {args.dtype} | "
        f"{len(queries)} prompts, {len(batches)} batches of {args.batch_size}, "
        f"mean prompt {prompt_tokens / len(queries):.0f} tokens | eps={args.eps} top_p={args.top_p} "
        f"max_new_tokens={args.max_new_tokens}"
    )
    print()
    print(f"| {'method':28} | {'wall s':>8} | {'samples/s':>9} | {'x greedy':>8} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 11}|{'-' * 10}|")
    for name, seconds in rows:
        print(f"| {name:28} | {seconds:8.2f} | {len(queries) / seconds:9.1f} | {seconds / rows[0][1]:8.2f} |")


if __name__ == "__main__":
    main()
