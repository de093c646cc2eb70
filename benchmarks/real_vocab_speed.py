"""any_place against batched greedy ``generate`` at the real Llama 3 vocabulary (128,256 tokens).

A random Llama (``--layers`` 2, ``--hidden`` 256 by default, or the 8B shape with ``--shape 8b``) over the real
Llama 3 tokenizer (``marginal_generate.testing.llama3_tokenizer``, from llama-models), with a guard-like bigram
bias planted in its logits so that its output tree branches like a guard's; ``--prompts`` conversations
rendered with the published Llama Guard 3 template (about 190 tokens each). Prints nodes expanded, greedy
tokens, and the time per expanded node against greedy's time per generated token.

    python benchmarks/real_vocab_speed.py                       # CPU, 2 layers, hidden 256, 64 prompts
    python benchmarks/real_vocab_speed.py --shape 8b --device cuda --dtype bfloat16   # a GPU

(The ``--old-expand`` before/after row of the one-pass expansion, in benchmarks/RESULTS.md, was measured with an
option that replaced the search's expansion function; the search no longer calls that function, so the option went.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import timing  # this folder is on sys.path when run as a script
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marginalization_speed import PROMPTS  # noqa: E402  (this folder is on sys.path when run as a script)

import marginal_generate as mg  # noqa: E402
from marginal_generate.decoding.reference import generate_next_logits, tree_search_reference  # noqa: E402
from marginal_generate.prompts import conversation, encode_conversations  # noqa: E402
from marginal_generate.testing import llama3_tokenizer, planted_guard_llama  # noqa: E402

QUERIES = PROMPTS  # the same eight requests as marginalization_speed.py
SHAPES = {
    "small": dict(
        hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "8b": dict(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--top-p", type=float, default=0.99)
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--attention", default="auto")
    parser.add_argument(
        "--seed-prompts", type=int, default=0, help="also run the seed's one-generate-per-node search on N prompts"
    )
    args = parser.parse_args()

    tok = llama3_tokenizer()
    model = planted_guard_llama(tok, SHAPES[args.shape], args.device, getattr(torch, args.dtype))
    config = model.config
    space = mg.LabelSpace.llama_guard(tok)
    convs = [conversation(f"{QUERIES[k % len(QUERIES)]} (case {k})") for k in range(args.prompts)]
    batches = [
        encode_conversations(tok, convs[i : i + args.batch_size], "llama_guard_3", device=args.device)
        for i in range(0, len(convs), args.batch_size)
    ]

    def greedy():
        return timing.greedy_over(model, batches, args.max_new_tokens)

    def any_place():
        return timing.any_place_over(
            model, batches, space, args.eps, args.top_p, args.max_new_tokens, attention=args.attention
        )

    def timed(fn):  # warm-up, then the best of --repeats (one method at a time)
        best = timing.best_of(fn, args.repeats, args.device)
        return best.output, best.seconds, best.peak_gib

    def prefill():  # the prompts' forward both methods start with (last position's logits only)
        with torch.no_grad():
            return [model(**b, logits_to_keep=1) for b in batches]

    _, p_time, _ = timed(prefill)
    g_out, g_time, g_peak = timed(greedy)
    steps = sum(o.shape[1] - b["input_ids"].shape[1] for o, b in zip(g_out, batches))
    rows = sum((o.shape[1] - b["input_ids"].shape[1]) * o.shape[0] for o, b in zip(g_out, batches))
    eos = tok.eos_token_id
    written = sum(
        int(((o[:, b["input_ids"].shape[1] :] != eos).cumprod(-1)).sum())
        + int((o[:, b["input_ids"].shape[1] :] == eos).any(-1).sum())
        for o, b in zip(g_out, batches)
    )
    a_out, a_time, a_peak = timed(any_place)
    nodes = sum(o.stats["nodes_expanded"] for o in a_out)
    fed = sum(sum(o.stats["frontier_widths"]) for o in a_out)
    attention = a_out[0].stats["attention"]
    results = [("greedy generate (batched)", g_time, g_peak, rows), (f"any_place, {attention}", a_time, a_peak, nodes)]
    seed_line = None
    if args.seed_prompts:
        ids = [
            b["input_ids"][i][b["attention_mask"][i] == 1].tolist()
            for b in batches
            for i in range(b["input_ids"].shape[0])
        ]
        seed = timing.timed(
            lambda: sum(
                tree_search_reference(
                    generate_next_logits(model, r), space, {eos}, args.max_new_tokens, top_p=args.top_p, eps=args.eps
                )[2]
                for r in ids[: args.seed_prompts]
            ),
            args.device,
        )
        seed_nodes, seed_time = seed.output, seed.wall
        per_prompt = a_time / args.prompts
        seed_line = (
            f"seed (one generate per node), {args.seed_prompts} prompts: {seed_time:.2f} s, {seed_nodes} nodes; "
            f"{seed_time / args.seed_prompts / per_prompt:.0f}x any_place's time per prompt"
        )

    per_token = g_time / rows
    print(
        f"model: random Llama {args.shape} ({config.num_hidden_layers} layers, hidden "
        f"{config.hidden_size}), vocabulary {config.vocab_size} "
        f"(real Llama 3 tokenizer), planted guard bigrams | {args.device} {args.dtype} | {timing.machine()}"
    )
    lengths = [int(m.sum()) for b in batches for m in b["attention_mask"]]
    print(
        f"{args.prompts} prompts (published Llama Guard 3 template, {min(lengths)}-{max(lengths)} "
        f"tokens) in batches of {args.batch_size}; "
        f"eps={args.eps} top_p={args.top_p} max_new_tokens={args.max_new_tokens}"
    )
    print(
        f"greedy: {steps} steps, {rows} rows computed ({rows / args.prompts:.1f} per "
        f"prompt; {written / args.prompts:.1f} tokens written "
        f"per prompt up to EOS); any_place: {nodes} nodes expanded "
        f"({nodes / args.prompts:.1f} per prompt), {fed} rows fed"
    )
    print()
    columns = [("method", 38, ""), ("wall s", 8, ".3f"), ("x greedy", 8, ".2f"), ("work", 14, "")]
    columns += [("ms / unit", 9, ".3f"), ("x greedy/token", 14, ".2f"), ("peak GiB", 8, ".2f"), ("x greedy", 8, ".2f")]
    table = []
    for label, seconds, peak, work in results:
        unit = "tokens" if label.startswith("greedy") else "nodes"
        ratios = (seconds / g_time, f"{work:7d} {unit:6}", 1000 * seconds / work, seconds / work / per_token)
        table.append((label, seconds, *ratios, peak, peak / g_peak))
    print(timing.table(columns, table))
    print()
    print(
        f"time per expanded node vs greedy time per generated token: {a_time / nodes / per_token:.2f}x (goal <= 1.2x)"
    )
    decode_token, decode_node = (g_time - p_time) / rows, (a_time - p_time) / nodes
    print(
        f"without the prefill ({p_time:.3f} s, the same forward for both): "
        f"greedy {1000 * decode_token:.3f} ms per token, "
        f"any_place {1000 * decode_node:.3f} ms per node: {decode_node / decode_token:.2f}x"
    )
    if seed_line:
        print(seed_line)


if __name__ == "__main__":
    main()
