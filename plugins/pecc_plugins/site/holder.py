"""The cabinet's side of a share: the newest grant while it lasts, else the safe share.

A grant lasts the shortest of what the message says (``ttl_s`` counted
from when it arrived, ``expires_at`` by the wall clock) and what the
broker says is left of its MQTT message expiry, so neither a late message
nor a slow clock can stretch it beyond what the coordinator counts. A
grant older than the newest one seen is never taken (back): the
coordinator's confirmation rule relies on it. The epoch tells grants of a
restarted coordinator from the old one's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Held:
    seq: int
    power_w: float
    until: float  # the cabinet's monotonic clock


class ShareHolder:
    """What a cabinet may draw now: its grant in force or its safe share."""

    def __init__(self, safe_w: float) -> None:
        self.safe_w = safe_w
        self.epoch: str | None = None
        self.seen = 0  # the newest grant's seq in this epoch (0: none yet)
        self.held: Held | None = None

    def receive(self, epoch: str, seq: int, power_w: float, lasts_s: float, now: float) -> bool:
        """Take a grant that lasts ``lasts_s`` from ``now``; False if it is stale or already expired."""
        if epoch == self.epoch and seq <= self.seen:
            return False
        self.epoch, self.seen = epoch, seq
        if lasts_s <= 0:
            self.held = None
            return False
        self.held = Held(seq, power_w, now + lasts_s)
        return True

    def drop(self) -> None:
        """Back to the safe share at once (the broker connection is lost)."""
        self.held = None

    def current(self, now: float) -> Held | None:
        """The grant in force at ``now``, or None (the safe share applies)."""
        if self.held is not None and now >= self.held.until:
            self.held = None
        return self.held

    def limit(self, now: float) -> float:
        held = self.current(now)
        return self.safe_w if held is None else held.power_w
