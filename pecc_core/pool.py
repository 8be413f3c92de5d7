"""The cabinet's module pool: which module may feed which gun, and which does.

The relay matrix (an I/O driver) is the truth about where each module is
switched; the pool mirrors it as a tuple of addresses per gun so that the
per-cycle work (measurements, setpoints) only touches a gun's own modules.
The pool also computes what a group of modules can deliver, and it is the
one place that switches relays: :meth:`ModulePool.move` refuses to move a
module that is not off with its current near zero, whatever asked for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from pecc_core.errors import ValueRefused
from pecc_core.limits import PoolView
from pecc_core.model import Limits
from pecc_core.power import Mode, ModuleState

if TYPE_CHECKING:
    from pecc_core.io import RelayMatrix
    from pecc_core.model import EvSession, Status
    from pecc_core.power import PowerDriver
    from pecc_core.profile.model import GunConfig, ModuleConfig, PowerConfig

log = logging.getLogger(__name__)

#: A module whose output current is below this (A) may be switched by a relay.
SAFE_SWITCH_CURRENT = 1.0
#: The temperature reported for a gun without modules (°C).
AMBIENT = 25.0


class PoolError(Exception):
    """A module move was refused (unsafe, unreachable, or the gun is full)."""


@dataclass(frozen=True, slots=True)
class Capability:
    """What a group of modules can deliver: V range, total current and power."""

    voltage_min: float
    voltage_max: float
    current_max: float
    power_max: float


NO_CAPABILITY = Capability(0.0, 0.0, 0.0, 0.0)


def group_capability(ratings: Iterable[ModuleState | ModuleConfig]) -> Capability:
    """The V range intersected and the current and power summed over ``ratings``.

    An empty group, or one whose voltage ranges do not overlap, can deliver
    nothing (:data:`NO_CAPABILITY`).
    """
    v_min, v_max, i_max, p_max, count = 0.0, float("inf"), 0.0, 0.0, 0
    for m in ratings:
        v_min = max(v_min, m.voltage_min)
        v_max = min(v_max, m.voltage_max)
        i_max += m.current_max
        p_max += m.power_max
        count += 1
    if not count or v_min > v_max:
        return NO_CAPABILITY
    return Capability(v_min, v_max, i_max, p_max)


def _least(value: float, *caps: float | None) -> float:
    for cap in caps:
        if cap is not None and cap < value:
            value = cap
    return value


def effective_limits(
    gun: GunConfig, hardware: Capability, ev: EvSession, power_cap: float | None
) -> Limits:
    """A gun's limits now: gun config ∩ its modules ∩ the car ∩ the policy's power cap.

    Pure, so that the configuration response, every setpoint and the
    policies compute the very same thing. The car's values count once the
    SECC has sent them (chargingSession); ``power_cap`` is the allocation's
    (None before the first allocation). Minimums never exceed maximums.
    """
    voltage_max = _least(min(gun.voltage_max, hardware.voltage_max), ev.ev_max_voltage_volts)
    current_max = _least(min(gun.current_max, hardware.current_max), ev.ev_max_current_amperes)
    power_max = _least(
        min(gun.power_max, hardware.power_max),
        ev.ev_max_power_watts,
        ev.charging_profile_max_power_limit_watts,
        power_cap,
    )
    voltage_max = max(voltage_max, 0.0)
    current_max = max(current_max, 0.0)
    power_max = max(power_max, 0.0)
    discharge = (
        dict(
            discharge_current_min=0.0,
            discharge_current_max=-current_max,
            discharge_power_min=0.0,
            discharge_power_max=-power_max,
        )
        if gun.bidirectional
        else {}
    )
    return Limits(
        voltage_min=min(max(gun.voltage_min, hardware.voltage_min), voltage_max),
        voltage_max=voltage_max,
        current_min=min(gun.current_min, current_max),
        current_max=current_max,
        power_min=0.0,
        power_max=power_max,
        **discharge,
    )


def setpoint_current(limits: Limits, voltage: float, current: float) -> float:
    """The current to drive for a requested ``voltage`` and ``current`` within ``limits``.

    A voltage above the limit is refused (:class:`ValueRefused`): the SECC
    must not get a different voltage than it asked for. A current above
    what is available is not an error: the most the current and power
    limits allow at that voltage is driven instead (degraded).
    """
    if voltage > limits.voltage_max:
        raise ValueRefused(
            f"target voltage {voltage:g} V is above the limit {limits.voltage_max:g} V"
        )
    if voltage > 0.0:
        current = min(current, limits.power_max / voltage)
    return max(0.0, min(current, limits.current_max))


class ModulePool:
    """The modules of one power driver and their assignment to guns."""

    def __init__(
        self,
        config: PowerConfig,
        guns: Sequence[str],
        driver: PowerDriver,
        matrix: RelayMatrix,
        site_power_max: float | None = None,
    ) -> None:
        self.driver = driver
        self.matrix = matrix
        self.max_modules_per_gun = config.max_modules_per_gun
        everyone = frozenset(guns)
        self.reach: dict[int, frozenset[str]] = {
            m.address: frozenset(m.guns) or everyone for m in config.modules
        }
        self._assigned: dict[int, str | None] = dict.fromkeys(self.reach)
        self._groups: dict[str, tuple[int, ...]] = dict.fromkeys(guns, ())
        self._reachable = {
            gun: tuple(sorted(a for a, r in self.reach.items() if gun in r)) for gun in guns
        }
        self._potential = {gun: self._potential_of(gun, config.modules) for gun in guns}
        # A gun without usable modules can still be asked for a voltage it could
        # reach once the policy gives it modules, but no current until then.
        self._idle = {
            gun: Capability(p.voltage_min, p.voltage_max, 0.0, 0.0)
            for gun, p in self._potential.items()
        }
        self.view = PoolView(
            modules=driver.modules,
            reach=MappingProxyType(self.reach),
            assigned=MappingProxyType(self._assigned),
            max_modules_per_gun=self.max_modules_per_gun,
            site_power_max=site_power_max,
        )

    def set_site_power_max(self, watts: float | None) -> None:
        """Change the site's grid cap the policies see (run-time limit updates)."""
        self.view = replace(self.view, site_power_max=watts)

    def _potential_of(self, gun: str, modules: Sequence[ModuleConfig]) -> Capability:
        reachable = [m for m in modules if gun in self.reach[m.address]]
        reachable.sort(key=lambda m: m.power_max, reverse=True)
        if self.max_modules_per_gun:
            reachable = reachable[: self.max_modules_per_gun]
        return group_capability(reachable)

    # -- assignment -------------------------------------------------------------

    def sync(self) -> None:
        """Re-read the assignment from the relay feedback (at start)."""
        for address in self.reach:
            self._assigned[address] = self.matrix.gun_of(address)
        self._regroup()

    def _regroup(self) -> None:
        groups: dict[str, list[int]] = {gun: [] for gun in self._groups}
        for address, gun in self._assigned.items():
            if gun is not None and gun in groups:
                groups[gun].append(address)
        for gun, addresses in groups.items():
            self._groups[gun] = tuple(sorted(addresses))

    def modules_of(self, gun: str) -> tuple[int, ...]:
        """The addresses switched onto ``gun`` (and not being taken away)."""
        return self._groups[gun]

    def gun_of(self, module: int) -> str | None:
        return self._assigned[module]

    @property
    def assigned(self) -> Mapping[int, str | None]:
        return self.view.assigned

    def detach(self, module: int) -> str | None:
        """Take ``module`` out of its gun's group before it is switched off and moved.

        The relays do not move yet; the gun simply stops counting on the
        module, so its next setpoint is spread over the others. Returns the
        gun it was on.
        """
        gun = self._assigned[module]
        if gun is not None:
            self._assigned[module] = None
            self._groups[gun] = tuple(a for a in self._groups[gun] if a != module)
        return gun

    def check_move(self, module: int, gun: str | None) -> None:
        """Raise :class:`PoolError` unless ``module`` may be switched onto ``gun`` now."""
        if module not in self.reach:
            raise PoolError(f"module {module} is not configured")
        if gun is not None and gun not in self.reach[module]:
            raise PoolError(f"module {module} cannot reach gun {gun}")
        state = self.driver.modules[module]
        if not state.online:
            raise PoolError(f"module {module} is not answering: its output cannot be verified off")
        if state.mode is not Mode.OFF or abs(state.current) >= SAFE_SWITCH_CURRENT:
            raise PoolError(
                f"module {module} is under load ({state.mode}, {state.current:.1f} A): "
                "never switched hot"
            )
        if gun is not None and self._assigned[module] != gun:
            if self.max_modules_per_gun and len(self._groups[gun]) >= self.max_modules_per_gun:
                raise PoolError(f"gun {gun} already has {self.max_modules_per_gun} modules")

    async def move(self, module: int, gun: str | None) -> None:
        """Switch ``module`` onto ``gun`` (None: onto no gun) if that is safe.

        :raises PoolError: refused; nothing was switched.
        """
        self.check_move(module, gun)
        self.detach(module)
        log.info("module %d -> %s", module, gun or "no gun")
        await self.matrix.connect(module, gun)
        self._assigned[module] = self.matrix.gun_of(module)
        self._regroup()

    # -- what a gun's modules do and can do ---------------------------------------

    def measure(self, gun: str, status: Status) -> None:
        """Write ``gun``'s measured voltage, current and temperature into ``status``.

        Modules of a group are in parallel: the voltage is the highest any
        answering module reports (the pessimistic reading for over-voltage),
        the current their sum, the temperature the hottest.
        """
        modules = self.driver.modules
        voltage = current = 0.0
        temperature = AMBIENT
        for address in self._groups[gun]:
            m = modules[address]
            if not m.online:
                continue
            voltage = max(voltage, m.voltage)
            current += m.current
            temperature = max(temperature, m.temperature)
        status.measured_voltage = voltage
        status.measured_current = max(current, 0.0)
        status.temperature = temperature

    def capability(self, gun: str) -> Capability:
        """What the usable modules switched onto ``gun`` can deliver now.

        Without any, the voltage range of the modules it can reach and no
        current: a voltage is not refused just because the policy has not
        given the gun its modules yet.
        """
        modules = self.driver.modules
        group = group_capability(m for m in (modules[a] for a in self._groups[gun]) if m.usable)
        return self._idle[gun] if group is NO_CAPABILITY else group

    def potential(self, gun: str) -> Capability:
        """What ``gun`` could get from the modules it can reach (configured ratings)."""
        return self._potential[gun]

    def reachable_usable(self, gun: str) -> bool:
        """True while some usable module could be switched onto ``gun``."""
        modules = self.driver.modules
        return any(modules[a].usable for a in self._reachable[gun])

    def first_unusable(self, gun: str) -> ModuleState | None:
        """A module switched onto ``gun`` that is offline or faulted, if any."""
        modules = self.driver.modules
        for address in self._groups[gun]:
            if not modules[address].usable:
                return modules[address]
        return None
