"""The garbage collector's passes during a run of any_place calls, in three modes in one process:

- ``on``: the collector running throughout, as before ``score`` paused it (the benchmark swaps the pause for one
  that does nothing: ``garbage_collection._PAUSE``, a private it reaches for this comparison only);
- ``paused``: what every caller of ``score`` gets now (``garbage_collection.collection_paused``);
- ``paused+frozen``: that, inside ``frozen_heap`` (``gc.freeze`` after loading, what ``evaluate``, ``serve`` and the
  Space do).

The modes alternate block by block (``--rounds`` blocks of each, ``--passes`` passes over the 64 held-out prompts
in batches of 16 per block), so a shared machine's load falls on all of them. Per mode: the calls' median, p99 and
largest latency, the young (generations 0-1) and full (generation 2) collections that ran during the calls with
their seconds, and the total time and its ratio to ``on`` measured in the same run.

    python benchmarks/gc_pauses.py --threads 1      # shipped model, 4 rounds x 10 passes x 4 batches per mode
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overhead import shipped  # noqa: E402
from timing import machine, table  # noqa: E402

import marginal_generate as mg  # noqa: E402
from marginal_generate import garbage_collection  # noqa: E402
from marginal_generate.garbage_collection import frozen_heap  # noqa: E402
from marginal_generate.prompts import encode_conversations  # noqa: E402


class Collections:
    """Counts the young (generations 0 and 1) and full (generation 2) collections and their seconds while installed
    in ``gc.callbacks``."""

    def __init__(self) -> None:
        self.count = {"young": 0, "full": 0}
        self.seconds = {"young": 0.0, "full": 0.0}
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            kind = "full" if info["generation"] == 2 else "young"
            self.count[kind] += 1
            self.seconds[kind] += time.perf_counter() - self._start


class _NoPause:
    """A pause that leaves the collector running (mode ``on``)."""

    def enter(self) -> None:
        pass

    def leave(self) -> None:
        pass


@contextmanager
def collector_on():
    """``score`` without its pause, as it ran before it had one."""
    pause, garbage_collection._PAUSE = garbage_collection._PAUSE, _NoPause()
    try:
        yield
    finally:
        garbage_collection._PAUSE = pause


MODES = {"on": collector_on, "paused": nullcontext, "paused+frozen": frozen_heap}


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
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    counters = {mode: Collections() for mode in latencies}
    gc.collect()
    tracked = len(gc.get_objects())
    for _ in range(args.rounds):
        for mode in latencies:
            with MODES[mode]():  # frozen_heap's own gc.collect on entry is not counted: it is once per run
                gc.callbacks.append(counters[mode])
                try:
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
        ("mode", 13, ""),
        ("calls", 5, "d"),
        ("median ms", 9, ".1f"),
        ("p99 ms", 8, ".1f"),
        ("max ms", 8, ".1f"),
        ("young collections", 17, "d"),
        ("their s", 7, ".2f"),
        ("full collections", 16, "d"),
        ("their s", 7, ".2f"),
        ("total s", 7, ".2f"),
        ("x on", 5, ".2f"),
    ]
    base = sum(latencies["on"])
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
                counters[mode].count["young"],
                counters[mode].seconds["young"],
                counters[mode].count["full"],
                counters[mode].seconds["full"],
                sum(values),
                sum(values) / base,
            )
        )
    print(table(columns, rows))


if __name__ == "__main__":
    main()
