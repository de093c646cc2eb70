"""The model's recent throughput, and the ``Retry-After`` of a full queue that it gives.

Each model call is recorded with its prompts and the seconds it ran. The rate is the prompts of the calls that
ended in the last ``window_s`` seconds over the seconds those calls ran (the most recent call counts even when
it ended earlier: an idle server keeps its last measurement): prompts per second of model time, the speed at which
a busy server drains its queue. A full queue answers ``Retry-After: ceil(queued prompts / rate)``, at least 1 s;
before any call has ended the rate is unknown and the answer is 1 s.

>>> now = [100.0]
>>> meter = Throughput(window_s=60, clock=lambda: now[0])
>>> meter.rate() is None, meter.retry_after(40)
(True, 1)
>>> meter.observe(prompts=8, seconds=2.0)  # a call of 8 prompts that ran 2 s: 4 prompts per second
>>> meter.rate(), meter.retry_after(40), meter.retry_after(3)
(4.0, 10, 1)
>>> now[0] = 130.0
>>> meter.observe(prompts=2, seconds=3.0)  # within the window: (8 + 2) prompts in (2 + 3) s
>>> meter.rate(), meter.retry_after(41)
(2.0, 21)
>>> now[0] = 500.0  # both calls are older than the window: the last one alone is the rate
>>> meter.rate()
0.6666666666666666
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Throughput"]


class Throughput:
    """Prompts per second of model time over the calls that ended in the last ``window_s`` seconds.

    Args:
        window_s: how far back calls count, in seconds (> 0).
        clock: the time in seconds, monotonic (default :func:`time.monotonic`; tests pass their own).
    """

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not window_s > 0:
            raise ValueError(f"`window_s` must be a number of seconds > 0, got {window_s!r}.")
        self.window_s = window_s
        self.clock = clock
        self._calls: deque[tuple[float, int, float]] = deque()  # (ended at, prompts, seconds)
        self._lock = threading.Lock()  # the model's thread records, the event loop reads

    def observe(self, prompts: int, seconds: float) -> None:
        """Record a model call of ``prompts`` prompts that ran ``seconds`` and ended now."""
        with self._lock:
            self._calls.append((self.clock(), prompts, max(float(seconds), 0.0)))
            self._forget()

    def _forget(self) -> None:
        """Drop the calls that ended before the window, all but the most recent."""
        start = self.clock() - self.window_s
        while len(self._calls) > 1 and self._calls[0][0] < start:
            self._calls.popleft()

    def rate(self) -> float | None:
        """Prompts per second of model time over the window; None before any call has ended."""
        with self._lock:
            self._forget()
            prompts = sum(p for _, p, _ in self._calls)
            seconds = sum(s for _, _, s in self._calls)
        if prompts == 0:
            return None
        return prompts / seconds if seconds > 0 else math.inf

    def retry_after(self, queued: int) -> int:
        """Whole seconds until ``queued`` prompts are scored at the recent rate, at least 1 (1 while unknown)."""
        rate = self.rate()
        if rate is None:
            return 1
        return max(1, math.ceil(queued / rate))
