"""Every vendor driver against its simulated modules on a python-can virtual bus.

The behaviour the PowerDriver contract promises, whatever the protocol.
"""

from __future__ import annotations

import asyncio
import struct

import can
import pytest

from pecc_core.model import Phase, Target
from pecc_core.power import Fault, Mode
from pecc_core.testing import eventually
from pecc_plugins.infy import codec as infy
from pecc_plugins.uugreen import codec as uu

from .can_rig import DRIVERS, core_profile

pytestmark = pytest.mark.parametrize("protocol", ["uugreen", "infy"])


def all_online(driver) -> bool:
    return all(m.online for m in driver.modules.values())


def voltage_reply_from(protocol: str, address: int, volts: float) -> can.Message:
    """A measurement reply as a module at ``address`` would send it."""
    if protocol == "uugreen":
        arbitration_id = uu.reply_id(address, 3, 5)
        data = uu.pack(1, uu.MsgType.READ_RESPONSE, uu.Cmd.VOUT_FAST, round(volts * 1000))
    else:
        arbitration_id = infy.frame_id(infy.Cmd.READ_VI, infy.CONTROLLER, source=address)
        data = struct.pack(">ff", volts, 0.0)  # cmd 0x03: float32 V, float32 A
    return can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=True)


async def test_setpoint_reaches_modules_split_per_module(rig, protocol: str) -> None:
    async with rig(protocol) as r:
        await eventually(lambda: all_online(r.driver), what="modules online")
        r.driver.export([1, 2], 400.0, 60.0)
        sim1, sim2 = r.sim.modules[1].output, r.sim.modules[2].output
        await eventually(lambda: sim1.on and sim2.on, what="outputs on")
        assert (sim1.voltage_setpoint, sim1.current_setpoint) == (400.0, 30.0)
        assert (sim2.voltage_setpoint, sim2.current_setpoint) == (400.0, 30.0)
        assert not r.sim.modules[3].output.on
        await eventually(lambda: abs(r.driver.modules[1].voltage - 400.0) < 2.0, what="400 V measured")


async def test_charging_a_car_gives_constant_current(rig, protocol: str) -> None:
    async with rig(protocol) as r:
        driver, station = r.driver, r.station
        gun = station.guns["g1"]
        await eventually(lambda: all_online(driver))
        await station.io.contactors.set("g1", True)
        gun.target = Target(voltage=380.0, current=2.0, soc=40.0, phase=Phase.PRECHARGE)
        driver.export([1, 2], 380.0, 2.0)
        await eventually(lambda: abs(driver.modules[1].voltage - 380.0) < 3.0, what="precharged")
        gun.target = Target(voltage=450.0, current=120.0, soc=40.0, phase=Phase.CHARGE)
        driver.export([1, 2], 450.0, 120.0)
        total = lambda: driver.modules[1].current + driver.modules[2].current  # noqa: E731
        await eventually(lambda: abs(total() - 120.0) < 1.0, what="120 A delivered")
        # battery: 380 V open-circuit + 120 A x 0.05 ohm, well below the 450 V target.
        # Voltage and current come from separate polls (Infy), so the voltage
        # reading may still be the precharge one when the current arrives.
        await eventually(lambda: driver.modules[1].voltage > 380.0, what="voltage under load")
        assert driver.modules[1].voltage < 400.0
        driver.off([1, 2])
        assert await driver.wait_off([1, 2], timeout=3.0)
        assert driver.modules[1].mode is Mode.OFF
        assert abs(total()) <= driver.timing.off_current_a


async def test_silent_module_goes_offline_and_recovers_with_its_setpoints(rig, protocol: str) -> None:
    async with rig(protocol) as r:
        driver, sim = r.driver, r.sim
        loop = asyncio.get_running_loop()
        changes: list[tuple[int, bool]] = []
        lost_at: list[tuple[float, float]] = []  # (loop time, the module's last reply) when it went offline

        def on_change(m) -> None:
            changes.append((m.address, m.online))
            if m.address == 2 and not m.online and not lost_at:
                lost_at.append((loop.time(), m.last_seen))

        driver.add_listener(on_change)
        await eventually(lambda: all_online(driver))
        driver.export([1, 2], 400.0, 40.0)
        await eventually(lambda: sim.modules[2].output.on)
        sim.silence(2)
        await eventually(lambda: not driver.modules[2].online, what="module 2 offline")
        # offline_ms (500) after its last reply, found by the first poll tick (at most poll_ms, 40 ms) past it
        at, last_seen = lost_at[0]
        assert last_seen + 0.5 < at <= last_seen + 0.5 + 0.04
        assert Fault.COMMUNICATION in driver.modules[2].faults
        assert not driver.modules[2].usable
        # the module's own watchdog switched its output off meanwhile
        await eventually(lambda: not sim.modules[2].output.on, what="sim watchdog")
        assert (2, False) in changes
        sim.silence(2, False)
        await eventually(lambda: driver.modules[2].online, what="module 2 back")
        assert Fault.COMMUNICATION not in driver.modules[2].faults
        out = sim.modules[2].output  # cached mode and setpoints were re-applied
        await eventually(lambda: out.on, what="output on again")
        assert out.voltage_setpoint == 400.0 and out.current_setpoint == 20.0
        assert changes[-1] == (2, True)


async def test_alarm_bits_become_typed_faults(rig, protocol: str) -> None:
    async with rig(protocol) as r:
        driver, sim = r.driver, r.sim
        seen: list[frozenset[Fault]] = []
        driver.add_listener(lambda m: seen.append(frozenset(m.faults)))
        await eventually(lambda: all_online(driver))
        driver.export([1], 400.0, 20.0)
        await eventually(lambda: sim.modules[1].output.on)
        sim.fault(1, Fault.OVER_VOLTAGE)
        await eventually(lambda: Fault.OVER_VOLTAGE in driver.modules[1].faults, what="over-voltage")
        assert not driver.modules[1].usable
        assert driver.modules[1].mode is Mode.OFF  # the refresh will not switch it back on
        await asyncio.sleep(0.3)  # past a setpoint refresh
        assert not sim.modules[1].output.on
        sim.over_temperature(3, 95.0)
        await eventually(lambda: Fault.OVER_TEMPERATURE in driver.modules[3].faults, what="over-temperature")
        await eventually(lambda: driver.modules[3].temperature == 95.0)
        sim.clear(1)
        sim.clear(3)  # cools down with the thermal model
        await eventually(lambda: not driver.modules[1].faults and not driver.modules[3].faults, what="cleared")
        assert frozenset({Fault.OVER_VOLTAGE}) in seen


async def test_frames_from_unconfigured_addresses_are_ignored(rig, protocol: str, spy_bus) -> None:
    async with rig(protocol) as r:
        driver = r.driver
        await eventually(lambda: all_online(driver))
        before = driver.ignored_frames
        spy_bus.send(voltage_reply_from(protocol, 9, 999.0))
        await eventually(lambda: driver.ignored_frames > before, what="frame counted as ignored")
        assert 9 not in driver.modules
        assert all(m.voltage < 900 for m in driver.modules.values())


async def test_modules_the_profile_lacks_are_left_alone(rig, protocol: str) -> None:
    async with rig(protocol, modules=(1, 2), sim_modules=(1, 2, 7), assignment={1: "g1", 2: "g1", 7: "g2"}) as r:
        await eventually(lambda: all_online(r.driver))
        r.driver.export([1, 2, 7], 400.0, 90.0)
        await eventually(lambda: r.sim.modules[1].output.on)
        assert not r.sim.modules[7].output.on
        assert r.sim.modules[1].output.current_setpoint == 45.0


async def test_off_never_hangs_when_communication_is_lost(rig, protocol: str) -> None:
    async with rig(protocol) as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        sim.silence(1)
        await eventually(lambda: not driver.modules[1].online)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        driver.off([1])
        assert await driver.wait_off([1], timeout=10.0)
        assert loop.time() == asked  # an offline module is not waited for at all


async def test_slow_replies_keep_a_module_online(rig, protocol: str) -> None:
    async with rig(protocol) as r:
        await eventually(lambda: all_online(r.driver))
        r.sim.slow(1, 0.2)  # well inside offline_ms
        r.driver.export([1], 400.0, 10.0)
        await eventually(lambda: abs(r.driver.modules[1].voltage - 400.0) < 3.0, what="late readings")
        assert r.driver.modules[1].online


async def test_a_module_that_stops_by_itself_is_switched_on_at_its_next_status(rig, protocol: str) -> None:
    """Its own watchdog, a restart: the driver, still commanding it to export, does not leave it off."""
    async with rig(protocol) as r:
        loop = asyncio.get_running_loop()
        await eventually(lambda: all_online(r.driver))
        r.driver.export([1], 400.0, 10.0)
        output = r.sim.modules[1].output
        await eventually(lambda: output.on, what="output on")
        await asyncio.sleep(0.05)  # the first setpoints and their measurements are past
        output.on = False
        stopped = loop.time()
        await eventually(lambda: output.on, what="output on again")
        # the next status read (status_ms 80) says off, the state goes again: a few frames later
        assert loop.time() - stopped <= 0.08 + 0.02
        assert (output.voltage_setpoint, output.current_setpoint) == (400.0, 10.0)


async def test_bus_shutdown_and_reopen(rig, protocol: str) -> None:
    async with rig(protocol) as r:
        driver = r.driver
        await eventually(lambda: all_online(driver))
        assert driver.link.bus is not None
        driver.link.bus.shutdown()  # the interface goes away under the driver
        driver.export([1], 400.0, 10.0)  # refused; the reader notices at once, the send or the next poll
        await eventually(lambda: not driver.bus_ok, what="bus reported down")
        assert all(Fault.COMMUNICATION in m.faults and not m.online for m in driver.modules.values())
        await eventually(lambda: driver.bus_ok, what="bus reopened")
        await eventually(lambda: all_online(driver), what="modules back")
        assert driver.link.counters.deaths == 1
        await eventually(lambda: r.sim.modules[1].output.on, what="setpoint re-applied")


async def test_a_bus_that_cannot_open_is_retried(rig, protocol: str, can_channel: str) -> None:
    params_schema, driver_class, _ = DRIVERS[protocol]
    params = params_schema().load(
        {"interface": "no-such-interface", "channel": can_channel, "reopen_min_ms": 10, "reopen_max_ms": 20}
    )
    driver = driver_class(params, core_profile((1, 2)).power.modules)
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


def current_setpoints_to(protocol: str, frames: list[can.Message], address: int) -> list[float]:
    """The current setpoints (A) the driver sent to ``address`` among ``frames``."""
    found = []
    for msg in frames:
        if protocol == "uugreen":
            uf = uu.decode(msg.arbitration_id, msg.data)
            if uf and (uf.address, uf.msg_type, uf.cmd) == (address, uu.MsgType.SET, uu.Cmd.ILIMIT):
                found.append(uf.value / 1000)
        else:
            inf = infy.decode(msg.arbitration_id, msg.data)
            if inf and (inf.source, inf.destination, inf.cmd) == (infy.CONTROLLER, address, infy.Cmd.SET_VI):
                found.append(int.from_bytes(inf.data[4:], "big") / 1000)
    return found


async def test_every_setpoint_change_goes_out_at_once(rig, protocol: str, spy_bus) -> None:
    async with rig(protocol, driver={"resend_ms": 60_000}) as r:
        await eventually(lambda: all_online(r.driver))
        out = r.sim.modules[1].output
        r.driver.export([1], 400.0, 10.0)
        await eventually(lambda: out.on)
        while spy_bus.recv(0) is not None:
            pass
        superseded = r.driver.link.stats().superseded
        for step in range(1, 21):  # faster than the wire: a change replaces the one still waiting
            r.driver.export([1], 400.0, 10.0 + step)
        await eventually(lambda: out.current_setpoint == 30.0, what="last value")
        sent = current_setpoints_to(protocol, list(iter(lambda: spy_bus.recv(0), None)), 1)
        assert sent[-1] == 30.0 and sent == sorted(set(sent))  # in order, the newest last, none held back
        assert r.driver.link.stats().superseded - superseded == 20 - len(sent)
        r.driver.export([1], 400.0, 31.0)  # the queue is empty again: out at once
        await eventually(lambda: out.current_setpoint == 31.0, what="the next value")
        while spy_bus.recv(0) is not None:
            pass
        r.driver.export([1], 400.0, 31.0)  # no change: nothing sent
        await asyncio.sleep(0.1)
        assert current_setpoints_to(protocol, list(iter(lambda: spy_bus.recv(0), None)), 1) == []
