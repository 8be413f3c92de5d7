"""Driving a gun to a given state and firing table events at it (tests only)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pecc_core import hookimpl
from pecc_core.gun import Event, Gun, GunState
from pecc_core.model import Phase, Target
from pecc_core.power import Fault, ModuleId
from pecc_core.station import Station
from pecc_core.testing import eventually

from .gun_rig import instant

S, E = GunState, Event
PHASE_OF = {
    E.TARGET_STANDBY: Phase.STANDBY,
    E.TARGET_PRECHARGE: Phase.PRECHARGE,
    E.TARGET_CHARGE: Phase.CHARGE,
    E.TARGET_POSTCHARGE: Phase.POSTCHARGE,
}


@dataclass
class FakeLink:
    """The gun's side of an SECC connection, recording events."""

    events: list[str] = field(default_factory=list)

    def send_event(self, details: str) -> None:
        self.events.append(details)

    async def get_input(self, identifiers: list[str]) -> dict[str, Any]:
        return {}

    async def set_output(self, values: dict[str, Any]) -> None: ...

    async def stop_charging(self) -> None: ...


class Recorder:
    """An observer plugin keeping every transition and fault notification."""

    def __init__(self) -> None:
        self.transitions: list[tuple[str, GunState, GunState, Event, str]] = []
        self.faults: list[tuple[str, str, bool]] = []

    @hookimpl
    def pecc_gun_state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None:
        self.transitions.append((gun.id, old, new, event, reason))

    @hookimpl
    def pecc_gun_fault(self, gun: Gun, fault: str, active: bool) -> None:
        self.faults.append((gun.id, fault, active))


def record(station: Station) -> Recorder:
    recorder = Recorder()
    station.plugins.register(recorder, f"recorder-{id(recorder)}")
    return recorder


async def one_cycle(station: Station) -> None:
    """Let the control loop tick once: one control cycle (``timings.control_cycle_ms``) of loop time.

    The rising current climbs on the control cycle (the ramp counts loop time,
    and none passes within a request), so a raised current shows after one.
    The extra microsecond: the tick due one cycle on (its time summed cycle by
    cycle, so a rounding off ours) runs before the test looks.
    """
    await asyncio.sleep(station.cycle + 1e-6)


def first_module(gun: Gun) -> ModuleId:
    return gun.modules()[0]


async def bring_to(gun: Gun, state: GunState) -> None:
    """Drive ``gun`` from standby into ``state`` through real requests and injections."""
    station = gun.wiring
    if state is S.STANDBY:
        return
    if state is S.CABLE_CHECK:
        station.io.imd.test_s = 30.0  # a slow IMD holds the gun in its test
        await gun.cable_check(500)
    elif state is S.INOPERATIVE:
        instant(station.power).fail(first_module(gun), Fault.HARDWARE)
        await eventually(lambda: gun.state is S.INOPERATIVE, what="inoperative")
    elif state is S.STOPPING:
        await bring_to(gun, S.CHARGE)
        for address in station.pool.modules_of(gun.id):  # the output does not discharge yet
            instant(station.power).residual[address] = 400.0
        await gun.set_contactors(False)
    else:
        await gun.cable_check(500)
        await eventually(lambda: gun.state is S.READY, what="ready")
        phase = {S.PRECHARGE: Phase.PRECHARGE, S.CHARGE: Phase.CHARGE, S.POSTCHARGE: Phase.POSTCHARGE}
        if state is S.CHARGE:  # as an SECC does: precharged first (the power cap counts at the present voltage)
            await gun.target_values(Target(400.0, 2.0, 40.0, Phase.PRECHARGE))
            await eventually(lambda: gun.report().measured_voltage == 400.0, what="precharged")
        if state in phase:
            await gun.target_values(Target(400.0, 50.0, 40.0, phase[state]))
    assert gun.state is state, (gun.state, state)


async def fire(gun: Gun, event: Event, link: FakeLink) -> None:
    """Make ``event`` happen to ``gun`` as the SECC or the hardware would."""
    if event is E.CABLE_CHECK:
        await gun.cable_check(500)
    elif event in (E.CLOSE, E.OPEN):
        await gun.set_contactors(event is E.CLOSE)
    elif event in PHASE_OF:
        await gun.target_values(Target(400.0, 50.0, 40.0, PHASE_OF[event]))
    elif event is E.RESET:
        await gun.reset()
    elif event is E.SECC_LOST:
        gun.secc_detached(link, "test")
    elif event is E.FAULT:
        instant(gun.wiring.power).fail(first_module(gun), Fault.OVER_TEMPERATURE)
        gun.update()
    elif event is E.SHUTDOWN:
        await gun.shutdown()  # as the station's stop does
    else:
        raise AssertionError(f"{event} is internal: tested on its own")
