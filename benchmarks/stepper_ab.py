"""The batched-cache stepper before and after, in one process: any_place with ``CachedStepper`` from a git revision
against the working tree's, beside greedy ``generate`` and tree attention, every row a ratio to greedy.

The earlier ``decoding/stepper.py`` is read with ``git show REV:...`` and swapped in for the search's stepper per
call (``marginal_generate.generate.CachedStepper``), so the only difference between the rows is the stepper; the
methods are interleaved repeat by repeat and each row is the best of ``--repeats``, so a shared machine's load
falls on all of them. Also prints the largest difference between the two steppers' bounds and estimates.

    python benchmarks/stepper_ab.py --before 03329c4                    # shipped model, 64 prompts, batch 16
    python benchmarks/stepper_ab.py --before 03329c4 --model real-vocab --prompts 16 --repeats 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overhead import real_vocab, shipped  # noqa: E402

import marginal_generate as mg  # noqa: E402
import marginal_generate.generate as generate_module  # noqa: E402
from marginal_generate.prompts import encode_conversations  # noqa: E402


def stepper_at(revision: str) -> type:
    """``CachedStepper`` as ``decoding/stepper.py`` was at ``revision`` (a module of its own)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{revision}:marginal_generate/decoding/stepper.py"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"stepper_at_{revision}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module.CachedStepper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the git revision whose CachedStepper is the baseline")
    parser.add_argument("--model", choices=["shipped", "real-vocab"], default="shipped")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, tok, convs, prompt_format, name = (shipped if args.model == "shipped" else real_vocab)(args.prompts)
    space = mg.LabelSpace.llama_guard(tok)
    batches = [
        encode_conversations(tok, convs[i : i + args.batch_size], prompt_format)
        for i in range(0, len(convs), args.batch_size)
    ]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    before, after = stepper_at(args.before), generate_module.CachedStepper

    def greedy():
        return [model.generate(**b, do_sample=False, max_new_tokens=20, pad_token_id=pad) for b in batches]

    def any_place(stepper: type, estimate: str, attention: str = "batched"):
        def run():
            generate_module.CachedStepper = stepper
            try:
                return [
                    model.generate(
                        **b,
                        custom_generate=mg.marginalize,
                        label_space=space,
                        strategy="any_place",
                        max_new_tokens=20,
                        estimate=estimate,
                        attention=attention,
                    )
                    for b in batches
                ]
            finally:
                generate_module.CachedStepper = after

        return run

    methods = [
        ("greedy generate (batched)", greedy),
        ("any_place lower, stepper before", any_place(before, "lower")),
        ("any_place lower, stepper after", any_place(after, "lower")),
        ("any_place best, stepper before", any_place(before, "best")),
        ("any_place best, stepper after", any_place(after, "best")),
        ('any_place best, attention="tree"', any_place(after, "best", "tree")),
    ]
    outputs = {label: fn() for label, fn in methods}  # warm-up
    best = {label: float("inf") for label, _ in methods}
    for _ in range(args.repeats):
        for label, fn in methods:
            start = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - start)
    base = best[methods[0][0]]
    print(f"model: {name} | torch {torch.__version__}, threads {torch.get_num_threads()}, before = {args.before}")
    print(f"{len(convs)} prompts in batches of {args.batch_size}; best of {args.repeats}, methods interleaved")
    print()
    print(f"| {'method':40} | {'wall s':>8} | {'x greedy':>8} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|")
    for label, _ in methods:
        print(f"| {label:40} | {best[label]:8.3f} | {best[label] / base:8.2f} |")
    print()
    for estimate in ("lower", "best"):
        old, new = best[f"any_place {estimate}, stepper before"], best[f"any_place {estimate}, stepper after"]
        print(f"{estimate}: after / before {new / old:.2f}")
    diff = 0.0
    for old, new in zip(outputs[methods[3][0]], outputs[methods[4][0]]):
        for field in ("lower", "upper", "probs"):
            diff = max(diff, float((getattr(old, field) - getattr(new, field)).abs().max()))
    print(f"max |before - after| over lower, upper and the estimate: {diff:.2e}")


if __name__ == "__main__":
    main()
