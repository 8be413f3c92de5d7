"""Bus load of the field cabinet: 12 UU modules at the driver's default rates.

Runs the real driver against simulated modules on a virtual bus, records
every frame with a spy bus, and computes the bus time of exactly those
frames (bit stuffing counted frame by frame). The figure goes into
docs/can-drivers.md; the asserts only keep it from drifting far.
"""

from __future__ import annotations

import asyncio

import can
from can_rig import eventually

from pecc_plugins.canbus.load import nominal_bits, stuffed_bits, worst_case_bits

BITRATE = 125_000
SECONDS = 3.0
MODULES = tuple(range(1, 13))


async def test_twelve_uu_modules_at_default_polling(rig, spy_bus: can.BusABC) -> None:
    defaults = {"poll_ms": 250, "status_every": 4, "resend_ms": 1000, "offline_ms": 6000}
    assignment = {a: f"g{1 + (a - 1) // 6}" for a in MODULES}
    async with rig("uugreen", modules=MODULES, assignment=assignment, driver=defaults) as r:
        await eventually(lambda: all(m.online for m in r.driver.modules.values()), timeout=5.0)
        r.driver.export(MODULES[:6], 400.0, 300.0)  # every module exporting: the busiest case
        r.driver.export(MODULES[6:], 400.0, 300.0)
        await asyncio.sleep(1.0)  # past the hi/lo read and the first setpoints
        while spy_bus.recv(0) is not None:
            pass
        await asyncio.sleep(SECONDS)
        frames = list(iter(lambda: spy_bus.recv(0), None))
    fps = len(frames) / SECONDS
    exact = sum(stuffed_bits(m.arbitration_id, bytes(m.data)) for m in frames) / SECONDS
    nominal = sum(nominal_bits(m.dlc) for m in frames) / SECONDS
    worst = sum(worst_case_bits(m.dlc) for m in frames) / SECONDS
    print(
        f"\n12 UU modules, defaults: {fps:.0f} frames/s; bus load at 125 kbit/s: "
        f"{100 * exact / BITRATE:.1f} % (stuffing counted; {100 * nominal / BITRATE:.1f} % unstuffed, "
        f"{100 * worst / BITRATE:.1f} % worst case)"
    )
    # analytic: per module 2 reads/poll x 4 polls/s + 2 reads/s, each answered,
    # plus 3 setpoint frames/s answered: 26 frames/s, 312 for 12 modules
    assert 250 < fps < 380
    assert exact < 0.5 * BITRATE
