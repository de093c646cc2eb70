"""The batched-cache stepper before and after, in one process: any_place with ``CachedStepper`` from a git revision
against the working tree's, beside greedy ``generate`` and tree attention, every row a ratio to greedy.

The earlier ``decoding/stepper.py`` is read with ``git show REV:...`` and swapped in for the search's stepper per
call (``marginal_generate.generate.CachedStepper``), so the only difference between the rows is the stepper; the
methods are interleaved repeat by repeat and each row is the best of ``--repeats``, so a shared machine's load
falls on all of them. Also prints the largest difference between the two steppers' bounds and estimates.

``--replay`` times the steppers alone: the ``(parents, tokens)`` of one any_place search per batch are recorded,
then each stepper (before, after, tree attention) runs the prefill and exactly those steps; the table gives the
steps' seconds and the largest difference of their logits from the earlier stepper's.

    python benchmarks/stepper_ab.py --before 03329c4                    # shipped model, 64 prompts, batch 16
    python benchmarks/stepper_ab.py --before 03329c4 --model real-vocab --prompts 16 --repeats 2
    python benchmarks/stepper_ab.py --before 03329c4 --replay --threads 1
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overhead import real_vocab, run_parser, shipped  # noqa: E402
from timing import any_place_over, greedy_over, interleaved, machine, pad_id, table  # noqa: E402

import marginal_generate as mg  # noqa: E402
import marginal_generate.generate as generate_module  # noqa: E402
from marginal_generate.prompts import encode_conversations  # noqa: E402


def stepper_at(revision: str) -> type:
    """``CachedStepper`` as ``decoding/stepper.py`` was at ``revision`` (a module of its own; its relative imports,
    such as ``row_slots``, are the working tree's modules)."""
    root = Path(__file__).resolve().parents[1]
    path = f"{revision}:marginal_generate/decoding/stepper.py"
    source = subprocess.run(["git", "show", path], cwd=root, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType(f"marginal_generate.decoding.stepper_at_{revision}")
    module.__package__ = "marginal_generate.decoding"
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module.CachedStepper


def main() -> None:
    parser = run_parser(__doc__, cut=False)
    parser.add_argument("--before", required=True, help="the git revision whose CachedStepper is the baseline")
    parser.add_argument("--replay", action="store_true", help="time the steppers alone on recorded steps")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, tok, convs, prompt_format, name = (shipped if args.model == "shipped" else real_vocab)(args.prompts)
    space = mg.LabelSpace.llama_guard(tok)
    size = args.batch_size
    batches = [encode_conversations(tok, convs[i : i + size], prompt_format) for i in range(0, len(convs), size)]
    before, after = stepper_at(args.before), generate_module.CachedStepper

    def any_place(stepper: type, estimate: str, attention: str = "batched"):
        def run():
            generate_module.CachedStepper = stepper  # what _choose_attention hands the search
            try:
                return any_place_over(model, batches, space, 0.01, 0.99, 20, estimate=estimate, attention=attention)
            finally:
                generate_module.CachedStepper = after

        return run

    if args.replay:
        search = lambda b: any_place_over(model, [b], space, 0.01, 0.99, 20, attention="batched")  # noqa: E731
        replay(model, batches, search, {"before": before, "after": after}, args.repeats)
        return
    methods = [
        ("greedy generate (batched)", lambda: greedy_over(model, batches, 20, pad_token_id=pad_id(tok))),
        ("any_place lower, stepper before", any_place(before, "lower")),
        ("any_place lower, stepper after", any_place(after, "lower")),
        ("any_place best, stepper before", any_place(before, "best")),
        ("any_place best, stepper after", any_place(after, "best")),
        ('any_place best, attention="tree"', any_place(after, "best", "tree")),
    ]
    best, outputs = interleaved(methods, args.repeats)
    base = best[methods[0][0]]
    print(f"model: {name} | {machine()}; before = {args.before}")
    print(f"{len(convs)} prompts, batches of {size}; eps=0.01 top_p=0.99; best of {args.repeats}, methods interleaved")
    print()
    columns = [("method", 40, ""), ("wall s", 8, ".3f"), ("x greedy", 8, ".2f")]
    print(table(columns, [(label, best[label], best[label] / base) for label, _ in methods]))
    print()
    for estimate in ("lower", "best"):
        old, new = best[f"any_place {estimate}, stepper before"], best[f"any_place {estimate}, stepper after"]
        print(f"{estimate}: after / before {new / old:.2f}")
    diff = 0.0
    for old, new in zip(outputs[methods[3][0]], outputs[methods[4][0]]):
        for field in ("lower", "upper", "probs"):
            diff = max(diff, float((getattr(old, field) - getattr(new, field)).abs().max()))
    print(f"max |before - after| over lower, upper and the estimate: {diff:.2e}")


def replay(model, batches, search, steppers: dict[str, type], repeats: int) -> None:
    """Record the steps of ``search(batch)`` (with ``steppers["after"]``) for each batch, then time each stepper's
    prefill and steps on them, interleaved."""
    from marginal_generate.decoding.tree_stepper import TreeAttentionStepper

    recorded: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    after = steppers["after"]
    original = after.step

    def recording(self, parents, tokens):
        recorded[-1].append((parents.clone(), tokens.clone()))
        return original(self, parents, tokens)

    after.step = recording
    try:
        for b in batches:
            recorded.append([])
            search(b)
    finally:
        after.step = original

    def run(stepper: type) -> tuple[float, list[torch.Tensor]]:
        seconds, logits = 0.0, []
        with torch.inference_mode():
            for b, steps in zip(batches, recorded):
                s = stepper(model, b["input_ids"], b["attention_mask"])
                logits.append(s.prefill())
                start = time.perf_counter()
                for parents, tokens in steps:
                    logits.append(s.step(parents, tokens))
                seconds += time.perf_counter() - start
        return seconds, logits

    steppers = {**steppers, "tree attention": TreeAttentionStepper}
    reference = {label: run(stepper)[1] for label, stepper in steppers.items()}  # warm-up
    best = dict.fromkeys(steppers, math.inf)
    for _ in range(repeats):
        for label, stepper in steppers.items():
            best[label] = min(best[label], run(stepper)[0])
    rows = sum(p.numel() for steps in recorded for p, _ in steps)
    print(f"{machine()}; {sum(map(len, recorded))} steps, {rows} rows; best of {repeats}, steppers interleaved")
    columns = [("stepper", 16, ""), ("steps s", 8, ".3f"), ("x before", 8, ".2f"), ("max |logits - before|", 22, ".2e")]
    rows_out = []
    for label in steppers:
        difference = _max_difference(reference[label], reference["before"])
        rows_out.append((label, best[label], best[label] / best["before"], difference))
    print(table(columns, rows_out))


def _max_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


if __name__ == "__main__":
    main()
