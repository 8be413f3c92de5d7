"""What only the uugreen driver does: ranges per session, capability, no broadcasts, status bits."""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.errors import ConfigError
from pecc_core.model import Phase, Target
from pecc_core.power import Fault, Mode
from pecc_core.testing import eventually
from pecc_plugins.uugreen import UuParams, codec
from pecc_plugins.uugreen.driver import UuDriver

from .can_rig import core_profile

HIGH, LOW, AUTO = 1, 2, 3  # cmd 95 / 101 values (CAN-PROTOCOLS.md)


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


async def test_the_range_is_chosen_once_per_session_from_the_session_maximum(rig) -> None:
    async with rig() as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        assert sim.responder.ranges[3] == LOW  # power-on range
        # an 800 V car precharged at 450 V: the high range from the start
        driver.export([3], 450.0, 10.0, voltage_max=800.0)
        await eventually(lambda: sim.responder.ranges[3] == HIGH, what="high range")
        await eventually(lambda: abs(driver.modules[3].voltage - 450.0) < 3.0, what="450 V")
        for volts in (480.0, 520.0, 700.0, 490.0):  # targets crossing 500 V: no switch
            driver.export([3], volts, 10.0, voltage_max=800.0)
            await eventually(lambda v=volts: abs(driver.modules[3].voltage - v) < 3.0, what=f"{volts} V")
        assert sim.responder.mode_switches[3] == 1 and driver.range_switches[3] == 1
        driver.off([3])  # the session ends; the next car is a 400 V car
        await eventually(lambda: not sim.modules[3].output.on)
        driver.export([3], 380.0, 10.0, voltage_max=400.0)
        await eventually(lambda: sim.responder.ranges[3] == LOW, what="low range for the next session")
        await eventually(lambda: abs(driver.modules[3].voltage - 380.0) < 3.0, what="380 V")
        assert sim.responder.mode_switches[3] == 2
        assert sim.responder.unsafe_mode_switches == 0


async def test_a_charging_module_is_never_switched_its_voltage_is_held_in_range(rig) -> None:
    async with rig() as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        driver.export([3], 400.0, 10.0, voltage_max=450.0)
        await eventually(lambda: abs(driver.modules[3].voltage - 400.0) < 3.0)
        driver.export([3], 750.0, 10.0, voltage_max=800.0)  # mid-charge: stays in the low range
        await eventually(lambda: abs(driver.modules[3].voltage - 500.0) < 3.0, what="held at 500 V")
        await asyncio.sleep(0.2)
        assert sim.responder.ranges[3] == LOW and sim.modules[3].output.on
        assert driver.range_switches[3] == 0


async def test_off_during_a_range_switch_goes_out_at_once(rig) -> None:
    async with rig(driver={"mode_switch_ms": 500}) as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        driver.export([3], 750.0, 10.0, voltage_max=800.0)  # starts the switch
        driver.off([3])
        await asyncio.sleep(1.2)  # past the whole switch
        assert not sim.modules[3].output.on
        assert driver.modules[3].mode is Mode.OFF


async def test_a_range_switch_waits_until_the_current_has_gone(rig) -> None:
    async with rig(driver={"mode_switch_ms": 50}) as r:
        driver, sim, station = r.driver, r.sim, r.station
        gun = station.guns["g2"]  # module 3
        await eventually(lambda: all_online(driver))
        await station.io.contactors.set("g2", True)
        gun.target = Target(380.0, 2.0, 40.0, Phase.PRECHARGE)
        driver.export([3], 380.0, 2.0, voltage_max=450.0)
        await eventually(lambda: abs(driver.modules[3].voltage - 380.0) < 3.0)
        gun.target = Target(450.0, 50.0, 40.0, Phase.CHARGE)
        driver.export([3], 450.0, 50.0, voltage_max=450.0)
        await eventually(lambda: abs(driver.modules[3].current - 50.0) < 1.0, what="charging")
        sim.slow(3, 0.3)  # readings lag: the driver cannot see the current fall yet
        driver.off([3])
        driver.export([3], 750.0, 30.0, voltage_max=800.0)  # the next session starts at once
        await eventually(lambda: sim.responder.ranges[3] == HIGH, what="high range", timeout=5.0)
        assert sim.responder.unsafe_mode_switches == 0


async def test_the_current_capability_is_read_per_range(rig) -> None:
    async with rig(modules=(1, 2), assignment={1: "g1", 2: "g1"}) as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        assert driver.modules[1].current_max == 100.0  # the low range: the rated current
        driver.export([1, 2], 700.0, 150.0, voltage_max=800.0)
        await eventually(lambda: sim.responder.ranges[1] == HIGH and sim.responder.ranges[2] == HIGH)
        await eventually(lambda: driver.modules[1].current_max == 50.0, what="cmd 104 in the high range")
        driver.export([1, 2], 700.0, 150.0, voltage_max=800.0)
        share = pytest.approx(30_000 / 700, abs=1e-3)  # constant power region: 42.9 A, below 50 A
        # each module's setpoint is its own frame: module 2's may cross the wire after module 1's
        await eventually(lambda: [sim.modules[a].output.current_setpoint for a in (1, 2)] == [share, share])


async def test_the_module_picks_its_range_where_the_profile_says_it_can(rig) -> None:
    async with rig(driver={"range_select": "module"}) as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        await eventually(lambda: sim.responder.selection[3] == AUTO, what="told to pick")
        driver.export([3], 700.0, 10.0, voltage_max=800.0)
        await eventually(lambda: abs(driver.modules[3].voltage - 700.0) < 3.0, what="700 V")
        assert sim.responder.ranges[3] == HIGH and driver.range_switches[3] == 0


async def test_unlisted_status_bits_are_a_warning_only(rig) -> None:
    async with rig() as r:
        await eventually(lambda: all_online(r.driver))
        r.sim.alarm(2, 1 << 10)  # not in the notes' table
        await eventually(lambda: r.driver.modules[2].faults == {Fault.VENDOR_WARNING})
        assert r.driver.modules[2].usable


@pytest.mark.parametrize("bit", [12, 20, 21])
async def test_field_failures_make_the_module_unusable(rig, bit: int) -> None:
    async with rig() as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        driver.export([1, 2], 400.0, 40.0)
        await eventually(lambda: sim.modules[1].output.on)
        sim.inject(1, bit)
        await eventually(lambda: not driver.modules[1].usable, what=f"bit {bit} blocks")
        assert driver.modules[1].mode is Mode.OFF
        driver.export([1, 2], 400.0, 40.0)  # the split leaves it out
        await eventually(lambda: sim.modules[2].output.current_setpoint == 40.0)
        assert not sim.modules[1].output.on
        sim.inject(1, bit, False)
        await eventually(lambda: driver.modules[1].usable, what="cleared")


async def test_a_module_that_runs_although_it_was_commanded_off_is_sent_off_again(rig) -> None:
    async with rig() as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        sim.modules[2].output.on = True  # an off frame was lost, say
        await eventually(lambda: not sim.modules[2].output.on, what="status corrected")
        assert driver.modules[2].mode is Mode.OFF


def test_address_0_is_refused_it_is_the_broadcast_address() -> None:
    with pytest.raises(ConfigError, match=r"power.modules\[0\].address: got 0; expected a UU address from 1 to 127"):
        UuDriver(UuParams().load({"channel": "x"}), core_profile((0, 1)).power.modules)


def test_only_the_voltage_reference_and_the_current_limit_replace_a_waiting_setpoint() -> None:
    """Frames written from CAN-PROTOCOLS.md's examples: a newer VREF or ILIMIT makes a waiting one moot;
    the output switch and the range select are steps of a sequence, every one goes out."""
    driver = UuDriver(UuParams().load({"channel": "x"}), core_profile((1, 2)).power.modules)
    module_1 = 0x02204000
    vref, ilimit = bytes.fromhex("0002000000 07A120"), bytes.fromhex("0003000000 00C350")
    on, low_range = bytes.fromhex("0004000000000000"), bytes.fromhex("005F000000000002")
    read_vout = bytes.fromhex("0200000000000000")
    assert driver.slot((module_1, vref)) == driver.slot((module_1, bytes.fromhex("00020000000F4240")))
    assert driver.slot((module_1, ilimit)) not in (None, driver.slot((module_1, vref)))
    assert driver.slot((0x02208000, vref)) != driver.slot((module_1, vref))  # module 2's own
    assert [driver.slot((module_1, data)) for data in (on, low_range, read_vout)] == [None, None, None]
