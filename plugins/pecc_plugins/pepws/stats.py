"""What the PEP-WS server counts, for the metrics an operator scrapes.

Plain integers and bucket counts updated in the hot path (a dict lookup or
a bisect each), read by the metrics collector at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

#: Upper bounds (s) of the reply latency buckets: a reply is due within the
#: protocol's request timeout, most within a few ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
#: Upper bounds (s) of the status interval buckets around the usual 100-1000 ms.
INTERVAL_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class Histogram:
    """Observations in fixed buckets (Prometheus semantics: ``le`` upper bounds, +Inf last)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


@dataclass(slots=True)
class TransportStats:
    """Counters of one PEP-WS server since it started."""

    requests: Counter[str] = field(default_factory=Counter)  # SECC requests by kind
    errors: Counter[str] = field(default_factory=Counter)  # error answers by category
    reply_latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    status_interval: Histogram = field(default_factory=lambda: Histogram(INTERVAL_BUCKETS))
    connects: int = 0
    disconnects: int = 0
