"""The uugreen driver against simulated UU modules on a python-can virtual bus."""

from __future__ import annotations

import asyncio

import can
import pytest

from pecc_core.model import Phase, Target
from pecc_core.power import Fault, Mode
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.codec import VoltageMode

from can_rig import core_profile, eventually


async def test_setpoint_reaches_modules_split_per_module(uu_rig) -> None:
    async with uu_rig() as rig:
        await eventually(lambda: all(m.online for m in rig.driver.modules.values()), what="modules online")
        rig.driver.export([1, 2], 400.0, 60.0)
        sim1, sim2 = rig.sim.modules[1].output, rig.sim.modules[2].output
        await eventually(lambda: sim1.on and sim2.on, what="outputs on")
        assert (sim1.voltage_setpoint, sim1.current_setpoint) == (400.0, 30.0)
        assert (sim2.voltage_setpoint, sim2.current_setpoint) == (400.0, 30.0)
        assert not rig.sim.modules[3].output.on
        # the measured node voltage comes back through the driver
        await eventually(lambda: abs(rig.driver.modules[1].voltage - 400.0) < 2.0, what="400 V measured")


async def test_charging_a_car_gives_constant_current(uu_rig) -> None:
    async with uu_rig() as rig:
        driver, station = rig.driver, rig.station
        gun = station.guns["g1"]
        await eventually(lambda: all(m.online for m in driver.modules.values()))
        await station.io.contactors.set("g1", True)
        gun.target = Target(voltage=380.0, current=2.0, soc=40.0, phase=Phase.PRECHARGE)
        driver.export([1, 2], 380.0, 2.0)
        await eventually(lambda: abs(driver.modules[1].voltage - 380.0) < 3.0, what="precharged")
        gun.target = Target(voltage=450.0, current=120.0, soc=40.0, phase=Phase.CHARGE)
        driver.export([1, 2], 450.0, 120.0)
        total = lambda: driver.modules[1].current + driver.modules[2].current  # noqa: E731
        await eventually(lambda: abs(total() - 120.0) < 1.0, what="120 A delivered")
        # battery: 380 V open-circuit + 120 A x 0.05 ohm, well below the 450 V target
        assert 380.0 < driver.modules[1].voltage < 400.0
        assert rig.sim.modules[1].output.temperature >= 25.0
        driver.off([1, 2])
        assert await driver.wait_off([1, 2], timeout=3.0)
        assert driver.modules[1].mode is Mode.OFF


async def test_silent_module_goes_offline_and_recovers_with_its_setpoints(uu_rig) -> None:
    async with uu_rig() as rig:
        driver, sim = rig.driver, rig.sim
        changes: list[tuple[int, bool]] = []
        driver.add_listener(lambda m: changes.append((m.address, m.online)))
        await eventually(lambda: all(m.online for m in driver.modules.values()))
        driver.export([1, 2], 400.0, 40.0)
        await eventually(lambda: sim.modules[2].output.on)
        sim.silence(2)
        await eventually(lambda: not driver.modules[2].online, what="module 2 offline")
        assert Fault.COMMUNICATION in driver.modules[2].faults
        assert not driver.modules[2].usable
        # the module's own watchdog switched its output off meanwhile
        await eventually(lambda: not sim.modules[2].output.on, what="sim watchdog")
        assert (2, False) in changes
        sim.silence(2, False)
        await eventually(lambda: driver.modules[2].online, what="module 2 back")
        assert Fault.COMMUNICATION not in driver.modules[2].faults
        # cached mode and setpoints were re-applied
        out = sim.modules[2].output
        await eventually(lambda: out.on, what="output on again")
        assert out.voltage_setpoint == 400.0 and out.current_setpoint == 20.0
        assert changes[-1] == (2, True)


async def test_alarm_bits_become_typed_faults(uu_rig) -> None:
    async with uu_rig() as rig:
        driver, sim = rig.driver, rig.sim
        await eventually(lambda: all(m.online for m in driver.modules.values()))
        sim.fault(1, Fault.OVER_VOLTAGE)
        await eventually(lambda: Fault.OVER_VOLTAGE in driver.modules[1].faults, what="over-voltage")
        assert not driver.modules[1].usable
        sim.over_temperature(3, 95.0)
        await eventually(lambda: Fault.OVER_TEMPERATURE in driver.modules[3].faults, what="over-temperature")
        await eventually(lambda: driver.modules[3].temperature == 95.0)
        sim.alarm(2, 1 << 12)  # a bit the driver does not know
        await eventually(lambda: driver.modules[2].faults == {Fault.VENDOR_WARNING})
        assert driver.modules[2].usable  # a warning does not block the module
        sim.clear(1)
        sim.clear(3)
        await eventually(lambda: not driver.modules[1].faults and not driver.modules[3].faults, what="cleared")


async def test_frames_from_unconfigured_addresses_are_ignored(uu_rig, spy_bus) -> None:
    async with uu_rig() as rig:
        driver = rig.driver
        await eventually(lambda: all(m.online for m in driver.modules.values()))
        before = driver.ignored_frames
        reply = codec.pack(1, codec.MsgType.READ_RESPONSE, codec.Cmd.VOUT_FAST, 999_000)
        spy_bus.send(can.Message(arbitration_id=codec.reply_id(9, 3, 5), data=reply, is_extended_id=True))
        await eventually(lambda: driver.ignored_frames > before, what="frame counted as ignored")
        assert 9 not in driver.modules
        assert all(m.voltage < 900 for m in driver.modules.values())


async def test_modules_the_profile_lacks_are_left_alone(uu_rig) -> None:
    async with uu_rig(addresses=(1, 2), sim_addresses=(1, 2, 7), assignment={1: "g1", 2: "g1", 7: "g2"}) as rig:
        await eventually(lambda: all(m.online for m in rig.driver.modules.values()))
        rig.driver.export([1, 2, 7], 400.0, 90.0)
        await eventually(lambda: rig.sim.modules[1].output.on)
        assert not rig.sim.modules[7].output.on
        assert rig.sim.modules[1].output.current_setpoint == 45.0


async def test_current_is_never_broadcast(uu_rig, spy_bus) -> None:
    async with uu_rig() as rig:
        await eventually(lambda: all(m.online for m in rig.driver.modules.values()))
        rig.driver.export([1, 2, 3], 400.0, 150.0)
        await eventually(lambda: all(rig.sim.modules[a].output.on for a in (1, 2, 3)))
        await asyncio.sleep(0.1)
        broadcast = [
            msg for msg in iter(lambda: spy_bus.recv(0), None)
            if codec.address_of(msg.arbitration_id) == 0
        ]
        assert broadcast == []


async def test_hi_lo_range_switches_with_the_output_off(uu_rig) -> None:
    async with uu_rig() as rig:
        driver, sim = rig.driver, rig.sim
        await eventually(lambda: all(m.online for m in driver.modules.values()))
        driver.export([3], 400.0, 10.0)
        await eventually(lambda: abs(driver.modules[3].voltage - 400.0) < 3.0, what="400 V in low range")
        driver.export([3], 750.0, 10.0)
        await eventually(lambda: sim.responder.modes[3] is VoltageMode.HIGH, what="high range")
        await eventually(lambda: abs(driver.modules[3].voltage - 750.0) < 3.0, what="750 V")
        assert sim.responder.unsafe_mode_switches == 0


async def test_off_never_hangs_when_communication_is_lost(uu_rig) -> None:
    async with uu_rig() as rig:
        driver, sim = rig.driver, rig.sim
        await eventually(lambda: all(m.online for m in driver.modules.values()))
        sim.silence(1)
        await eventually(lambda: not driver.modules[1].online)
        driver.off([1])
        assert await asyncio.wait_for(driver.wait_off([1], timeout=10.0), 0.5)


async def test_bus_shutdown_and_reopen(uu_rig) -> None:
    async with uu_rig() as rig:
        driver = rig.driver
        await eventually(lambda: all(m.online for m in driver.modules.values()))
        bus_changes: list[bool] = []
        assert driver.link.bus is not None
        driver.link.bus.shutdown()  # the interface goes away under the driver
        driver.export([1], 400.0, 10.0)  # the next send notices
        assert not driver.bus_ok
        assert all(Fault.COMMUNICATION in m.faults and not m.online for m in driver.modules.values())
        await eventually(lambda: driver.bus_ok, what="bus reopened")
        await eventually(lambda: all(m.online for m in driver.modules.values()), what="modules back")
        assert driver.link.counters.deaths == 1
        await eventually(lambda: rig.sim.modules[1].output.on, what="setpoint re-applied")
        del bus_changes


async def test_a_bus_that_cannot_open_is_retried(can_channel) -> None:
    from pecc_plugins.uugreen import UuParams
    from pecc_plugins.uugreen.driver import UuDriver

    params = UuParams().load(
        {"interface": "no-such-interface", "channel": can_channel, "reopen_min_ms": 10, "reopen_max_ms": 20}
    )
    driver = UuDriver(params, core_profile((1, 2)).power.modules)
    await driver.start()
    try:
        assert not driver.bus_ok
        assert all(Fault.COMMUNICATION in m.faults for m in driver.modules.values())
        driver.export([1, 2], 400.0, 10.0)  # nothing usable: cached as off, never raised
        assert all(m.mode is Mode.OFF for m in driver.modules.values())
        await eventually(lambda: driver.link.counters.open_failures >= 3, what="retries")
        assert driver.link.counters.opens == 0
    finally:
        await driver.stop()
