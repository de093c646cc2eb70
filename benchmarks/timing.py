"""What the speed benchmarks share: a clock that waits for the GPU, best-of-N runs (one method at a time, or
interleaved repeat by repeat so that a shared machine's load falls on every method), the machine line, the
markdown table, and the greedy and any_place ``generate`` calls over a list of batches.

The scripts import it as ``timing`` (their folder is on ``sys.path`` when run as ``python benchmarks/x.py``).

>>> calls = []
>>> def method(name):
...     return lambda: calls.append(name) or name
>>> best, outputs = interleaved([("a", method("a")), ("b", method("b"))], repeats=2, once={"b"})
>>> calls  # a warm-up of each, then a and b in turn; b (a slow walk) is timed once
['a', 'b', 'a', 'b', 'a']
>>> sorted(best), outputs
(['a', 'b'], {'a': 'a', 'b': 'b'})
>>> print(table([("method", 10, ""), ("wall s", 8, ".3f"), ("forwards", 8, "d")], [("greedy", 0.12345, 20)]))
| method     |   wall s | forwards |
|------------|----------|----------|
| greedy     |    0.123 |       20 |
"""

from __future__ import annotations

import functools
import math
import platform
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Best",
    "ForwardClock",
    "Run",
    "any_place_over",
    "best_of",
    "greedy_over",
    "interleaved",
    "machine",
    "pad_id",
    "sync",
    "table",
    "timed",
]


def sync(device: str) -> None:
    """Wait for the GPU's queued work on a CUDA ``device`` (nothing on CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@dataclass(frozen=True)
class Run:
    """One timed call: its output, wall seconds and CPU seconds (of this process)."""

    output: Any
    wall: float
    cpu: float


def timed(fn: Callable[[], Any], device: str = "cpu") -> Run:
    """Call ``fn`` once between two clock readings (the GPU synchronized before and after).

    >>> run = timed(lambda: 7)
    >>> run.output, run.wall >= 0, run.cpu >= 0
    (7, True, True)
    """
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    return Run(out, time.perf_counter() - wall, time.process_time() - cpu)


@dataclass(frozen=True)
class Best:
    """A method's best of N: the last repeat's output, the least wall seconds, the peak GPU memory (GiB; NaN on CPU)."""

    output: Any
    seconds: float
    peak_gib: float


def best_of(
    fn: Callable[[], Any], repeats: int, device: str = "cpu", before_each: Callable[[], None] | None = None
) -> Best:
    """One warm-up call, then the best of ``repeats`` timed calls (``before_each`` runs before each, e.g. to reset a
    counter); on CUDA the peak memory of the timed calls.

    >>> counts = []
    >>> best = best_of(lambda: len(counts), 3, before_each=lambda: counts.append(1))
    >>> best.output, len(counts), math.isnan(best.peak_gib)
    (3, 3, True)
    """
    fn()  # warm-up
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    run, seconds = None, math.inf
    for _ in range(repeats):
        if before_each is not None:
            before_each()
        run = timed(fn, device)
        seconds = min(seconds, run.wall)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else math.nan
    return Best(None if run is None else run.output, seconds, peak)


class ForwardClock:
    """The seconds a model spends inside its own ``forward`` while the clock is on (a ``with`` block): what a method
    costs with every line of Python around the model taken away, its floor. ``best[label]``: the forward seconds of
    the run :func:`interleaved` kept as a method's best. ``tokens``: the tokens fed past the prompts' prefill (each
    decoding row's new token, a tree's frontier; a forward without a cache counts all it is fed, its prompt again),
    what the forwards' cost grows with; ``best_tokens[label]`` those of a method's best run.

    The forward is wrapped on the instance (``functools.wraps``: ``inspect.signature``, which ``generate`` reads,
    still sees the model's own) and put back on exit.

    >>> class Model:
    ...     def forward(self, x):
    ...         return x + 1
    >>> model = Model()
    >>> with ForwardClock(model) as clock:
    ...     model.forward(1), model.forward(2)
    (2, 3)
    >>> clock.calls, clock.seconds >= 0, clock.tokens, "forward" in vars(model)
    (2, True, 0, False)
    """

    def __init__(self, model: Any, device: str = "cpu") -> None:
        self.model, self.device = model, device
        self.seconds, self.calls, self.tokens = 0.0, 0, 0
        self.best: dict[str, float] = {}
        self.best_tokens: dict[str, int] = {}

    def reset(self) -> None:
        self.seconds, self.calls, self.tokens = 0.0, 0, 0

    def __enter__(self) -> ForwardClock:
        self._own = vars(self.model).get("forward")  # an instance's own forward (a hook) is put back as it was
        inner = self.model.forward

        @functools.wraps(inner)
        def forward(*args: Any, **kwargs: Any) -> Any:
            cache = kwargs.get("cache", kwargs.get("past_key_values"))  # transformers >= 5.2 names it ``cache``
            ids = kwargs.get("input_ids", args[0] if args else None)
            if isinstance(ids, torch.Tensor) and (cache is None or cache.get_seq_length() > 0):  # not a prefill
                self.tokens += ids.numel()
            sync(self.device)
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                sync(self.device)
                self.seconds += time.perf_counter() - start
                self.calls += 1

        self.model.forward = forward
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own is None:
            del self.model.forward
        else:
            self.model.forward = self._own


def interleaved(
    methods: Sequence[tuple[str, Callable[[], Any]]],
    repeats: int,
    device: str = "cpu",
    once: Collection[str] = (),
    clock: ForwardClock | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The best wall seconds of each method over ``repeats`` rounds, the methods in turn within a round, and each
    method's warm-up output; a method named in ``once`` (a slow reference) is timed in the first round only. With a
    ``clock`` (on around the call), ``clock.best`` gets the model's forward seconds of each method's best run."""
    outputs = {label: fn() for label, fn in methods}  # warm-up
    best = dict.fromkeys(outputs, math.inf)
    for _ in range(repeats):
        for label, fn in methods:
            if label in once and best[label] < math.inf:
                continue
            if clock is not None:
                clock.reset()
            wall = timed(fn, device).wall
            if wall < best[label]:
                best[label] = wall
                if clock is not None:
                    clock.best[label], clock.best_tokens[label] = clock.seconds, clock.tokens
    return best, outputs


def machine() -> str:
    """The processor, torch's version and its threads, for a table's header."""
    return f"{platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}"


def table(columns: Sequence[tuple[str, int, str]], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table, every cell padded to its column's width: ``columns`` are (title, width, format of the
    cells); the first column's title and text cells are left-aligned, the other titles and the numbers right."""
    titles = [f"{t:{w}}" if k == 0 else f"{t:>{w}}" for k, (t, w, _) in enumerate(columns)]
    lines = ["| " + " | ".join(titles) + " |", "|" + "|".join("-" * (w + 2) for _, w, _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format(v, f"{w}{f}") for v, (_, w, f) in zip(row, columns)) + " |")
    return "\n".join(lines)


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's padding id, else its EOS id."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def greedy_over(model: Any, batches: Sequence[dict[str, Any]], max_new_tokens: int, **kwargs: Any) -> list[Any]:
    """Greedy ``generate`` on each batch (``kwargs``: e.g. ``pad_token_id``)."""
    return [model.generate(**b, do_sample=False, max_new_tokens=max_new_tokens, **kwargs) for b in batches]


def any_place_over(
    model: Any,
    batches: Sequence[dict[str, Any]],
    space: Any,
    eps: float,
    top_p: float,
    max_new_tokens: int,
    **kwargs: Any,
) -> list[Any]:
    """any_place through ``generate(custom_generate=marginalize)`` on each batch (``kwargs``: e.g. ``estimate``,
    ``attention``)."""
    import marginal_generate as mg

    return [
        model.generate(
            **b,
            custom_generate=mg.marginalize,
            label_space=space,
            strategy="any_place",
            eps=eps,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            **kwargs,
        )
        for b in batches
    ]
