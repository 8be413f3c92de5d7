"""The cabinet's module pool: which module may feed which gun, and which does.

The relay matrix (an I/O driver) is the truth about where each module is
switched; the pool mirrors it as a tuple of modules per gun so that the
per-cycle work (measurements, setpoints) only touches a gun's own modules.
The pool also computes what a group of modules can deliver (its
:class:`Supply`), and it is the
one place that switches relays: :meth:`ModulePool.move` refuses to move a
module that is not off with its current near zero, whatever asked for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from pecc_core.policy import PoolView
from pecc_core.power import Mode, ModuleState

if TYPE_CHECKING:
    from pecc_core.io import RelayMatrix
    from pecc_core.model import Status
    from pecc_core.power import ModuleId
    from pecc_core.profile.model import ModuleConfig, PowerConfig
    from pecc_core.stage import PowerStage
    from pecc_core.stalls import LoopStalls

log = logging.getLogger(__name__)

#: A module whose output current is below this (A) may be switched by a relay.
SAFE_SWITCH_CURRENT = 1.0
#: The temperature reported for a gun without modules (°C).
AMBIENT = 25.0


class PoolError(Exception):
    """A module move was refused (unsafe, unreachable, or the gun is full)."""


@dataclass(frozen=True, slots=True)
class Supply:
    """What a group of modules can deliver: V range, total current and power.

    The hardware side of a gun's limits (:mod:`pecc_core.gun.limits`).
    """

    voltage_min: float
    voltage_max: float
    current_max: float
    power_max: float


NO_SUPPLY = Supply(0.0, 0.0, 0.0, 0.0)


def group_supply(ratings: Iterable[ModuleState | ModuleConfig]) -> Supply:
    """The V range intersected and the current and power summed over ``ratings``.

    An empty group, or one whose voltage ranges do not overlap, can deliver
    nothing (:data:`NO_SUPPLY`).
    """
    v_min, v_max, i_max, p_max, count = 0.0, float("inf"), 0.0, 0.0, 0
    for m in ratings:
        v_min = max(v_min, m.voltage_min)
        v_max = min(v_max, m.voltage_max)
        i_max += m.current_max
        p_max += m.power_max
        count += 1
    if not count or v_min > v_max:
        return NO_SUPPLY
    return Supply(v_min, v_max, i_max, p_max)


class ModulePool:
    """The station's modules (of every bus) and their assignment to guns."""

    def __init__(
        self,
        config: PowerConfig,
        guns: Sequence[str],
        power: PowerStage,
        matrix: RelayMatrix,
        site_power_max: float | None = None,
        reading_stale_ms: int = 1000,
        stalls: LoopStalls | None = None,
    ) -> None:
        self.power = power
        #: A module not heard for this long cannot be verified off: it is not moved.
        self.stale_s = reading_stale_ms / 1000
        #: The station loop's stalls, left out of that time (None: no control loop counts them).
        self.stalls = stalls
        self.matrix = matrix
        self.max_modules_per_gun = config.max_modules_per_gun
        everyone = frozenset(guns)
        self.reach: dict[ModuleId, frozenset[str]] = {
            m.id: frozenset(m.guns) or everyone for m in config.modules
        }
        self._assigned: dict[ModuleId, str | None] = dict.fromkeys(self.reach)
        #: loop time each module was last switched onto its gun (absent: since start)
        self._joined: dict[ModuleId, float] = {}
        self._groups: dict[str, tuple[ModuleId, ...]] = dict.fromkeys(guns, ())
        self._reachable = {
            gun: tuple(sorted(a for a, r in self.reach.items() if gun in r)) for gun in guns
        }
        self._potential = {gun: self._potential_of(gun, config.modules) for gun in guns}
        # A gun without usable modules can still be asked for a voltage it could
        # reach once the policy gives it modules, but no current until then.
        self._idle = {
            gun: Supply(p.voltage_min, p.voltage_max, 0.0, 0.0)
            for gun, p in self._potential.items()
        }
        self.view = PoolView(
            modules=power.modules,
            reach=MappingProxyType(self.reach),
            assigned=MappingProxyType(self._assigned),
            max_modules_per_gun=self.max_modules_per_gun,
            site_power_max=site_power_max,
        )
        #: The station's own site cap (profile, operator) and a site coordinator's
        #: share (None: none); the policies see the smaller (``view.site_power_max``).
        self.site_power_max = site_power_max
        self.site_share: float | None = None

    def set_site_power_max(self, watts: float | None) -> None:
        """Change the station's own site cap (run-time limit updates)."""
        self.site_power_max = watts
        self._site_changed()

    def set_site_share(self, watts: float | None) -> None:
        """Change the share a site coordinator gives this station (W, None: no coordinator in use).

        Kept apart from the station's own cap so that no change of that one (an
        operator's update, limits restored or reset) raises the station above it.
        """
        self.site_share = watts
        self._site_changed()

    def _site_changed(self) -> None:
        caps = [w for w in (self.site_power_max, self.site_share) if w is not None]
        self.view = replace(self.view, site_power_max=min(caps) if caps else None)

    def _potential_of(self, gun: str, modules: Sequence[ModuleConfig]) -> Supply:
        reachable = [m for m in modules if gun in self.reach[m.id]]
        reachable.sort(key=lambda m: m.power_max, reverse=True)
        if self.max_modules_per_gun:
            reachable = reachable[: self.max_modules_per_gun]
        return group_supply(reachable)

    # -- assignment -------------------------------------------------------------

    def sync(self) -> None:
        """Re-read the assignment from the relay feedback (at start)."""
        for module in self.reach:
            self._assigned[module] = self.matrix.gun_of(module)
        self._regroup()

    def _regroup(self) -> None:
        groups: dict[str, list[ModuleId]] = {gun: [] for gun in self._groups}
        for module, gun in self._assigned.items():
            if gun is not None and gun in groups:
                groups[gun].append(module)
        for gun, modules in groups.items():
            self._groups[gun] = tuple(sorted(modules))

    def modules_of(self, gun: str) -> tuple[ModuleId, ...]:
        """The modules switched onto ``gun`` (and not being taken away)."""
        return self._groups[gun]

    def gun_of(self, module: ModuleId) -> str | None:
        return self._assigned[module]

    @property
    def assigned(self) -> Mapping[ModuleId, str | None]:
        return self.view.assigned

    def detach(self, module: ModuleId) -> str | None:
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

    def check_move(self, module: ModuleId, gun: str | None) -> None:
        """Raise :class:`PoolError` unless ``module`` may be switched onto ``gun`` now."""
        if module not in self.reach:
            raise PoolError(f"module {module} is not configured")
        if gun is not None and gun not in self.reach[module]:
            raise PoolError(f"module {module} cannot reach gun {gun}")
        state = self.power.modules[module]
        if not state.online:
            raise PoolError(f"module {module} is not answering: its output cannot be verified off")
        now = asyncio.get_running_loop().time()
        if state.last_seen < self.heard_after(now):
            # not yet taken offline (that takes longer), but its last reading is too old to
            # show it off, and a gun given it would find it silent at once
            silent = now - state.last_seen
            raise PoolError(f"module {module} not heard for {silent:.1f} s: its output cannot be verified off")
        if state.mode is not Mode.OFF or abs(state.current) >= SAFE_SWITCH_CURRENT:
            raise PoolError(
                f"module {module} is under load ({state.mode}, {state.current:.1f} A): "
                "never switched hot"
            )
        if (
            gun is not None
            and self._assigned[module] != gun
            and self.max_modules_per_gun
            and len(self._groups[gun]) >= self.max_modules_per_gun
        ):
            raise PoolError(f"gun {gun} already has {self.max_modules_per_gun} modules")

    async def move(self, module: ModuleId, gun: str | None) -> None:
        """Switch ``module`` onto ``gun`` (None: onto no gun) if that is safe.

        :raises PoolError: refused; nothing was switched.
        """
        self.check_move(module, gun)
        self.detach(module)
        log.info("module %s -> %s", module, gun or "no gun", extra={"module_address": str(module), "gun": gun})
        await self.matrix.connect(module, gun)
        self._assigned[module] = self.matrix.gun_of(module)
        self._joined[module] = asyncio.get_running_loop().time()
        self._regroup()

    def heard_after(self, now: float) -> float:
        """The loop time after which a module must have been heard for its readings to be fresh at ``now``.

        The stale bound counted in on-time loop time (:mod:`pecc_core.stalls`):
        while the station's loop was stalled no frame could be read, so that
        time does not make a module silent.
        """
        if self.stalls is None:
            return now - self.stale_s
        return self.stalls.since(now, self.stale_s)

    # -- what a gun's modules do and can do ---------------------------------------

    def measure(self, gun: str, status: Status, fresh_after: float) -> tuple[bool, float | None, float]:
        """Write ``gun``'s measured voltage, current and temperature into ``status``.

        Modules of a group are in parallel: the voltage is the highest any
        answering module reports (the pessimistic reading for over-voltage),
        the current their sum, the temperature the hottest. Only readings
        newer than ``fresh_after`` (loop time) count; without any, ``status``
        keeps its last values (unknown is not zero). Returns whether some
        module was heard, and the newest voltage *read* since with its time
        (None and 0.0 if none was): where a protocol reads the voltage in a
        frame of its own (:attr:`ModuleState.voltage_seen`), a module heard
        just now may carry an old one, which a comparison with another
        source must not take for a measurement, nor a reading taken long
        before the other source's. A gun with no module switched onto it
        reads 0 V as known: the allocator takes a gun's modules only after
        its safe-down verified the discharge, and nothing can drive it since.

        A voltage read before a module was switched onto ``gun``, or at the
        same loop time, is the voltage of the node it left: it counts for
        neither value until the module's next voltage reading.
        """
        modules = self.power.modules
        joined = self._joined
        voltage: float | None = None
        current = 0.0
        temperature = AMBIENT
        heard = False
        read: float | None = None
        read_at = 0.0
        for module in self._groups[gun]:
            m = modules[module]
            if not m.online or m.last_seen < fresh_after:
                continue
            heard = True
            current += m.current
            temperature = max(temperature, m.temperature)
            taken = m.voltage_seen or m.last_seen
            switched = joined.get(module)
            if switched is not None and taken <= switched:  # read at the switch's instant: of the node it left
                continue
            voltage = m.voltage if voltage is None else max(voltage, m.voltage)
            if taken >= fresh_after and taken >= read_at:
                read, read_at = m.voltage, taken
        if heard:
            if voltage is not None:
                status.measured_voltage = voltage
            status.measured_current = max(current, 0.0)
            status.temperature = temperature
        elif not self._groups[gun]:
            status.measured_voltage = status.measured_current = 0.0
            status.temperature = AMBIENT
            return True, 0.0, fresh_after
        return heard, read, read_at

    def reachable(self, gun: str) -> tuple[ModuleId, ...]:
        """The modules the relay matrix can switch onto ``gun`` (on any bus)."""
        return self._reachable[gun]

    def supply(self, gun: str) -> Supply:
        """What the usable modules switched onto ``gun`` can deliver now.

        Without any, the voltage range of the modules it can reach and no
        current: a voltage is not refused just because the policy has not
        given the gun its modules yet.
        """
        switched = self._groups[gun]
        if not switched:  # most guns, most of the time: no generator for them
            return self._idle[gun]
        modules = self.power.modules
        group = group_supply(m for m in (modules[a] for a in switched) if m.usable)
        return self._idle[gun] if group is NO_SUPPLY else group

    def potential(self, gun: str) -> Supply:
        """What ``gun`` could get from the modules it can reach (configured ratings)."""
        return self._potential[gun]

    def reachable_usable(self, gun: str) -> bool:
        """True while some usable module could be switched onto ``gun``."""
        modules = self.power.modules
        return any(modules[a].usable for a in self._reachable[gun])

    def first_unusable(self, gun: str) -> ModuleState | None:
        """A module switched onto ``gun`` that is offline or faulted, if any."""
        modules = self.power.modules
        for module in self._groups[gun]:
            if not modules[module].usable:
                return modules[module]
        return None
