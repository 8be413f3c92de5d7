"""The coordinator's ledger: what each cabinet may be drawing, so that the sum stays under the cap.

**The invariant.** For every cabinet ``c`` the ledger keeps ``A(c)``, the
most ``c`` may be drawing now: the larger of its safe share and every
share granted to ``c`` that may still be in force there. A grant is in
force from the moment it is issued until the cabinet confirms it is
superseded (it applies a later one and its measured power is at or under
it) or until it expires (issue time + ``ttl`` + ``grace``, by the
coordinator's clock). The ledger only issues a share ``v`` to ``c`` when

    ``max(A(c), v) + sum(A(j) for every other cabinet j) <= cap``

or when ``v <= A(c)`` (a decrease or a refresh, which never raises the
sum). So with the cabinets' safe shares summing to at most the cap, the
sum of ``A`` never rises above the cap, and each cabinet draws at most
its ``A`` because it only ever applies a grant (in force, so counted) or
its safe share (counted). A decrease is issued at once; the power it
frees is granted to another cabinet only after the decrease is confirmed
or has expired: a cabinet lowers before another rises.

When the cap itself is lowered the sum may be above the new cap until the
decreases are confirmed; meanwhile no grant raises any ``A`` (each share
is then at most ``cap - others``, which is below what is counted).

The cabinet's side (:class:`pecc_plugins.site.holder.ShareHolder`) keeps
its part of the bargain: it never applies a grant after the grant's
expiry by either clock, and falls back to its safe share.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Grant:
    """One share issued to a cabinet: ``power_w`` while in force, until ``expires`` (coordinator clock)."""

    seq: int
    power_w: float
    expires: float


@dataclass
class Ledger:
    """The grants in force per cabinet, and the rule that issues new ones (see the module doc)."""

    safe: dict[str, float]  # every cabinet's safe share (W): always counted
    ttl: float  # s a grant lives at the cabinet
    grace: float  # s added for the way from coordinator to cabinet
    in_force: dict[str, list[Grant]] = field(init=False)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def __post_init__(self) -> None:
        self.in_force = {cabinet: [] for cabinet in self.safe}

    def accounted(self, cabinet: str) -> float:
        """``A(cabinet)``: the most it may be drawing now (call :meth:`expire` first)."""
        grants = self.in_force[cabinet]
        return max(self.safe[cabinet], *(g.power_w for g in grants)) if grants else self.safe[cabinet]

    def total(self) -> float:
        """The sum of ``A`` over every cabinet: what the site may be drawing at most."""
        return sum(self.accounted(c) for c in self.safe)

    def expire(self, now: float) -> None:
        for cabinet, grants in self.in_force.items():
            if any(g.expires <= now for g in grants):
                self.in_force[cabinet] = [g for g in grants if g.expires > now]

    def confirm(self, cabinet: str, seen: int, applying: int | None, lowered: bool) -> bool:
        """The cabinet's report: the newest grant it has ``seen``, the one it is ``applying``
        (None: its safe share) and whether its measured power is at or under what it applies.

        Once lowered, every grant older than ``seen`` no longer binds it, and
        neither does ``seen`` itself when it applies its safe share instead
        (it never takes an old grant back). True if that lowered what it is counted at.
        """
        if not lowered or cabinet not in self.in_force:
            return False
        before = self.accounted(cabinet)
        last = seen if applying is None else seen - 1
        self.in_force[cabinet] = [g for g in self.in_force[cabinet] if g.seq > last]
        return self.accounted(cabinet) < before

    def plan(self, targets: dict[str, float], cap: float, now: float) -> dict[str, Grant]:
        """Grants to issue now towards ``targets`` (W per cabinet to be sent a share), within ``cap``.

        Decreases and refreshes first (they never raise ``A``), then the
        increases, each as far as the cap lets it now; the rest of an
        increase comes in a later round, once other decreases are confirmed.
        A cabinet is never issued less than its safe share (it is counted
        anyway).
        """
        self.expire(now)
        order = sorted(targets, key=lambda c: targets[c] - self.accounted(c))
        total = self.total()
        issued: dict[str, Grant] = {}
        for cabinet in order:
            held = self.accounted(cabinet)
            room = cap - (total - held)
            power = max(self.safe[cabinet], min(targets[cabinet], max(room, held)))
            grant = Grant(next(self._seq), power, now + self.ttl + self.grace)
            self.in_force[cabinet].append(grant)
            total += max(power, held) - held
            issued[cabinet] = grant
        return issued
