"""What only the uugreen driver does: hi/lo ranges, no broadcasts, unknown status bits."""

from __future__ import annotations

import asyncio

import pytest
from can_rig import core_profile
from pecc_plugins.uugreen import UuParams, codec
from pecc_plugins.uugreen.codec import VoltageMode
from pecc_plugins.uugreen.driver import UuDriver

from pecc_core.model import Phase, Target
from pecc_core.power import Fault
from pecc_core.testing import eventually


def all_online(driver) -> bool:
    return all(m.online for m in driver.modules.values())


async def test_current_is_never_broadcast(rig, spy_bus) -> None:
    async with rig() as r:
        await eventually(lambda: all_online(r.driver))
        r.driver.export([1, 2, 3], 400.0, 150.0)
        await eventually(lambda: all(r.sim.modules[a].output.on for a in (1, 2, 3)))
        await asyncio.sleep(0.1)
        frames = list(iter(lambda: spy_bus.recv(0), None))
        assert frames
        assert [m for m in frames if codec.address_of(m.arbitration_id) == 0] == []


async def test_hi_lo_range_switches_with_the_output_off(rig) -> None:
    async with rig() as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        driver.export([3], 400.0, 10.0)
        await eventually(lambda: abs(driver.modules[3].voltage - 400.0) < 3.0, what="400 V in low range")
        driver.export([3], 750.0, 10.0)
        await eventually(lambda: sim.responder.modes[3] is VoltageMode.HIGH, what="high range")
        await eventually(lambda: abs(driver.modules[3].voltage - 750.0) < 3.0, what="750 V")
        driver.export([3], 450.0, 10.0)
        await eventually(lambda: sim.responder.modes[3] is VoltageMode.LOW, what="low range again")
        assert sim.responder.unsafe_mode_switches == 0


async def test_off_during_a_range_switch_goes_out_at_once(rig) -> None:
    async with rig(driver={"mode_switch_ms": 500}) as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        driver.export([3], 400.0, 10.0)
        await eventually(lambda: sim.modules[3].output.on)
        driver.export([3], 750.0, 10.0)  # starts the switch: output off, wait
        driver.off([3])
        await asyncio.sleep(0.8)  # past the whole switch
        assert not sim.modules[3].output.on


async def test_unknown_status_bits_are_a_warning_only(rig) -> None:
    async with rig() as r:
        await eventually(lambda: all_online(r.driver))
        r.sim.alarm(2, 1 << 12)
        await eventually(lambda: r.driver.modules[2].faults == {Fault.VENDOR_WARNING})
        assert r.driver.modules[2].usable


def test_address_0_is_refused_it_is_the_broadcast_address() -> None:
    with pytest.raises(ValueError, match="outside 1..127"):
        UuDriver(UuParams().load({"channel": "x"}), core_profile((0, 1)).power.modules)


async def test_a_range_switch_waits_until_the_current_has_gone(rig, caplog: pytest.LogCaptureFixture) -> None:
    async with rig(driver={"mode_switch_ms": 50}) as r:
        driver, sim, station = r.driver, r.sim, r.station
        gun = station.guns["g2"]  # module 3
        await eventually(lambda: all_online(driver))
        await station.io.contactors.set("g2", True)
        gun.target = Target(380.0, 2.0, 40.0, Phase.PRECHARGE)
        driver.export([3], 380.0, 2.0)
        await eventually(lambda: abs(driver.modules[3].voltage - 380.0) < 3.0)
        gun.target = Target(450.0, 50.0, 40.0, Phase.CHARGE)
        driver.export([3], 450.0, 50.0)
        await eventually(lambda: abs(driver.modules[3].current - 50.0) < 1.0, what="charging")
        sim.slow(3, 0.3)  # readings lag: the driver cannot see the current fall yet
        driver.export([3], 750.0, 30.0)
        await eventually(lambda: sim.responder.modes[3] is VoltageMode.HIGH, what="high range", timeout=5.0)
        assert any("postponed" in rec.getMessage() for rec in caplog.records)
        assert sim.responder.unsafe_mode_switches == 0
        await eventually(lambda: abs(driver.modules[3].current - 30.0) < 1.0, what="charging again")
