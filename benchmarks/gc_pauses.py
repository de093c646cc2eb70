"""The garbage collector's full passes during a run of any_place calls, with the loaded model frozen
(``marginal_generate.gc_freeze.frozen_heap``, what ``evaluate`` and ``serve`` do) and without, in one process.

The two modes alternate block by block (``--rounds`` blocks of each, ``--passes`` passes over the 64 held-out prompts
in batches of 16 per block), so a shared machine's load falls on both. Per mode: the calls' median, p99 and largest
latency, the full (generation 2) collections that ran during the calls and their seconds, and the total time and
its ratio to the thawed mode measured in the same run.

    python benchmarks/gc_pauses.py                  # shipped model, 4 rounds x 10 passes x 4 batches per mode
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overhead import shipped  # noqa: E402
from timing import machine, table  # noqa: E402

import marginal_generate as mg  # noqa: E402
from marginal_generate.gc_freeze import frozen_heap  # noqa: E402
from marginal_generate.prompts import encode_conversations  # noqa: E402


class FullCollections:
    """Counts the full (generation 2) collections and their seconds while installed in ``gc.callbacks``."""

    def __init__(self) -> None:
        self.count, self.seconds, self._start = 0, 0.0, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, tok, convs, prompt_format, _ = shipped(64)  # overhead.py's: the embedded model and its held-out prompts
    batches = [encode_conversations(tok, convs[i : i + 16], prompt_format) for i in range(0, len(convs), 16)]
    space = mg.LabelSpace.llama_guard(tok)

    def call(batch: dict) -> None:
        model.generate(**batch, custom_generate=mg.marginalize, label_space=space, strategy="any_place")

    call(batches[0])  # warm-up
    latencies: dict[str, list[float]] = {"thawed": [], "frozen": []}
    counters = {mode: FullCollections() for mode in latencies}
    gc.collect()
    tracked = len(gc.get_objects())
    for _ in range(args.rounds):
        for mode in latencies:
            gc.callbacks.append(counters[mode])
            try:
                with frozen_heap() if mode == "frozen" else nullcontext():
                    for _ in range(args.passes):
                        for batch in batches:
                            start = time.perf_counter()
                            call(batch)
                            latencies[mode].append(time.perf_counter() - start)
            finally:
                gc.callbacks.remove(counters[mode])
    print(f"model: shipped tiny guard | {machine()} | objects the collector tracks after loading: {tracked:,}")
    print(
        f"any_place (default) calls of 16 prompts: {args.rounds} rounds x {args.passes} passes x {len(batches)} "
        "batches per mode, the modes alternating round by round"
    )
    print()
    columns = [
        ("mode", 8, ""),
        ("calls", 5, "d"),
        ("median ms", 9, ".1f"),
        ("p99 ms", 8, ".1f"),
        ("max ms", 8, ".1f"),
        ("full collections", 16, "d"),
        ("their s", 7, ".2f"),
        ("total s", 7, ".2f"),
        ("x thawed", 8, ".2f"),
    ]
    base = sum(latencies["thawed"])
    rows = []
    for mode, values in latencies.items():
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        rows.append(
            (
                mode,
                len(values),
                1000 * statistics.median(values),
                1000 * p99,
                1000 * ordered[-1],
                counters[mode].count,
                counters[mode].seconds,
                sum(values),
                sum(values) / base,
            )
        )
    print(table(columns, rows))


if __name__ == "__main__":
    main()
