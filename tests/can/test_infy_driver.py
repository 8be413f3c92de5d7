"""What only the infy driver does: after-diode voltage, minimum current, refusals, group reads."""

from __future__ import annotations

import asyncio

import can

from pecc_core.model import Phase, Target
from pecc_core.power import Fault, Mode
from pecc_core.testing import eventually
from pecc_plugins.infy import InfyParams, codec
from pecc_plugins.infy.driver import InfyDriver

from .can_rig import core_profile


def all_online(driver) -> bool:
    return all(m.online for m in driver.modules.values())


def requests(frames: list[can.Message]) -> list[codec.Frame]:
    decoded = (codec.decode(m.arbitration_id, m.data) for m in frames)
    return [f for f in decoded if f is not None and f.source == codec.CONTROLLER]


async def test_capabilities_read_from_the_module_narrow_the_ratings(rig) -> None:
    weaker = ({"address": 1, "current_max": 60.0, "power_max": 20_000.0, "voltage_min": 200.0}, 2)
    async with rig("infy", modules=(1, 2), sim_modules=weaker) as r:
        changed: list[int] = []
        r.driver.add_listener(lambda m: changed.append(m.address))
        await eventually(lambda: all_online(r.driver))
        one = r.driver.modules[1]
        await eventually(lambda: one.current_max == 60.0, what="narrowed")
        assert (one.voltage_min, one.voltage_max, one.power_max) == (200.0, 1000.0, 20_000.0)
        assert r.driver.modules[2].current_max == 100.0  # the profile's own rating is the ceiling
        assert 1 in changed
        r.driver.export([1, 2], 500.0, 150.0)  # the split respects the narrowed rating
        await eventually(lambda: r.sim.modules[1].output.on and r.sim.modules[2].output.on)
        assert r.sim.modules[1].output.current_setpoint == 40.0  # 20 kW / 500 V
        assert r.sim.modules[2].output.current_setpoint == 60.0  # 30 kW / 500 V


async def test_group_addressing_reads_the_count_from_the_group_and_the_rest_per_module(rig, spy_bus) -> None:
    async with rig("infy", modules=(1, 2, 3), sim_modules=(1, 2, 3, 4),
                   assignment={1: "g1", 2: "g1", 3: "g2", 4: None},
                   driver={"addressing": "group", "group": 0}) as r:
        await eventually(lambda: all_online(r.driver))
        await eventually(lambda: r.driver.group_count == 4, what="group count")
        r.driver.export([1, 2], 400.0, 20.0)
        await eventually(lambda: abs(r.driver.modules[1].voltage - 400.0) < 3.0)
        sent = requests(list(iter(lambda: spy_bus.recv(0), None)))
        group = [f for f in sent if f.device == codec.DEVICE_GROUP]
        assert group and {f.cmd for f in group} == {codec.Cmd.COUNT}  # as EVerest's driver does
        per_module = {f.cmd for f in sent if f.device == codec.DEVICE_MODULE}
        assert {codec.Cmd.READ_VI, codec.Cmd.VI_AFTER_DIODE, codec.Cmd.STATUS, codec.Cmd.SET_VI} <= per_module


async def test_the_present_voltage_is_the_one_after_the_diode(rig) -> None:
    async with rig("infy", modules=(1,), assignment={1: "g1"}) as r:
        driver, sim, station = r.driver, r.sim, r.station
        gun = station.guns["g1"]
        await eventually(lambda: all_online(driver))
        await station.io.contactors.set("g1", True)
        gun.target = Target(380.0, 2.0, 40.0, Phase.PRECHARGE)
        driver.export([1], 380.0, 2.0)
        await eventually(lambda: abs(driver.modules[1].voltage - 380.0) < 3.0, what="precharged")
        gun.target = Target(420.0, 20.0, 40.0, Phase.CHARGE)  # the car's contactors close
        await eventually(lambda: sim.nodes["g1"].battery is not None and sim.nodes["g1"].battery.closed)
        driver.off([1])
        await eventually(lambda: not sim.modules[1].output.on)
        await asyncio.sleep(0.3)
        # the module's own side reads ~0 V; the connector still holds the battery
        assert sim.modules[1].output.module_voltage == 0.0
        assert driver.modules[1].voltage > 370.0


async def test_a_0_a_request_switches_the_module_off(rig, spy_bus) -> None:
    async with rig("infy", modules=(1, 2), assignment={1: "g1", 2: "g1"}) as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        driver.export([1, 2], 400.0, 20.0)
        await eventually(lambda: sim.modules[1].output.on and sim.modules[2].output.on)
        driver.export([1, 2], 400.0, 1.5)  # below 1 A each: one module carries it
        await eventually(lambda: sim.modules[1].output.on != sim.modules[2].output.on, what="one on")
        driver.export([1, 2], 400.0, 0.0)
        await eventually(lambda: not sim.modules[1].output.on and not sim.modules[2].output.on, what="off")
        assert all(m.mode is Mode.OFF for m in driver.modules.values())
        limits = [
            int.from_bytes(f.data[4:], "big")
            for f in requests(list(iter(lambda: spy_bus.recv(0), None)))
            if f.cmd == codec.Cmd.SET_VI
        ]
        assert limits and min(limits) >= 1000  # never a limit below 1 A (mA on the wire)
        assert sum(driver.refusals.values()) == 0


async def test_refusals_are_counted_and_become_a_fault_until_accepted(rig, caplog) -> None:
    async with rig("infy", modules=(1, 2), assignment={1: "g1", 2: "g1"}) as r:
        driver, sim = r.driver, r.sim
        await eventually(lambda: all_online(driver))
        sim.refuse(1, 7)  # busy starting
        driver.export([1, 2], 400.0, 20.0)
        await eventually(lambda: Fault.VENDOR_ERROR in driver.modules[1].faults, what="refusal fault")
        assert not driver.modules[1].usable
        assert driver.refusals[(1, codec.Cmd.SET_VI, 7)] >= 1
        assert any("refused command 0x1C: error BUSY_STARTING" in rec.getMessage() for rec in caplog.records)
        sim.refuse(1, 0)
        await eventually(lambda: Fault.VENDOR_ERROR not in driver.modules[1].faults, what="accepted again")


def test_defaults_offline_15_s_and_1_a_minimum() -> None:
    settings = InfyParams().load({"channel": "x"})
    assert (settings.timing.offline_s, settings.timing.min_current_a) == (15.0, 1.0)


def test_only_set_v_and_i_replaces_a_waiting_setpoint() -> None:
    """Frames written from CAN-PROTOCOLS.md's examples: module 0 to 500 V / 50 A, module 1 on."""
    driver = InfyDriver(InfyParams().load({"channel": "x"}), core_profile((0, 1)).power.modules)
    set_vi = (0x029C00F0, bytes.fromhex("0007A1200000C350"))
    assert driver.slot(set_vi) == driver.slot((0x029C00F0, bytes.fromhex("000F424000000000")))
    assert driver.slot((0x029C01F0, set_vi[1])) not in (None, driver.slot(set_vi))  # module 1's own
    assert driver.slot((0x029A01F0, bytes(8))) is None  # on/off: every one goes out
