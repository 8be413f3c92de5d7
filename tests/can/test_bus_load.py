"""Bus load of the field cabinet: 12 UU modules at the driver's default polling budget.

Runs the real driver against simulated modules on a virtual bus, records
every frame with a spy bus, and computes the bus time of exactly those
frames (bit stuffing counted frame by frame). Figures are printed (run
with ``-s``) and go into docs/can-drivers.md; the asserts only keep them
from drifting far (frame counts follow the loop clock, not wall time).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import can

from pecc_core.testing import eventually
from pecc_plugins.canbus.load import stuffed_bits

BITRATE = 125_000
SECONDS = 4.0
MODULES = tuple(range(1, 13))
#: the driver's defaults (the rig's are short for other tests), and a short range switch
# UU message types and commands (CAN-PROTOCOLS.md)
SET, SET_RESPONSE, READ, READ_RESPONSE = 0, 1, 2, 3
VREF, ILIMIT, SHUTDOWN, STATUS, TEMPERATURE, IOUT_FAST, VOUT_FAST = 0x02, 0x03, 0x04, 0x08, 0x1E, 0x30, 0x62
DEFAULTS = {"poll_ms": 200, "idle_poll_ms": 1000, "status_ms": 1000, "temperature_ms": 5000,
            "resend_ms": 1000, "offline_ms": 6000, "mode_switch_ms": 50}


async def measure(rig, spy_bus: can.BusABC, charging: tuple[int, ...]) -> tuple[float, float, Counter[tuple[int, int]]]:
    """Frames per second, bus load (%) and frames by (message type, command), ``charging`` modules feeding one gun."""
    assignment = {a: ("g1" if a in charging else None) for a in MODULES}
    async with rig("uugreen", modules=MODULES, assignment=assignment, driver=DEFAULTS) as r:
        driver = r.driver
        await eventually(lambda: all(m.online for m in driver.modules.values()), timeout=5.0)
        if charging:
            driver.export(charging, 400.0, 150.0, voltage_max=450.0)
            await eventually(lambda: all(r.sim.modules[a].output.on for a in charging), timeout=5.0)
        await asyncio.sleep(1.0)  # range, capability reads and the first setpoints are past
        while spy_bus.recv(0) is not None:
            pass
        loop = asyncio.get_running_loop()
        end, step = loop.time() + SECONDS, 0
        while loop.time() < end:  # targetValues every 100 ms, a new voltage each time
            step += 1
            if charging:
                driver.export(charging, 400.0 + step % 20 * 0.5, 150.0, voltage_max=450.0)
            await asyncio.sleep(0.1)
        frames = list(iter(lambda: spy_bus.recv(0), None))
    kinds = Counter((m.data[0] & 0xF, m.data[1]) for m in frames)
    fps = len(frames) / SECONDS
    load = 100 * sum(stuffed_bits(m.arbitration_id, bytes(m.data)) for m in frames) / SECONDS / BITRATE
    print(f"\n12 UU modules, {len(charging)} feeding a charging gun: {fps:.0f} frames/s, {load:.1f} % at 125 kbit/s")
    return fps, load, kinds


def answered(kinds: Counter[tuple[int, int]]) -> bool:
    """Every request of the window has its reply in it (none lost, none still on its way)."""
    return all(kinds[(SET_RESPONSE, cmd)] == n for (kind, cmd), n in kinds.items() if kind == SET) and all(
        kinds[(READ_RESPONSE, cmd)] == n for (kind, cmd), n in kinds.items() if kind == READ
    )


async def test_twelve_idle_uu_modules(rig, spy_bus: can.BusABC) -> None:
    fps, load, kinds = await measure(rig, spy_bus, ())
    # per module and second: Vout fast, Iout fast and status once (idle_poll_ms, status_ms 1000)
    reads = {cmd: kinds[(READ, cmd)] for cmd in (VOUT_FAST, IOUT_FAST, STATUS)}
    assert reads == dict.fromkeys(reads, 12 * 4)
    # temperature every 5 s: 12 x 4/5 = 9.6 reads in 4 s, 9 or 10 by where the window meets each module's phase
    assert kinds[(READ, TEMPERATURE)] in (9, 10)
    assert set(kinds) == {(k, c) for k in (READ, READ_RESPONSE) for c in (VOUT_FAST, IOUT_FAST, STATUS, TEMPERATURE)}
    assert answered(kinds)
    assert fps == 2 * (3 * 48 + kinds[(READ, TEMPERATURE)]) / SECONDS  # 77 frames/s
    assert load < 15


async def test_twelve_uu_modules_one_gun_charging(rig, spy_bus: can.BusABC) -> None:
    fps, load, kinds = await measure(rig, spy_bus, (1, 2, 3))
    # 9 idle modules read once a second, 3 active ones every 200 ms (poll_ms)
    assert kinds[(READ, VOUT_FAST)] == kinds[(READ, IOUT_FAST)] == 9 * 4 + 3 * 5 * 4
    assert kinds[(READ, STATUS)] == 12 * 4
    assert kinds[(READ, TEMPERATURE)] in (9, 10)  # see the idle test
    # a new voltage every 100 ms to each active module, 0.5 V up each time and 9.5 V down every 20th
    # (a battery's creep): the driver's deadband (1 V) holds two raises of three, the third and the
    # fall go out, 7 of every 20 cycles (14 in the window); the current (50 A each) never changes.
    # Their refresh (resend_ms), due about 1 s after the export that started them and no longer
    # pushed back by a voltage every cycle, falls in the window: the whole state once each.
    assert kinds[(SET, VREF)] == 3 * (14 + 1)
    assert kinds[(SET, ILIMIT)] == kinds[(SET, SHUTDOWN)] == 3
    assert {cmd for kind, cmd in kinds if kind == SET} == {VREF, ILIMIT, SHUTDOWN}
    assert answered(kinds)
    assert fps == sum(kinds.values()) / SECONDS == 2 * (45 + 6 + 96 + 96 + 48 + kinds[(READ, TEMPERATURE)]) / SECONDS
    assert load < 30
