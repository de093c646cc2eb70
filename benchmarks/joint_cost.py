"""What keeping the whole answer distribution costs: any_place with its label sets (``max_label_sets=32``, the
default) against any_place without them (``max_label_sets=0``), on the same prompts and the same cut.

Both runs decode the same tree (the joint only listens to the search); the joint adds, per explored answer and per
cut node, one update of a dict keyed by label set, per dropped child the estimate reads one more, and at the end
the fold into the kept sets with their pair masses. Interleaved repeats (A B, B A, A B, ...), each the whole prompt set
in batches; the table gives the median and the best wall and CPU time of each and their ratios, at the default cut
and at a ten times finer one (more answers and cut nodes per prompt), and checks that ``probs`` is the same.

On a shared machine the A/B times move with the load as much as with the joint, so the joint's own time is also
measured directly, in a third run per repeat: every call the search makes to it (and its ``finish``) is timed and
divided by that run's time (an upper bound: the timer's own calls are counted in).

    python benchmarks/joint_cost.py                 # held-out block 0 of the embedded model: 30 unsafe + 15 benign
    python benchmarks/joint_cost.py --repeats 11 --batch-size 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import timing  # this folder is on sys.path when run as a script
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import marginal_generate as mg  # noqa: E402
import marginal_generate.generate as generate_module  # noqa: E402
from marginal_generate.decoding.joint import JointAccumulator  # noqa: E402
from marginal_generate.prompts import encode_conversations  # noqa: E402


class TimedJoint(JointAccumulator):
    """The accumulator the search uses, each of its methods timed into :attr:`seconds`."""

    seconds = 0.0


def _timed(name: str) -> None:
    method = getattr(JointAccumulator, name)

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            TimedJoint.seconds += time.perf_counter() - start

    setattr(TimedJoint, name, timed)


for _name in [n for n, v in vars(JointAccumulator).items() if callable(v) and not n.startswith("_")]:
    _timed(_name)  # every call the search and the estimate make to it (answer, cut, place, spread, arrive, finish)


def select(records: list, unsafe: int, benign: int) -> list:
    """The first ``unsafe`` unsafe and ``benign`` benign held-out records."""
    return [r for r in records if not r.is_safe][:unsafe] + [r for r in records if r.is_safe][:benign]


def run(
    model, tokenizer, space, batches, eps: float, top_p: float, keep: int, timed: bool = False
) -> tuple[float, float, list]:
    """Wall and CPU seconds of scoring every batch, and the outputs; ``timed``: with the joint's calls timed."""
    generate_module.JointAccumulator = TimedJoint if timed else JointAccumulator  # what score() builds
    TimedJoint.seconds = 0.0
    run = timing.timed(
        lambda: [
            mg.score(
                model,
                batch["input_ids"],
                batch["attention_mask"],
                space,
                ["any_place"],
                eps=eps,
                top_p=top_p,
                max_new_tokens=20,
                max_label_sets=keep,
            )["any_place"]
            for batch in batches
        ]
    )
    return run.wall, run.cpu, run.output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unsafe", type=int, default=30)
    parser.add_argument("--benign", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = mg.load_default()
    space = mg.LabelSpace.llama_guard(tokenizer)
    records = select(mg.load_default_eval_data(), args.unsafe, args.benign)
    conversations = [list(r.conversation) for r in records]
    batches = [
        encode_conversations(tokenizer, conversations[k : k + args.batch_size])
        for k in range(0, len(conversations), args.batch_size)
    ]
    print(
        f"model: embedded tiny guard | cpu float32 | {timing.machine()}\n"
        f"{len(records)} held-out prompts ({args.unsafe} unsafe, {args.benign} "
        f"benign) in batches of {args.batch_size}, max_new_tokens=20, {args.repeats} interleaved repeats (AB, BA, ...)"
        "\n"
    )
    print(
        "| cut | any_place | median wall s | best wall s | median CPU s | best CPU s | label sets / prompt "
        "| cut entries / prompt | the joint's own time |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    summary = []
    for eps, top_p in ((0.01, 0.99), (0.001, 0.999)):
        times: dict[int, list[tuple[float, float]]] = {0: [], 32: []}
        outs: dict[int, list] = {}
        own: list[float] = []  # the joint's share of each run with it
        run(model, tokenizer, space, batches, eps, top_p, 32)  # warm-up
        for repeat in range(args.repeats):
            for keep in (0, 32) if repeat % 2 == 0 else (32, 0):  # A B, B A, ...: neither always runs second
                wall, cpu, outs[keep] = run(model, tokenizer, space, batches, eps, top_p, keep)
                times[keep].append((wall, cpu))
            wall, _, _ = run(model, tokenizer, space, batches, eps, top_p, 32, timed=True)  # apart: timers cost too
            own.append(TimedJoint.seconds / wall)
        same = all(torch.equal(a.probs, b.probs) for a, b in zip(outs[0], outs[32]))
        sets = [len(d.explored.top) + (d.explored.other is not None) for o in outs[32] for d in o.joint]
        cuts = [len(d.cuts) for o in outs[32] for d in o.joint]
        medians = {}
        for keep, label in ((0, "without the joint (max_label_sets=0)"), (32, "with the joint (max_label_sets=32)")):
            walls, cpus = [w for w, _ in times[keep]], [c for _, c in times[keep]]
            medians[keep] = (statistics.median(walls), min(walls), statistics.median(cpus), min(cpus))
            extra = (
                f"{statistics.mean(sets):.1f} (max {max(sets)}) | {statistics.mean(cuts):.1f} (max {max(cuts)}) | "
                f"{100 * statistics.median(own):.2f}% (max {100 * max(own):.2f}%)"
                if keep
                else "— | — | —"
            )
            print(
                f"| eps={eps:g} top_p={top_p:g} | {label} | {medians[keep][0]:.3f} | {medians[keep][1]:.3f} | "
                f"{medians[keep][2]:.3f} | {medians[keep][3]:.3f} | {extra} |"
            )
        summary.append(
            f"eps={eps:g} top_p={top_p:g}: with / without the joint = {medians[32][0] / medians[0][0]:.3f}x median "
            f"wall, {medians[32][1] / medians[0][1]:.3f}x best wall, {medians[32][2] / medians[0][2]:.3f}x median "
            f"CPU, {medians[32][3] / medians[0][3]:.3f}x best CPU; the joint's own time "
            f"{100 * statistics.median(own):.2f}% of a run (median), so "
            f"{1 + statistics.median(own):.3f}x; probs identical: {same}"
        )
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
