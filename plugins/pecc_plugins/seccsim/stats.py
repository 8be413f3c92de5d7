"""What the simulator counts: per-gun progress, protocol errors, latencies.

Everything here is plain data updated from the event loop (no locks): the
live table reads it, the summary and the JSON report are built from it.
Recording is an ``append`` of a float, cheap enough for the hot path of
1000 guns at 10 Hz.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

#: PEP_STATUS_UPDATE_INTERVAL: the status period the PECC must keep.
STATUS_INTERVAL_S = 0.2
#: How many error texts are kept for the summary (all are counted).
KEPT_ERRORS = 50


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (``nan`` when empty); sorts a copy."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class GunProgress:
    """One simulated gun as the live table shows it."""

    url: str
    state: str = "idle"
    voltage: float = 0.0
    current: float = 0.0
    soc: float = 0.0
    sessions_ok: int = 0
    sessions_failed: int = 0
    errors: int = 0
    last_error: str = ""

    @property
    def power_kw(self) -> float:
        return self.voltage * self.current / 1000


def _keep(texts: list[str], gun: GunProgress, text: str) -> None:
    """``text`` as ``gun``'s last error, and in ``texts`` while fewer than :data:`KEPT_ERRORS` are kept."""
    gun.last_error = text
    if len(texts) < KEPT_ERRORS:
        texts.append(f"{gun.url}: {text}")


@dataclass(slots=True)
class RunStats:
    """Counters of one simulator run, over every gun."""

    guns: list[GunProgress] = field(default_factory=list)
    #: request round trips by kind, seconds
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: how long each phase took when it was completed (by any session), seconds
    phases: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: time between consecutive status messages on a connection, seconds
    status_intervals: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    received: int = 0

    def add_gun(self, url: str) -> GunProgress:
        progress = GunProgress(url)
        self.guns.append(progress)
        return progress

    def error(self, gun: GunProgress, text: str) -> None:
        """Record a protocol error seen on ``gun``'s connection."""
        self.error_count += 1
        gun.errors += 1
        _keep(self.errors, gun, text)

    def session_failed(self, gun: GunProgress, reason: str) -> None:
        """Record that one of ``gun``'s sessions ended without charging to the target."""
        gun.sessions_failed += 1
        _keep(self.failures, gun, reason)

    @property
    def sessions_ok(self) -> int:
        return sum(g.sessions_ok for g in self.guns)

    @property
    def sessions_failed(self) -> int:
        return sum(g.sessions_failed for g in self.guns)

    @property
    def passed(self) -> bool:
        """No failed session and no protocol error: the exit code is 0."""
        return self.error_count == 0 and self.sessions_failed == 0

    def all_latencies(self) -> list[float]:
        return [v for values in self.latency.values() for v in values]

    def status_jitter(self) -> list[float]:
        """``|interval - 200 ms|`` of every status interval seen, seconds."""
        return [abs(i - STATUS_INTERVAL_S) for i in self.status_intervals]

    def report(self) -> dict[str, Any]:
        """A JSON-able digest: what ``--report`` writes and the benchmarks read."""
        ms = 1000.0

        def digest(values: list[float]) -> dict[str, float | int]:
            return {
                "count": len(values),
                "p50_ms": percentile(values, 50) * ms,
                "p99_ms": percentile(values, 99) * ms,
                "max_ms": max(values, default=math.nan) * ms,
            }

        jitter = self.status_jitter()
        return {
            "sessions_ok": self.sessions_ok,
            "sessions_failed": self.sessions_failed,
            "protocol_errors": self.error_count,
            "errors": list(self.errors),
            "failures": list(self.failures),
            "messages_sent": self.sent,
            "messages_received": self.received,
            "latency": {kind: digest(v) for kind, v in sorted(self.latency.items())},
            "latency_all": digest(self.all_latencies()),
            "phases_s": {
                name: {"count": len(v), "p50": percentile(v, 50), "max": max(v)}
                for name, v in self.phases.items()
            },
            "status": {
                "count": len(self.status_intervals),
                "jitter_p50_ms": percentile(jitter, 50) * ms,
                "jitter_p99_ms": percentile(jitter, 99) * ms,
                "interval_max_ms": max(self.status_intervals, default=math.nan) * ms,
            },
        }
