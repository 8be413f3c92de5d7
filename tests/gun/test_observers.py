"""Observers only watch: a raising observer or a failing gun cannot break a transition or another gun."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pecc_core import hookimpl
from pecc_core.gun import Event, Gun, GunState
from pecc_core.model import Contactors, Operational
from pecc_core.station import Station
from pecc_core.testing import eventually

from .gun_rig import instant_profile, instant_station
from .helpers import bring_to

S = GunState


class Broken:
    """An observer plugin whose every hook raises."""

    @hookimpl
    def pecc_gun_state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None:
        raise RuntimeError(f"observer boom on {gun.id} {old}->{new}")

    @hookimpl
    def pecc_gun_fault(self, gun: Gun, fault: str, active: bool) -> None:
        raise RuntimeError(f"observer boom on fault of {gun.id}")


async def test_a_raising_observer_cannot_break_a_session_or_the_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    station = instant_station(instant_profile(tmp_path))
    station.plugins.register(Broken(), "broken-observer")
    await station.start()
    try:
        await eventually(lambda: all(station.pool.modules_of(g) for g in station.guns), what="dealt")
        for gun_id in ("1-1", "2-2"):
            await bring_to(station.guns[gun_id], S.CHARGE)  # contactors close without an error
            gun = station.guns[gun_id]
            assert gun.report().contactors is Contactors.CLOSED and gun.report().driven_current > 0
    finally:
        await station.stop()
    for gun in station.guns.values():
        assert gun.in_standby(), gun
        assert gun.report().contactors is Contactors.OPEN
        assert not station.io.contactors.closed(gun.id)
    assert "observer boom" in caplog.text


async def test_one_guns_failing_cycle_neither_skips_the_others_nor_leaves_it_unsafe(
    station: Station, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first, *others = station.guns.values()
    last = others[-1]
    feedback = station.io.contactors.closed

    def broken_feedback(gun: str) -> bool:
        if gun == first.id:
            raise OSError("feedback line unreadable")
        return feedback(gun)

    monkeypatch.setattr(station.io.contactors, "closed", broken_feedback)
    module = station.power.modules[last.modules()[0]]
    module.voltage = 1500.0  # only the per-cycle check sees this over-voltage
    caplog.set_level(logging.ERROR, logger="pecc_core.station")
    station.tick()
    assert "emergency_over_voltage" in last.faults  # the gun after the failing one was still checked
    assert first.state is S.INOPERATIVE and "internal" in first.faults
    assert first.report().operational is Operational.INOPERATIVE
    assert first.report().driven_voltage == first.report().driven_current == 0.0
    assert f"gun {first.id}: control cycle failed" in caplog.text
    await eventually(lambda: not first.holds_modules, what="the safe-down ran")
    assert first.state is S.INOPERATIVE  # its safe-down could not verify the contactors: no standby
    monkeypatch.setattr(station.io.contactors, "closed", feedback)
    module.voltage = 0.0
    await last.reset()  # an emergency over-voltage is latched until a reset
    await eventually(lambda: first.in_standby() and last.in_standby(), what="both back in standby")
