"""Bus load of the field cabinet: 12 UU modules at the driver's default rates.

Runs the real driver against simulated modules on a virtual bus, records
every frame with a spy bus, and computes the bus time of exactly those
frames (bit stuffing counted frame by frame). The figures go into
docs/can-drivers.md (run with ``-s`` to see them); the asserts only keep
them from drifting far.
"""

from __future__ import annotations

import asyncio

import can
from pecc_plugins.canbus.load import nominal_bits, stuffed_bits, worst_case_bits

from pecc_core.testing import eventually

BITRATE = 125_000
SECONDS = 4.0  # whole seconds: the 1 s refresh and status reads are not over-counted
MODULES = tuple(range(1, 13))
DEFAULTS = {"poll_ms": 250, "status_every": 4, "resend_ms": 1000, "offline_ms": 6000, "setpoint_interval_ms": 200}


async def measure(rig, spy_bus: can.BusABC, ramp: bool) -> tuple[float, float]:
    """Frames per second and bus load (%) with every module exporting."""
    assignment = {a: f"g{1 + (a - 1) // 6}" for a in MODULES}
    async with rig("uugreen", modules=MODULES, assignment=assignment, driver=DEFAULTS) as r:
        driver = r.driver
        await eventually(lambda: all(m.online for m in driver.modules.values()), timeout=5.0)
        driver.export(MODULES[:6], 400.0, 200.0)
        driver.export(MODULES[6:], 400.0, 200.0)
        await asyncio.sleep(1.0)  # past the range reads and the first setpoints
        while spy_bus.recv(0) is not None:
            pass
        loop = asyncio.get_running_loop()
        end, step = loop.time() + SECONDS, 0
        while loop.time() < end:  # a control cycle of 100 ms; ramping: a new current every cycle
            step += 1
            current = 200.0 + step % 50 if ramp else 200.0
            driver.export(MODULES[:6], 400.0, current)
            driver.export(MODULES[6:], 400.0, current)
            await asyncio.sleep(0.1)
        frames = list(iter(lambda: spy_bus.recv(0), None))
    fps = len(frames) / SECONDS
    exact = 100 * sum(stuffed_bits(m.arbitration_id, bytes(m.data)) for m in frames) / SECONDS / BITRATE
    nominal = 100 * sum(nominal_bits(m.dlc) for m in frames) / SECONDS / BITRATE
    worst = 100 * sum(worst_case_bits(m.dlc) for m in frames) / SECONDS / BITRATE
    print(
        f"\n12 UU modules, defaults, {'current changed every 100 ms' if ramp else 'steady setpoints'}: "
        f"{fps:.0f} frames/s; bus load at 125 kbit/s {exact:.1f} % "
        f"(unstuffed {nominal:.1f} %, worst-case stuffing {worst:.1f} %)"
    )
    return fps, exact


async def test_twelve_uu_modules_steady(rig, spy_bus: can.BusABC) -> None:
    fps, load = await measure(rig, spy_bus, ramp=False)
    # analytic: per module 2 reads x 4 polls/s + 2 status reads/s + 3 setpoint
    # frames/s, each answered: 26 frames/s, 312 for 12 modules
    assert 250 < fps < 380
    assert load < 45


async def test_twelve_uu_modules_with_a_changing_current(rig, spy_bus: can.BusABC) -> None:
    fps, load = await measure(rig, spy_bus, ramp=True)
    # the rate limit adds at most 5 updates/s x 2 frames x 12 modules
    assert fps < 312 + 120 + 60
    assert load < 60
