"""The setpoint deadband on the bus: small raises held, every fall at once, the refresh within resend_ms.

The real UU driver (a frame for each setpoint; Infy: one frame for both)
drives a simulated module on the timed bus, one gun's control cycle (100 ms) at a time; what reached
the module is the simulator's own setpoint (what its frames said). The
band and the refresh period are this file's own, given to the driver as
profile parameters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import can
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pecc_core.testing import eventually, virtual_loop
from pecc_plugins.uugreen import codec

BAND_V, BAND_A = 1.0, 0.5
RESEND_S = 1.0
CYCLE_S = 0.1
#: The driver's poll tick with the rig's poll_ms (40): a refresh goes out on the first tick it is due.
TICK_S = 0.04
#: The module's setpoint registers carry millivolts and milliamperes.
RESOLUTION = 0.001
DRIVER = {"deadband_v": BAND_V, "deadband_a": BAND_A, "resend_ms": round(RESEND_S * 1000)}
VREF, ILIMIT = 0x02, 0x03


def vref_frames(spy_bus: can.BusABC, addressed: bool = False) -> list[Any]:
    """The voltages of the voltage-reference frames the spy saw since it was last read (with their address)."""
    frames = [codec.decode(m.arbitration_id, bytes(m.data)) for m in iter(lambda: spy_bus.recv(0), None)]
    sets = [f for f in frames if f is not None and f.msg_type == 0 and f.cmd == VREF]
    return [(f.address, f.value / 1000) if addressed else f.value / 1000 for f in sets]


async def started(r: Any, voltage: float = 400.0, current: float = 10.0) -> None:
    """The module online and exporting ``voltage`` and ``current``, its first setpoints on it."""
    await eventually(lambda: r.driver.modules[1].online)
    r.driver.export([1], voltage, current, voltage_max=450.0)
    out = r.sim.modules[1].output
    await eventually(lambda: out.on and out.voltage_setpoint == voltage and out.current_setpoint == current)


async def test_a_creeping_voltage_goes_out_once_its_raises_pass_the_band(rig, spy_bus: can.BusABC) -> None:
    async with rig(modules=(1,), assignment={1: "g1"}, driver=DRIVER) as r:
        await started(r)
        vref_frames(spy_bus)
        out = r.sim.modules[1].output
        seen = []
        for step in range(1, 19):  # +0.2 V a cycle for 1.8 s
            r.driver.export([1], 400.0 + step / 5, 10.0, voltage_max=450.0)
            await asyncio.sleep(CYCLE_S)
            seen.append(out.voltage_setpoint)
        # five raises (1.0 V) held, the sixth (1.2 V) out; every 600 ms, never a refresh between
        assert vref_frames(spy_bus) == [401.2, 402.4, 403.6]
        assert seen == [400.0] * 5 + [401.2] * 6 + [402.4] * 6 + [403.6]
        assert out.current_setpoint == 10.0


async def test_a_held_raise_goes_out_with_the_refresh_within_resend_ms(rig, spy_bus: can.BusABC) -> None:
    """Module 2 of 2 refreshes every 1.25 s (the driver spreads refreshes); a raise held waits 1 s at most."""
    async with rig(modules=(1, 2), assignment={1: "g1", 2: "g1"}, driver=DRIVER) as r:
        await eventually(lambda: all(m.online for m in r.driver.modules.values()))
        r.driver.export([1, 2], 400.0, 20.0, voltage_max=450.0)
        out = r.sim.modules[2].output
        await eventually(lambda: out.on and out.voltage_setpoint == 400.0)
        await asyncio.sleep(2 * RESEND_S)
        vref_frames(spy_bus)
        while 2 not in [address for address, _ in vref_frames(spy_bus, addressed=True)]:
            await asyncio.sleep(0.01)  # until module 2's refresh
        r.driver.export([1, 2], 400.6, 20.8, voltage_max=450.0)
        await asyncio.sleep(RESEND_S - 0.05)
        assert (out.voltage_setpoint, out.current_setpoint) == (400.0, 10.0)
        await asyncio.sleep(0.05 + TICK_S + 0.01)  # the first tick due, and the frames on the wire
        assert (out.voltage_setpoint, out.current_setpoint) == (400.6, 10.4)


async def test_a_fall_and_a_raise_above_the_band_go_out_at_once(rig, spy_bus: can.BusABC) -> None:
    async with rig(modules=(1,), assignment={1: "g1"}, driver=DRIVER) as r:
        await started(r)
        out = r.sim.modules[1].output
        steps = [
            ((399.9, 10.0), (399.9, 10.0)),  # 0.1 V down: out
            ((399.9, 9.9), (399.9, 9.9)),  # 0.1 A down: out
            ((401.0, 9.9), (401.0, 9.9)),  # 1.1 V up: above the band, out
            ((401.0, 10.5), (401.0, 10.5)),  # 0.6 A up: out
            ((401.5, 10.9), (401.0, 10.5)),  # 0.5 V and 0.4 A up: held
            ((401.5, 10.4), (401.0, 10.4)),  # 0.1 A down: out, the held voltage stays held
        ]
        for (voltage, current), on_module in steps:
            r.driver.export([1], voltage, current, voltage_max=450.0)
            await asyncio.sleep(0.01)  # the scheduler and the wire: a few frames' time
            assert (out.voltage_setpoint, out.current_setpoint) == on_module
            await asyncio.sleep(CYCLE_S - 0.01)


async def test_a_held_raise_rides_along_when_one_frame_carries_both(rig) -> None:
    """Infy sends voltage and current in one frame: a fall of either takes the held raise along, and counts it as sent."""
    async with rig("infy", modules=(1,), assignment={1: "g1"}, driver=DRIVER) as r:
        await started(r)
        out = r.sim.modules[1].output
        for (voltage, current), on_module in [
            ((400.5, 10.0), (400.0, 10.0)),  # held
            ((400.5, 9.9), (400.5, 9.9)),  # the fall goes, with the held voltage
            ((400.3, 9.9), (400.3, 9.9)),  # below what went out with it: a fall, out
        ]:
            r.driver.export([1], voltage, current, voltage_max=450.0)
            await asyncio.sleep(0.01)
            assert (out.voltage_setpoint, out.current_setpoint) == on_module
            await asyncio.sleep(CYCLE_S - 0.01)


async def test_without_a_band_every_change_goes_out(rig, spy_bus: can.BusABC) -> None:
    async with rig(modules=(1,), assignment={1: "g1"}, driver={**DRIVER, "deadband_v": 0, "deadband_a": 0}) as r:
        await started(r)
        vref_frames(spy_bus)
        for step in range(1, 6):
            r.driver.export([1], 400.0 + step / 5, 10.0, voltage_max=450.0)
            await asyncio.sleep(CYCLE_S)
        assert vref_frames(spy_bus) == [400.2, 400.4, 400.6, 400.8, 401.0]


#: A cycle's change of the target: small raises and falls, holds, and raises above the band.
VOLTS = st.sampled_from([-2.0, -0.1, 0.0, 0.0, 0.2, 0.3, 0.5, 0.9, 1.5])
AMPS = st.sampled_from([-1.0, -0.1, 0.0, 0.0, 0.1, 0.2, 0.4, 0.7])


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(VOLTS, AMPS, st.integers(1, 8)), min_size=1, max_size=12))
def test_the_module_is_never_above_its_target_nor_below_it_for_long(
    rig: Callable[..., Any], changes: list[tuple[float, float, int]]
) -> None:
    """Each change is followed by a number of cycles with the target held; the module is sampled every cycle.

    Just before each next command (a cycle after the last): the module's
    setpoints are never above the target, never below it by more than the
    band, and below it not longer than the refresh period (plus the tick
    and a cycle of sampling) at a time.
    """
    loop = virtual_loop()
    try:
        loop.run_until_complete(_drive(rig, changes))
    finally:
        loop.close()


async def _drive(rig: Callable[..., Any], changes: list[tuple[float, float, int]]) -> None:
    async with rig(modules=(1,), assignment={1: "g1"}, driver=DRIVER) as r:
        await started(r)
        out, loop = r.sim.modules[1].output, asyncio.get_running_loop()
        voltage, current = 400.0, 10.0
        below_since: dict[str, float | None] = {"V": None, "A": None}
        for dv, da, cycles in changes:
            voltage, current = round(voltage + dv, 1), round(min(max(current + da, 2.0), 20.0), 1)
            r.driver.export([1], voltage, current, voltage_max=450.0)
            for _ in range(cycles):
                await asyncio.sleep(CYCLE_S)
                now = loop.time()
                for name, target, actual, band in (
                    ("V", voltage, out.voltage_setpoint, BAND_V),
                    ("A", current, out.current_setpoint, BAND_A),
                ):
                    assert actual <= target + RESOLUTION, (name, target, actual)
                    assert actual >= target - band - RESOLUTION, (name, target, actual)
                    if actual >= target - RESOLUTION:
                        below_since[name] = None
                    else:
                        since = below_since[name] = below_since[name] or now - CYCLE_S
                        assert now - since <= RESEND_S + TICK_S + CYCLE_S, (name, target, actual)
