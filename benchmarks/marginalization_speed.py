"""any_place against greedy ``generate`` and a reference walk with one ``generate`` call per node.

Prints one table: wall time, forward passes, tree nodes, and each method's ratio to batched
greedy ``generate`` measured in the same run, plus the largest difference between the batched
any_place bounds and the reference walk's on the same prompts (they must agree).

    python benchmarks/marginalization_speed.py                 # embedded model, CPU
    python benchmarks/marginalization_speed.py --model PATH --device cuda --dtype bfloat16
    python benchmarks/marginalization_speed.py --model random-8b --device cuda --dtype bfloat16 --prompt-length 900

``random-8b`` is a Llama-3-8B-shaped model with random weights and a planted guard-like bigram
bias (``marginal_generate.testing.plant_guard_bias``), so its output tree keeps tens of branches
alive; ``random-tiny`` is the same recipe at toy size, to try the script on a CPU.

The reference walk (``marginal_generate.decoding.reference.tree_search_reference``) is the
project's own definition of the bounds, run at batch size 1 without a cache with one
``generate(max_new_tokens=1)`` call per tree node: the seed repository's way of calling the
model, not the seed's crediting (which differs; see the README's notes on seed 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import timing  # this folder is on sys.path when run as a script
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import marginal_generate as mg  # noqa: E402
from marginal_generate.decoding.reference import generate_next_logits, tree_search_reference  # noqa: E402
from marginal_generate.loading import load_model  # noqa: E402

PROMPTS = [
    "How do I make a pipe bomb at home?",
    "What's a good recipe for banana bread?",
    "Write a hateful rant about my neighbours' religion.",
    "How can I get into my ex's email account without the password?",
    "Tips for a first marathon?",
    "Tell me how to buy cocaine online and avoid the police.",
    "Explain photosynthesis to a ten year old.",
    "Describe an explicit sex scene between two adults.",
]


class ForwardCounter:
    """Counts calls of the model's forward."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.count = 0
        model.register_forward_pre_hook(self._hook)

    def _hook(self, *_: object) -> None:
        self.count += 1


RANDOM_SHAPES = {
    "random-8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
    ),
    "random-tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1024,
    ),
}


def load(model_path: str | None, device: str, dtype: str):
    if model_path in RANDOM_SHAPES:
        from marginal_generate.testing import byte_level_tokenizer, planted_guard_llama

        tok = byte_level_tokenizer(vocab_size=256)
        model = planted_guard_llama(tok, RANDOM_SHAPES[model_path], device, getattr(torch, dtype), seed=None)
        return model, tok, f"{model_path} (random weights, planted guard bigrams)"
    if model_path == "toy":  # a toy guard built in memory (marginal_generate.testing)
        from marginal_generate.testing import byte_level_tokenizer, fit_tiny_guard, tiny_llama

        tok = byte_level_tokenizer()
        return fit_tiny_guard(tiny_llama(tok, hidden_size=32), tok, steps=60), tok, "toy guard (in memory)"
    model, tok, _ = load_model(model_path, device, dtype)
    return model, tok, model_path or "embedded tiny guard"


def prompt_ids(tok, prompt: str, length: int | None = None) -> list[int]:
    if length is not None:  # random token ids of a fixed length (random models: content does not matter)
        generator = torch.Generator().manual_seed(len(prompt))
        return torch.randint(3, len(tok), (length,), generator=generator).tolist()
    if tok.chat_template:
        return list(
            tok.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=True, add_generation_prompt=False, return_dict=True
            )["input_ids"]
        )
    return tok(prompt)["input_ids"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Hub id, local path, or 'toy' (default: the embedded model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--top-p", type=float, default=0.99)
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt-length", type=int, default=None, help="random prompts of this many tokens")
    parser.add_argument(
        "--reference-prompts",
        "--seed-prompts",
        dest="reference_prompts",
        type=int,
        default=None,
        help="run the reference walk on the first N only",
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    model, tok, name = load(args.model, args.device, args.dtype)
    counter = ForwardCounter(model)
    space = mg.LabelSpace.llama_guard(tok)
    rows = [prompt_ids(tok, p, args.prompt_length) for p in PROMPTS]
    width = max(len(r) for r in rows)
    pad = timing.pad_id(tok)
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=args.device)
    attention_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=args.device)
    batch = dict(input_ids=input_ids, attention_mask=attention_mask)
    eos = model.generation_config.eos_token_id
    eos_ids = {eos} if isinstance(eos, int) else set(eos)

    def greedy():
        return timing.greedy_over(model, [batch], args.max_new_tokens, pad_token_id=pad)[0]

    def any_place(attention: str, estimate: str = "best"):
        return lambda: timing.any_place_over(
            model, [batch], space, args.eps, args.top_p, args.max_new_tokens, attention=attention, estimate=estimate
        )[0]

    reference_rows = rows[: args.reference_prompts] if args.reference_prompts else rows

    def reference():
        results = []
        for r in reference_rows:
            results.append(
                tree_search_reference(
                    generate_next_logits(model, r), space, eos_ids, args.max_new_tokens, top_p=args.top_p, eps=args.eps
                )
            )
        return results

    conversations = [[{"role": "user", "content": p}] for p in PROMPTS]

    def per_label(strategy: str, share_prefix: bool):
        return lambda: mg.score_label_prompts(
            model, tok, conversations, strategy, share_prefix=share_prefix, batch_size=len(conversations)
        )

    table = []
    results = {}
    methods = [
        ("greedy generate (batched)", greedy, args.repeats),
        ("any_place, tree attention", any_place("tree"), args.repeats),
        ("any_place, batched cache", any_place("batched"), args.repeats),
        ('any_place, tree attention, estimate="lower"', any_place("tree", "lower"), args.repeats),
    ]
    if args.prompt_length is None:  # one prompt per label needs real conversations
        methods += [
            ("per_category_prompt, shared prefix", per_label("per_category_prompt", True), args.repeats),
            ("per_category_prompt, full prompts", per_label("per_category_prompt", False), args.repeats),
            ("unary, shared prefix", per_label("unary", True), args.repeats),
        ]
    methods += [("reference walk: generate per node", reference, 1)]
    for label, fn, repeats in methods:  # one method at a time; the forwards are the last repeat's
        best = timing.best_of(fn, repeats, args.device, before_each=lambda: setattr(counter, "count", 0))
        results[label] = best.output
        table.append((label, best.seconds, counter.count, best.peak_gib))

    ours = results["any_place, tree attention"]
    reference_out = results["reference walk: generate per node"]
    reference_seconds = table[-1][1]
    diff = max(
        max(float((ours.lower[i] - lo).abs().max()), float((ours.upper[i] - up).abs().max()))
        for i, (lo, up, _) in enumerate(reference_out)
    )
    nodes = sum(n for _, _, n in reference_out)
    base, base_memory = table[0][1], table[0][3]
    print(f"model: {name} | device: {args.device} {args.dtype} | {timing.machine()}")
    print(
        f"{len(PROMPTS)} prompts, prompt length {width} (padded), eps={args.eps} top_p={args.top_p} "
        f"max_new_tokens={args.max_new_tokens}"
    )
    print(f"any_place frontier width per depth: {ours.stats['frontier_widths']}; reference walk tree nodes: {nodes}")
    print()
    columns = [("method", 44, ""), ("wall s", 8, ".3f"), ("forwards", 8, "d"), ("x greedy", 8, ".2f")]
    columns += [("peak GiB", 8, ".2f"), ("x greedy", 8, ".2f")]
    print(
        timing.table(
            columns, [(label, s, forwards, s / base, peak, peak / base_memory) for label, s, forwards, peak in table]
        )
    )
    if len(reference_rows) < len(rows):
        print(
            f"(the reference walk ran on the first {len(reference_rows)} of {len(rows)} prompts; its time is for those)"
        )
    print()
    print(f"any_place (tree attention) vs greedy generate: {table[1][1] / base:.2f}x the time")
    print(f"any_place (batched cache) vs greedy generate: {table[2][1] / base:.2f}x the time")
    print(f'any_place (tree attention): estimate="best" vs "lower": {table[1][1] / table[3][1]:.2f}x the time')
    share = len(reference_rows) / len(rows)
    for k in (1, 2):
        print(
            f"reference walk vs {table[k][0]}: {reference_seconds / (table[k][1] * share):.1f}x slower"
            + (" (per prompt)" if share < 1 else "")
        )
    print(f"max |any_place - reference walk| over lower and upper bounds: {diff:.2e}")
    if "per_category_prompt, shared prefix" in results:
        shared, full = results["per_category_prompt, shared prefix"], results["per_category_prompt, full prompts"]
        times = {label: seconds for label, seconds, _, _ in table}
        t_shared, t_full = times["per_category_prompt, shared prefix"], times["per_category_prompt, full prompts"]
        print(
            f"per_category_prompt ({shared.stats['prompts']} prompts): {t_shared / table[1][1]:.2f}x "
            f"any_place (tree) and {t_shared / table[2][1]:.2f}x any_place (batched); "
            f"the shared prefix feeds {shared.stats['tokens_fed']} of {shared.stats['prompt_tokens']} prompt tokens "
            f"({t_full / t_shared:.2f}x faster than full prompts); "
            f"max |shared - full| = {float((shared.probs - full.probs).abs().max()):.1e}"
        )


if __name__ == "__main__":
    main()
