"""The sharing policies of the site: how the grid cap is split between cabinets.

Every cabinet keeps its safe share (the coordinator counts it whatever
happens, see :mod:`pecc_plugins.site.ledger`); what the policy shares is
the rest of the cap. Both policies split with the max-min fair water
filling every split in PECC uses (:func:`pecc_core.sharing.fair_shares`):

- ``equal``: the rest in equal parts to the cabinets present, none above
  what it can use (its capacity);
- ``demand``: first what each cabinet asks (the sum of its active guns'
  requests, up to the cars' limits), priority level by priority level,
  fair within a level; then what is left, equally, so that cars can ramp.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from pecc_core.sharing import fair_shares

POLICIES = ("equal", "demand")


@dataclass(frozen=True, slots=True)
class CabinetDemand:
    """What one cabinet present on the broker asks (its latest demand message)."""

    cabinet: str
    demand_w: float  # what its active guns ask now
    capacity_w: float  # the most it could draw (its guns' and its own site limits)
    priority: int = 0


def targets(policy: str, cabinets: list[CabinetDemand], safe: dict[str, float], cap: float) -> dict[str, float]:
    """The share each present cabinet should get: its safe share plus its part of the rest."""
    budget = cap - sum(safe.values())
    extra = dict.fromkeys((c.cabinet for c in cabinets), 0.0)
    room = {c.cabinet: max(0.0, c.capacity_w - safe[c.cabinet]) for c in cabinets}
    if policy == "demand":
        ranked = sorted(cabinets, key=lambda c: -c.priority)
        for _, level in groupby(ranked, key=lambda c: c.priority):
            members = list(level)
            wants = [min(room[c.cabinet], max(0.0, c.demand_w - safe[c.cabinet])) for c in members]
            for cabinet, share in zip(members, fair_shares(budget, wants), strict=True):
                extra[cabinet.cabinet] += share
                budget -= share
    spare = fair_shares(budget, [room[c.cabinet] - extra[c.cabinet] for c in cabinets])
    for cabinet, share in zip(cabinets, spare, strict=True):
        extra[cabinet.cabinet] += share
    return {c.cabinet: safe[c.cabinet] + extra[c.cabinet] for c in cabinets}
