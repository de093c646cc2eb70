"""The server's counters in the Prometheus text format (version 0.0.4), written by hand: ``prometheus_client``
is not a dependency. Requests and errors by endpoint and status, a latency histogram, the batch sizes the model
was called with, the queue depth and the requests in flight.

>>> m = Metrics()
>>> m.observe_request("/v1/moderations", 200, 0.03)
>>> m.observe_batch(3)
>>> text = m.render()
>>> 'marginal_generate_requests_total{endpoint="/v1/moderations",status="200"} 1' in text.splitlines()
True
>>> 'marginal_generate_batch_size_bucket{le="4"} 1' in text.splitlines()
True
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence

__all__ = ["Metrics", "LATENCY_BUCKETS", "BATCH_BUCKETS"]

#: seconds
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: prompts per model call
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)

_PREFIX = "marginal_generate_"


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(pairs, escaped)) + "}"


def _samples(name: str, keys: Sequence[str], counts: dict[tuple[str, ...], int]) -> list[str]:
    """One sample line per labelled count, sorted by the labels' values.

    >>> _samples("errors_total", ("endpoint", "code"), {("/health", "http_404"): 2})
    ['marginal_generate_errors_total{endpoint="/health",code="http_404"} 2']
    """
    return [f"{_PREFIX}{name}{_labels(list(zip(keys, values)))} {n}" for values, n in sorted(counts.items())]


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, edge in enumerate(self.buckets):
            if value <= edge:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, pairs: list[tuple[str, str]]) -> list[str]:
        out = [f"{name}_bucket{_labels([*pairs, ('le', _number(e))])} {c}" for e, c in zip(self.buckets, self.counts)]
        out.append(f"{name}_bucket{_labels([*pairs, ('le', '+Inf')])} {self.count}")
        out.append(f"{name}_sum{_labels(pairs)} {_number(self.total)}")
        out.append(f"{name}_count{_labels(pairs)} {self.count}")
        return out


class Metrics:
    """The counters of one server process; safe to update from the event loop and the scoring thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.latency: dict[str, _Histogram] = {}
        self.batches = _Histogram(BATCH_BUCKETS)
        self.prompts_scored = 0
        self.queue_depth = 0
        self.in_flight = 0

    def observe_request(self, endpoint: str, status: int, seconds: float, code: str | None = None) -> None:
        """One answered request; an error (status >= 400) is counted by its ``code`` too."""
        with self._lock:
            self.requests[(endpoint, str(status))] += 1
            if status >= 400:
                self.errors[(endpoint, code or f"http_{status}")] += 1
            self.latency.setdefault(endpoint, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_batch(self, size: int) -> None:
        """One model call on ``size`` prompts."""
        with self._lock:
            self.batches.observe(size)
            self.prompts_scored += size

    def render(self) -> str:
        """The exposition text (``Content-Type: text/plain; version=0.0.4``)."""
        with self._lock:
            latency = [
                line
                for endpoint, hist in sorted(self.latency.items())
                for line in hist.lines(f"{_PREFIX}request_duration_seconds", [("endpoint", endpoint)])
            ]
            families = [
                ("requests_total", "counter", "Requests answered, by endpoint and HTTP status.",
                 _samples("requests_total", ("endpoint", "status"), self.requests)),
                ("errors_total", "counter", "Requests answered with an error, by endpoint and error code.",
                 _samples("errors_total", ("endpoint", "code"), self.errors)),
                ("request_duration_seconds", "histogram", "Time from the request's arrival to its answer.", latency),
                ("batch_size", "histogram", "Prompts per model call.", self.batches.lines(f"{_PREFIX}batch_size", [])),
                ("prompts_scored_total", "counter", "Prompts scored by the model.",
                 [f"{_PREFIX}prompts_scored_total {self.prompts_scored}"]),
                ("queue_depth", "gauge", "Prompts waiting for a batch.", [f"{_PREFIX}queue_depth {self.queue_depth}"]),
                ("requests_in_flight", "gauge", "Requests received and not yet answered.",
                 [f"{_PREFIX}requests_in_flight {self.in_flight}"]),
            ]  # fmt: skip
        out = []
        for name, kind, text, samples in families:
            out += [f"# HELP {_PREFIX}{name} {text}", f"# TYPE {_PREFIX}{name} {kind}", *samples]
        return "\n".join(out) + "\n"
