"""What modules can deliver, and the caps every policy applies on top.

Shared by every policy of this plugin: the thermal derating of a module,
the power one module can give a gun at the gun's voltage, and the last
step of every allocation — per-gun caps bounded by the gun's own limit
and its modules, then scaled under the site cap. Keeping these in one
place means the three policies cannot disagree on what a limit is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from pecc_core.policy import Allocation, GunDemand, PoolView
from pecc_core.power import ModuleId, ModuleState

#: Scaling under the site cap leaves this relative margin so that rounding
#: can never make the sum of the caps exceed the cap.
_SITE_MARGIN = 1e-9


@dataclass(frozen=True, slots=True)
class Thermal:
    """Linear derating: full power up to ``start_c``, ``floor`` x power from ``end_c`` on."""

    start_c: float = 70.0
    end_c: float = 90.0
    floor: float = 0.3

    def factor(self, temperature: float) -> float:
        """The fraction of its rating a module at ``temperature`` may deliver."""
        if temperature <= self.start_c:
            return 1.0
        if temperature >= self.end_c:
            return self.floor
        return 1.0 - (1.0 - self.floor) * (temperature - self.start_c) / (self.end_c - self.start_c)


@dataclass(frozen=True, slots=True)
class Rating:
    """A usable module's limits with its thermal derating applied."""

    module: ModuleId
    voltage_min: float
    voltage_max: float
    current_max: float
    power_max: float

    @classmethod
    def of(cls, module: ModuleState, thermal: Thermal) -> Rating | None:
        """The derated rating of ``module``; None when it is not usable."""
        if not module.usable:
            return None
        f = thermal.factor(module.temperature)
        return cls(module.id, module.voltage_min, module.voltage_max, module.current_max * f, module.power_max * f)

    def at(self, voltage: float) -> float:
        """The most it can deliver at ``voltage`` (W).

        At an unknown voltage (0) the power rating alone counts; a voltage the
        module cannot regulate to gives 0, so such a module never adds to a cap.
        """
        if voltage <= 0.0:
            return self.power_max
        if voltage < self.voltage_min or voltage > self.voltage_max:
            return 0.0
        return min(self.power_max, self.current_max * voltage)


def ratings(pool: PoolView, thermal: Thermal) -> list[Rating]:
    """The derated ratings of the pool's usable modules, in module order."""
    rated = (Rating.of(pool.modules[a], thermal) for a in sorted(pool.modules))
    return [r for r in rated if r is not None]


def module_power(module: ModuleState, voltage: float, thermal: Thermal) -> float:
    """The most ``module`` can deliver at ``voltage`` (W), derated by temperature; 0 if unusable."""
    rating = Rating.of(module, thermal)
    return 0.0 if rating is None else rating.at(voltage)


def gun_capability(addresses: Iterable[ModuleId], pool: PoolView, voltage: float, thermal: Thermal) -> float:
    """The summed derated power of ``addresses`` at ``voltage`` (W)."""
    modules = pool.modules
    return sum(module_power(modules[a], voltage, thermal) for a in addresses)


def scale_to_site(power: dict[str, float], site_power_max: float | None) -> dict[str, float]:
    """Scale every cap by one factor so that their sum stays within the site cap."""
    if site_power_max is None:
        return power
    total = sum(power.values())
    if total <= site_power_max:
        return power
    factor = site_power_max / total * (1.0 - _SITE_MARGIN)
    return {gun: p * factor for gun, p in power.items()}


def finish(
    demands: Sequence[GunDemand],
    pool: PoolView,
    modules: Mapping[str, Sequence[ModuleId]],
    thermal: Thermal,
) -> Allocation:
    """The allocation of ``modules`` with caps every policy shares.

    An active gun may draw what its usable modules give at its voltage,
    up to its own ``power_max``; an inactive gun may draw nothing (it
    keeps its modules only if the policy says so). The site cap scales all
    caps alike.
    """
    usable = pool.modules
    given = {
        d.gun: tuple(sorted(a for a in modules.get(d.gun, ()) if usable[a].usable)) for d in demands
    }
    power = {
        d.gun: (
            min(d.power_max, gun_capability(given[d.gun], pool, d.voltage, thermal))
            if d.active
            else 0.0
        )
        for d in demands
    }
    return Allocation(modules=given, power=scale_to_site(power, pool.site_power_max))


def reaches(pool: PoolView, module: ModuleId, gun: str) -> bool:
    """True when ``module`` can be switched onto ``gun`` (an empty reach means every gun)."""
    reach = pool.reach.get(module)
    return not reach or gun in reach


def per_gun_limit(pool: PoolView) -> int:
    """The relay matrix's modules-per-gun limit, with 0 (no limit) as the module count."""
    return pool.max_modules_per_gun or len(pool.modules)


def ceil_div(need: float, unit: float) -> int:
    """How many units of ``unit`` cover ``need`` (0 for no need, large for a zero unit)."""
    if need <= 0.0:
        return 0
    if unit <= 0.0:
        return 1 << 30
    return math.ceil(need / unit - 1e-9)


class ThermalSchema(Schema):
    """The derating parameters every policy of this plugin accepts."""

    error_messages = {"unknown": "unknown key", "type": "expected a table"}

    derate_start_c = fields.Float(load_default=70.0, validate=validate.Range(min=-40, max=200))
    derate_end_c = fields.Float(load_default=90.0, validate=validate.Range(min=-40, max=200))
    derate_floor = fields.Float(
        load_default=0.3,
        validate=validate.Range(min=0, max=1, error="expected a fraction from 0 to 1"),
    )

    @validates_schema
    def start_before_end(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("derate_start_c", 0) >= data.get("derate_end_c", 1):
            raise ValidationError("expected derate_start_c < derate_end_c", "derate_start_c")



def pop_thermal(data: dict[str, Any]) -> Thermal:
    """Take the derating keys out of loaded ``data`` as one :class:`Thermal`."""
    return Thermal(data.pop("derate_start_c"), data.pop("derate_end_c"), data.pop("derate_floor"))


def load_params(schema: type[Schema], params: Any) -> Any:
    """``params`` as the policy's dataclass: already loaded, or loaded now from a mapping.

    The station hands a factory what the profile check produced (loaded);
    a harness or test may hand it a plain mapping.
    """
    if isinstance(params, Mapping) or params is None:
        return schema().load(dict(params or {}))
    return params
