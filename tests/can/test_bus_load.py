"""Bus load of the field cabinet: 12 UU modules at the driver's default polling budget.

Runs the real driver against simulated modules on a virtual bus, records
every frame with a spy bus, and computes the bus time of exactly those
frames (bit stuffing counted frame by frame). Figures are printed (run
with ``-s``) and go into docs/can-drivers.md; the asserts only keep them
from drifting far (frame counts follow the loop clock, not wall time).
"""

from __future__ import annotations

import asyncio

import can

from pecc_core.testing import eventually
from pecc_plugins.canbus.load import stuffed_bits

BITRATE = 125_000
SECONDS = 4.0
MODULES = tuple(range(1, 13))
#: the driver's defaults (the rig's are short for other tests), and a short range switch
DEFAULTS = {"poll_ms": 200, "idle_poll_ms": 1000, "status_ms": 1000, "temperature_ms": 5000,
            "resend_ms": 1000, "offline_ms": 6000, "mode_switch_ms": 50}


async def measure(rig, spy_bus: can.BusABC, charging: tuple[int, ...]) -> tuple[float, float]:
    """Frames per second and bus load (%) with ``charging`` modules feeding one gun."""
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
    fps = len(frames) / SECONDS
    load = 100 * sum(stuffed_bits(m.arbitration_id, bytes(m.data)) for m in frames) / SECONDS / BITRATE
    print(f"\n12 UU modules, {len(charging)} feeding a charging gun: {fps:.0f} frames/s, {load:.1f} % at 125 kbit/s")
    return fps, load


async def test_twelve_idle_uu_modules(rig, spy_bus: can.BusABC) -> None:
    fps, load = await measure(rig, spy_bus, ())
    # per module and second: V+I once, status once, temperature 1/5, each answered: 6.4 frames
    assert 50 < fps < 110
    assert load < 15


async def test_twelve_uu_modules_one_gun_charging(rig, spy_bus: can.BusABC) -> None:
    fps, load = await measure(rig, spy_bus, (1, 2, 3))
    # 9 idle modules (58/s) + 3 active: V+I 5/s (60), status, temperature (7),
    # setpoint refresh 3 sets/s (18), a new voltage 10/s (60); every frame answered
    assert fps < 260
    assert load < 30
