"""The gun tests' rig: a station on simulated I/O and a minimal power driver.

:class:`InstantModules` stands in for a vendor driver where the test is
about the state machine, not about CAN: a module's output voltage follows
its setpoint at once and falls to 0 when it is switched off, and it
carries no current unless a test gives its gun a load. The end-to-end
tests use the real driver and the CAN-level simulator instead.

A module of its own (not conftest): test modules import from it
(``from .gun_rig import``); conftest modules are pytest's, not a library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pecc_core.plugins import default_manager
from pecc_core.power import Fault, Mode, ModuleId, ModuleListener, ModuleState
from pecc_core.profile import load as load_profile
from pecc_core.profile.model import ModuleConfig, Profile
from pecc_core.stage import PowerStage
from pecc_core.station import Io, Station
from pecc_core.testing import write_profile
from pecc_plugins.policies.static import make_static
from pecc_plugins.simio import (
    SimConnectorVoltage,
    SimContactors,
    SimEmergencyStop,
    SimIsolationMonitor,
    SimRelayMatrix,
    SimSupervision,
    wire,
)

FAST = {
    "timings.control_cycle_ms": 10,
    "timings.cable_check_ms": 50,
    "timings.precharge_ms": 500,
    # the state machine's tests drive currents at once; the ramp has its own tests
    "safety.ramp_a_per_s": 1e9,
}


class InstantModules:
    """A power driver whose modules answer at once (see the module docstring).

    Like any driver it knows its modules by address; what a test sets
    (``load``, ``residual``, :meth:`fail`) names them as the core does
    (:class:`ModuleId`).
    """

    def __init__(self, modules: Sequence[ModuleConfig]) -> None:
        self.modules = {
            m.address: ModuleState(
                m.address, m.voltage_min, m.voltage_max, m.current_max, m.power_max, online=True,
                last_seen=math.inf,  # answers at once: its readings are always fresh
                bus=m.bus,
            )
            for m in modules
        }
        self.bus_ok = True
        #: Current (A) each module delivers while exporting, as a test sets it.
        self.load: dict[ModuleId, float] = {}
        #: Voltage (V) a module's output keeps after it is switched off (a
        #: capacitor that does not discharge), as a test sets it.
        self.residual: dict[ModuleId, float] = {}
        self._listeners: list[ModuleListener] = []

    async def start(self) -> None: ...

    async def stop(self) -> None:
        self.off(list(self.modules))

    def export(
        self, addresses: Sequence[int], voltage: float, current: float, voltage_max: float | None = None
    ) -> None:
        usable = [self.modules[a] for a in addresses if self.modules[a].usable]
        for m in usable:
            m.mode = Mode.EXPORT
            m.voltage_setpoint = m.voltage = voltage
            m.current_setpoint = min(current / len(usable), m.current_max)
            m.current = min(self.load.get(m.id, 0.0), m.current_setpoint)

    def off(self, addresses: Sequence[int]) -> None:
        for a in addresses:
            m = self.modules[a]
            m.mode = Mode.OFF
            m.voltage_setpoint = m.current_setpoint = m.current = 0.0
            m.voltage = self.residual.get(m.id, 0.0)

    async def wait_off(self, addresses: Sequence[int], timeout: float) -> bool:
        return True

    def add_listener(self, listener: ModuleListener) -> None:
        self._listeners.append(listener)

    def discharge(self) -> None:
        """Let every output that kept a voltage discharge now."""
        for module in self.residual:
            m = self.modules[module.address]
            if m.mode is Mode.OFF:
                m.voltage = 0.0
        self.residual.clear()

    def fail(self, module: ModuleId, fault: Fault | None) -> None:
        """Give ``module`` a blocking fault (COMMUNICATION: silent), or heal it."""
        m = self.modules[module.address]
        if fault is None:
            m.faults.clear()
            m.online = True
            m.last_seen = math.inf
        elif fault is Fault.COMMUNICATION:
            m.online = False
            m.last_seen = 0.0  # heard last long ago: its readings are stale
        else:
            m.faults.add(fault)
        for listener in self._listeners:
            listener(m)


def ids(*addresses: int) -> tuple[ModuleId, ...]:
    """Modules of the ``sim`` profile (one bus, ``can``) by address."""
    return tuple(ModuleId("can", a) for a in addresses)


def instant_profile(tmp_path: Path, overrides: dict[str, Any] | None = None) -> Profile:
    """The ``sim`` profile with fast timings (plugin names unchecked: the driver is ours)."""
    return load_profile(str(write_profile("sim", tmp_path, {**FAST, **(overrides or {})})))


def instant(power: PowerStage) -> InstantModules:
    """The instant modules of a station :func:`instant_station` built (its one bus)."""
    (driver,) = power.buses.values()
    assert isinstance(driver, InstantModules)
    return driver


def instant_station(profile: Profile) -> Station:
    io = Io(
        contactors=SimContactors(closing_ms=5, opening_ms=5, feedback_timeout_ms=20),
        imd=SimIsolationMonitor(profile.timings.cable_check_ms, sample_ms=5),
        supervision=SimSupervision(),
        matrix=SimRelayMatrix(switching_ms=1),
        estop=SimEmergencyStop(),
        connector=SimConnectorVoltage(),  # reads nothing (None) until a test makes it follow a source
    )
    wire(io)
    power = PowerStage({bus.name: InstantModules(bus.modules) for bus in profile.power.buses})
    return Station(profile, default_manager(), power, io, make_static({}))
