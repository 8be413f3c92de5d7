"""The simulator's car and output model as the station's targets drive it."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

import can
import pytest

from pecc_core.model import Phase, Target
from pecc_core.testing import eventually


async def test_the_car_follows_the_secc_targets(rig) -> None:
    async with rig() as r:
        gun, node = r.station.guns["g1"], r.sim.nodes["g1"]
        gun.target = Target(380.0, 2.0, 40.0, Phase.PRECHARGE)
        await eventually(lambda: node.battery is not None)
        assert (node.battery.ocv0, node.battery.soc0, node.battery.closed) == (380.0, 40.0, False)
        gun.target = Target(450.0, 50.0, 40.0, Phase.CHARGE)
        await eventually(lambda: node.battery.closed, what="car contactors closed")
        ocv = node.battery.ocv(r.sim.plant.config)
        gun.target = Target(450.0, 50.0, 60.0, Phase.CHARGE)
        await eventually(lambda: node.battery.ocv(r.sim.plant.config) > ocv, what="OCV rises with SOC")
        assert node.battery.ocv(r.sim.plant.config) == pytest.approx(380.0 * (1 + 0.002 * 20))
        gun.target = Target(450.0, 0.0, 60.0, Phase.POSTCHARGE)
        await eventually(lambda: not node.battery.closed, what="car contactors open")
        gun.target = None
        await eventually(lambda: node.battery is None, what="session over")


async def test_an_idle_output_discharges_below_60_v(rig) -> None:
    async with rig(sim={"node_capacitance_f": 0.0005}) as r:  # tau 0.25 s
        await eventually(lambda: all(m.online for m in r.driver.modules.values()))
        r.driver.export([1, 2], 800.0, 5.0)
        await eventually(lambda: r.sim.nodes["g1"].voltage > 790.0, what="charged to 800 V", timeout=5.0)
        r.driver.off([1, 2])
        await eventually(lambda: r.driver.modules[1].voltage < 60.0, what="bled below 60 V", timeout=3.0)


# -- the simulator against the notes, with tables written here -------------------------
#
# These tests talk to the simulator with raw frames on a bus of their own (the rig's driver
# uses another group, so it does not answer for them) and decode its replies with the
# tables of CAN-PROTOCOLS.md copied into this file: neither the driver's codec nor the
# simulator's is used.

#: UU status word: bit -> kind (kinds that stop the module marked by the notes' table)
UU_TABLE = {
    0: "input", 1: "input", 2: "input", 3: "hardware", 4: "hardware", 5: "hardware",
    6: "over_voltage", 7: "over_voltage", 8: "warning", 9: "warning", 12: "over_temperature",
    14: "over_temperature", 15: "over_temperature", 16: "over_temperature", 17: "over_temperature",
    18: "hardware", 20: "hardware", 21: "hardware", 29: "configuration", 31: "hardware",
}
UU_STOPS = {"input", "hardware", "over_voltage", "over_temperature", "configuration"}
UU_DCDC_OFF = 1 << 25


async def reply_to(bus: can.BusABC, request: can.Message, is_reply: Callable[[can.Message], bool]) -> can.Message:
    """Send ``request`` from the spy bus; the first frame after it that ``is_reply``.

    The simulator answers on the loop (the timed wire): the spy is read with ``recv(0)``
    between the loop's turns, never blocking it.
    """
    bus.send(request)
    replies: list[can.Message] = []

    def read() -> bool:
        while not replies and (msg := bus.recv(0)) is not None:
            if is_reply(msg):
                replies.append(msg)
        return bool(replies)

    await eventually(read, timeout=2.0, what="a reply")
    return replies[0]


async def uu_exchange(bus: can.BusABC, data: str, cmd: int) -> int:
    """Send a group-2 frame to UU module 1; the value of its reply to ``cmd``."""
    request = can.Message(arbitration_id=0x02204000, data=bytes.fromhex(data), is_extended_id=True)
    msg = await reply_to(
        bus, request,
        lambda m: m.arbitration_id & 0x1FFFC000 == 0x02204000 and m.data[0] in (0x21, 0x23) and m.data[1] == cmd,
    )
    assert msg.arbitration_id & 0x3FFF, "a reply carries the module's date and serial bits"
    return int.from_bytes(msg.data[4:], "big")


@pytest.mark.parametrize("bit", sorted(UU_TABLE))
async def test_the_uu_simulator_reports_each_status_bit_of_the_notes(rig, spy_bus, bit: int) -> None:
    async with rig(sim={"group": 2}) as r:  # the driver stays in group 1
        r.sim.inject(1, bit)
        await uu_exchange(spy_bus, "20 02 00 00 00 06 1A 80", 0x02)  # 400 V
        await uu_exchange(spy_bus, "20 03 00 00 00 00 27 10", 0x03)  # 10 A
        await uu_exchange(spy_bus, "20 04 00 00 00 00 00 00", 0x04)  # on
        await asyncio.sleep(0.1)
        word = await uu_exchange(spy_bus, "22 08 00 00 00 00 00 00", 0x08)
        assert word & 1 << bit
        stopped = UU_TABLE[bit] in UU_STOPS
        assert bool(word & UU_DCDC_OFF) == stopped  # DC/DC off is the module's state
        volts = await uu_exchange(spy_bus, "22 62 00 00 00 00 00 00", 0x62)
        assert (volts < 60_000) == stopped


async def test_the_uu_simulator_ranges_and_capability(rig, spy_bus) -> None:
    async with rig(sim={"group": 2}) as r:
        assert r.sim.modules[1].output.current_max == 100.0
        assert await uu_exchange(spy_bus, "22 65 00 00 00 00 00 00", 0x65) == 2  # low
        assert await uu_exchange(spy_bus, "22 68 00 00 00 00 00 00", 0x68) == 100_000
        await uu_exchange(spy_bus, "20 5F 00 00 00 00 00 01", 0x5F)  # high range
        assert await uu_exchange(spy_bus, "22 65 00 00 00 00 00 00", 0x65) == 1
        assert await uu_exchange(spy_bus, "22 68 00 00 00 00 00 00", 0x68) == 50_000


#: Infy alarm bytes: (byte, bit) -> kind
INFY_TABLE = {
    (7, 0): "short_circuit", (7, 4): "state", (7, 5): "hardware", (6, 0): "state", (6, 1): "hardware",
    (6, 2): "hardware", (6, 3): "warning", (6, 4): "over_temperature", (6, 5): "over_voltage",
    (6, 6): "state", (6, 7): "warning", (5, 0): "state", (5, 1): "configuration", (5, 2): "warning",
    (5, 3): "input", (5, 4): "warning", (5, 5): "input", (5, 6): "input", (5, 7): "state",
}


async def infy_exchange(bus: can.BusABC, cmd: int, data: bytes = bytes(8)) -> can.Message:
    """Send ``cmd`` to Infy module 1 from controller 0xF0; its reply."""
    request = can.Message(arbitration_id=0x0A << 22 | cmd << 16 | 0x01 << 8 | 0xF0, data=data, is_extended_id=True)
    return await reply_to(
        bus, request,
        lambda m: m.arbitration_id & 0x3FFFFF == cmd << 16 | 0xF0 << 8 | 0x01 and m.arbitration_id >> 22 & 0xF == 0x0A,
    )


@pytest.mark.parametrize(("byte", "bit"), sorted(INFY_TABLE))
async def test_the_infy_simulator_reports_each_alarm_of_the_notes(rig, spy_bus, byte: int, bit: int) -> None:
    async with rig("infy", sim_modules=(1, 2, 3), modules=(2, 3)) as r:  # the driver leaves module 1 alone
        r.sim.inject(1, (7 - byte) * 8 + bit)
        reply = await infy_exchange(spy_bus, 0x04)
        assert reply.arbitration_id >> 26 == 0 and reply.data[byte] & 1 << bit
        assert reply.data[6] & 1  # the module is off: DC side off


async def test_the_infy_simulator_diode_minimum_current_and_errors(rig, spy_bus) -> None:
    async with rig("infy", sim_modules=(1, 2), modules=(2,), assignment={1: "g1", 2: None}) as r:
        node = r.sim.nodes["g1"]
        node.voltage = 400.0  # the connector holds a charged output (it bleeds with tau 1 s)
        await asyncio.sleep(0.05)  # a simulation step
        vi = await infy_exchange(spy_bus, 0x03)
        after = await infy_exchange(spy_bus, 0x0C)
        assert struct.unpack(">ff", vi.data)[0] == 0.0  # the module side of the diode, off
        assert int.from_bytes(after.data[0:2], "big") > 3000  # > 300.0 V after the diode
        refused = await infy_exchange(spy_bus, 0x1C, bytes.fromhex("00 06 1A 80 00 00 00 00"))
        assert refused.arbitration_id >> 26 == 3  # 0 A: data invalid
        accepted = await infy_exchange(spy_bus, 0x1C, bytes.fromhex("00 06 1A 80 00 00 03 E8"))
        assert accepted.arbitration_id >> 26 == 0  # 1 A is accepted
        unknown = await infy_exchange(spy_bus, 0x3E)
        assert unknown.arbitration_id >> 26 == 2  # command invalid
