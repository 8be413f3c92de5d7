"""``equal``: the usable modules shared equally among the active guns.

Every active gun gets the same number of modules (give or take one, and
within what the relay matrix lets it reach); an idle gun keeps none, so a
lone car gets the whole pool up to ``max_modules_per_gun``. It ignores
what the cars ask for: simple, predictable, fair by count — and wasteful
when a car near full charge holds modules another car could use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import post_load

from pecc_core.policy import Allocation, GunDemand, PoolView
from pecc_plugins.policies.assign import assign, candidates
from pecc_plugins.policies.capacity import (
    Thermal,
    ThermalSchema,
    finish,
    load_params,
    pop_thermal,
)


@dataclass(frozen=True, slots=True)
class EqualParams:
    thermal: Thermal = field(default_factory=Thermal)


class EqualSchema(ThermalSchema):
    """``[policy.params]`` of ``equal``: only the derating."""

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> EqualParams:
        return EqualParams(thermal=pop_thermal(data))


def first_come(active: Sequence[GunDemand]) -> list[GunDemand]:
    """Active guns in arrival order (profile order among equals): who picks first."""
    return sorted(active, key=lambda d: d.since)


class EqualPolicy:
    def __init__(self, params: EqualParams) -> None:
        self.params = params

    def allocate(self, demands: Sequence[GunDemand], pool: PoolView) -> Allocation:
        active = first_come([d for d in demands if d.active])
        reachable = candidates(pool, active, self.params.thermal)
        pooled = {a for addresses in reachable.values() for a in addresses}
        targets: dict[str, int] = {}
        if active:
            base, extra = divmod(len(pooled), len(active))
            # The odd modules go to the guns that hold most already: nothing moves for them.
            holding = {d.gun: sum(1 for a in reachable[d.gun] if pool.assigned.get(a) == d.gun) for d in active}
            richest = sorted(active, key=lambda d: -holding[d.gun])
            targets = {d.gun: base + (1 if i < extra else 0) for i, d in enumerate(richest)}
        modules = assign(pool, demands, targets, [d.gun for d in active], reachable)
        return finish(demands, pool, modules, self.params.thermal)


def make_equal(params: Any) -> EqualPolicy:
    """The ``equal`` factory: ``params`` loaded by :class:`EqualSchema` or a plain mapping."""
    return EqualPolicy(load_params(EqualSchema, params))
