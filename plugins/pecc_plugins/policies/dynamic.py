"""``dynamic``: each active gun gets what it can use; the spare goes to the others.

Per control cycle:

1. *Need* of each active gun (W): a car drawing less than its cap
   (``voltage x current`` below ``saturation`` of the cap it was given)
   needs what it asks plus ``headroom``; a car at its cap may need up to
   its ``power_max`` (car, gun and run-time limits); a gun not asking for
   power yet (cable check) needs ``min_power_w``.
2. *Modules*: every active gun first gets enough modules for
   ``min_power_w`` (in priority, then arrival order: a car that came
   earlier keeps its minimum, a newly arrived car gets its minimum before
   anyone gets more than theirs, so it never starves while modules
   remain; at least one module each, as a gun without any cannot even
   check its cable); then, priority level by priority level, the modules
   left are dealt one at a time to the guns still short of their need,
   lowest SOC first (unknown SOC last). A gun already holding modules
   keeps them while its need is within ``hysteresis`` of what they give,
   so needs that wobble around a module boundary move nothing.
3. *Power*: each gun's cap is what its modules give, up to ``power_max``.
   Under a site cap the budget is filled in tiers: ``min_power_w`` each
   (first come first), what each asks (by priority, max-min fair within a
   level), a margin to grow (``asked / saturation**2``), the guns that
   would take more up to their cap, then the rest. A gun held at exactly
   its ask because the site was short is remembered as such, so it is not
   mistaken for a car at its cap next cycle (which would make its cap
   flip every cycle).

Modules are placed by :func:`pecc_plugins.policies.assign.assign`, which
keeps current assignments and never moves a module from a gun drawing
current straight onto another gun.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from marshmallow import fields, post_load, validate

from pecc_core.policy import Allocation, GunDemand, PoolView
from pecc_core.power import ModuleId
from pecc_core.sharing import fair_shares
from pecc_plugins.policies.assign import assign, candidates, holdings
from pecc_plugins.policies.capacity import (
    Thermal,
    ThermalSchema,
    ceil_div,
    load_params,
    per_gun_limit,
    pop_thermal,
)


@dataclass(frozen=True, slots=True)
class DynamicParams:
    min_power_w: float = 10_000.0
    headroom: float = 0.1
    saturation: float = 0.98
    hysteresis: float = 0.1
    thermal: Thermal = field(default_factory=Thermal)


class DynamicSchema(ThermalSchema):
    """``[policy.params]`` of ``dynamic``."""

    min_power_w = fields.Float(load_default=10_000.0, validate=validate.Range(min=0, error="expected a value >= 0"))
    headroom = fields.Float(load_default=0.1, validate=validate.Range(min=0, max=1, error="expected 0 to 1"))
    saturation = fields.Float(
        load_default=0.98, validate=validate.Range(min=0.5, max=0.99, error="expected 0.5 to 0.99")
    )
    hysteresis = fields.Float(load_default=0.1, validate=validate.Range(min=0, max=1, error="expected 0 to 1"))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> DynamicParams:
        return DynamicParams(thermal=pop_thermal(data), **data)


def priority_order(active: Sequence[GunDemand]) -> list[GunDemand]:
    """Higher priority first, then first come (``since``); the demands' order breaks ties."""
    return sorted(active, key=lambda d: (-d.priority, d.since))


class DynamicPolicy:
    """Demand-driven sharing; remembers the caps it gave to tell a saturated car."""

    def __init__(self, params: DynamicParams) -> None:
        self.params = params
        self._caps: dict[str, float] = {}
        self._tight: set[str] = set()

    def allocate(self, demands: Sequence[GunDemand], pool: PoolView) -> Allocation:
        p = self.params
        active = priority_order([d for d in demands if d.active])
        reachable = candidates(pool, active, p.thermal)
        needs = {d.gun: self._need(d) for d in active}
        need = {g: n for g, (n, _) in needs.items()}
        # The weakest module it can reach: counting with it over-provisions a
        # little on a mixed pool but never leaves a gun short of the modules
        # its need was counted for (which would flip it between "at its cap"
        # and "has room" every cycle).
        unit = {g: min(powers.values(), default=0.0) for g, powers in reachable.items()}
        targets = self._targets(active, pool, reachable, need, unit)
        modules = assign(pool, demands, targets, [d.gun for d in active], reachable)
        power = dict.fromkeys((d.gun for d in demands), 0.0)
        caps = {d.gun: min(d.power_max, sum(reachable[d.gun][a] for a in modules[d.gun])) for d in active}
        power.update(self._share_site(active, caps, {g: h for g, (_, h) in needs.items()}, pool.site_power_max))
        self._caps = {g: w for g, w in power.items() if w > 0.0}
        return Allocation(modules={d.gun: modules.get(d.gun, ()) for d in demands}, power=power)

    def _need(self, d: GunDemand) -> tuple[float, bool]:
        """(power to count modules for, whether it would take more than it asks)."""
        asked = d.voltage * d.current
        if asked <= 0.0:
            # Cable check, or no target yet: one module's worth is enough; it
            # grows as soon as it asks (taking modules from cars under load
            # for a gun that will not draw for seconds would only churn).
            return min(d.power_max, self.params.min_power_w), True
        given = self._caps.get(d.gun, 0.0)
        at_cap = given > 0.0 and asked >= self.params.saturation * given
        # A gun held at exactly its ask last cycle (the site was short) is at
        # its cap by our doing, not the car's: it wants more only if it asks more.
        if at_cap and not (d.gun in self._tight and asked <= given):
            return d.power_max, True
        return min(d.power_max, asked * (1.0 + self.params.headroom)), False

    def _targets(
        self,
        active: Sequence[GunDemand],
        pool: PoolView,
        reachable: dict[str, dict[ModuleId, float]],
        need: dict[str, float],
        unit: dict[str, float],
    ) -> dict[str, int]:
        p = self.params
        limit = per_gun_limit(pool)
        want: dict[str, int] = {}
        mine = holdings(pool)
        for d in active:
            g = d.gun
            holding = sum(1 for a in mine.get(g, ()) if a in reachable[g])
            sticky = min(holding, ceil_div(need[g] * (1.0 + p.hysteresis), unit[g]))
            want[g] = min(limit, len(reachable[g]), max(ceil_div(need[g], unit[g]), sticky))
        budget = len(set().union(*(reachable[d.gun] for d in active)))
        targets = {d.gun: 0 for d in active}
        for d in active:  # tier 1: the guaranteed minimum, first come first served
            floor = min(p.min_power_w, d.power_max)
            # At least one module: an active gun without any cannot even check its cable.
            give = min(max(1, ceil_div(floor, unit[d.gun])), limit, len(reachable[d.gun]), budget)
            targets[d.gun] = give
            want[d.gun] = max(want[d.gun], give)
            budget -= give
        for _, level in groupby(active, key=lambda d: d.priority):  # tier 2: the need
            short = sorted(level, key=lambda d: (d.soc is None, d.soc or 0.0, d.since))
            while budget > 0 and short:
                short = [d for d in short if targets[d.gun] < want[d.gun]]
                for d in short[:budget]:
                    targets[d.gun] += 1
                    budget -= 1
        return targets

    def _share_site(
        self,
        active: Sequence[GunDemand],
        caps: dict[str, float],
        hungry: dict[str, bool],
        site: float | None,
    ) -> dict[str, float]:
        """Caps within the site cap, filled in tiers: the minimum, the asks by
        priority, a margin to grow, the guns that would take more, the rest."""
        self._tight = set()
        if site is None or sum(caps.values()) <= site:
            return caps
        budget = site * (1.0 - 1e-9)
        power = dict.fromkeys(caps, 0.0)

        def fill(ceilings: dict[str, float]) -> None:
            nonlocal budget
            room = {g: max(0.0, c - power[g]) for g, c in ceilings.items()}
            shares = fair_shares(min(budget, sum(room.values())), list(room.values()))
            for g, w in zip(room, shares, strict=True):
                power[g] += w
                budget -= w

        for d in active:  # the minimum, first come
            power[d.gun] = max(0.0, min(caps[d.gun], self.params.min_power_w, budget))
            budget -= power[d.gun]
        asked = {d.gun: d.voltage * d.current or caps[d.gun] for d in active}
        for _, level in groupby(active, key=lambda d: d.priority):  # what they ask, by priority
            fill({d.gun: min(caps[d.gun], asked[d.gun]) for d in level})
        # Room to grow: enough for a gun below its cap to stay clear of the saturation mark.
        margin = 1.0 / (self.params.saturation * self.params.saturation)
        fill({g: min(caps[g], a * margin) for g, a in asked.items()})
        fill({g: caps[g] for g in caps if hungry[g]})  # then those that would take more
        self._tight = {g for g in caps if not hungry[g] and power[g] <= asked[g] * (1.0 + 1e-9)}
        fill(caps)
        return power


def make_dynamic(params: Any) -> DynamicPolicy:
    """The ``dynamic`` factory: ``params`` loaded by :class:`DynamicSchema` or a plain mapping."""
    return DynamicPolicy(load_params(DynamicSchema, params))
