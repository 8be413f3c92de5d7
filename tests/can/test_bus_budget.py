"""The bus budget's estimate against the load the driver measures, every module exporting.

The real driver and simulated modules share a timed virtual bus at
125 kbit/s; every module exports. Charging, its voltage and current are
held (the driver refreshes them); ramping, as in the busiest case the
budget assumes, it is sent a new voltage and a new current every control
cycle (100 ms): steps above the drivers' default deadband (a ramp's, not
a battery's creep, which the deadband holds). The modules have their protocol's own watchdog, as the
drivers' default periods expect (the rig's short one would switch them
off between two reads). The load the driver measures (its link's
one-second windows: what ``pecc_can_bus_load_ratio`` reads) is sampled
each second of a steady span of :data:`SECONDS`. The estimate must never
read below a sample (an estimate that under-reads is unsafe), and not
more than :data:`TOLERANCE` above the mean load of the span: the samples
are contiguous windows, so their mean is the load over the span, a whole
number of the slowest read's period (the temperature, 5 s), which a
single one-second window catches or misses.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import pytest

from pecc_core.plugins import default_manager
from pecc_core.profile import load
from pecc_core.testing import eventually, write_profile
from pecc_plugins.canbus.budget import estimate

BITRATE = 125_000
CYCLE_S = 0.1
SECONDS = 20  # four periods of the temperature reads
#: How far the estimate may read above the measured mean (a share of it), by case. Both: 8-byte
#: frames are counted at 160 bits (the most stuffing), the link counts 145 (half of it): 10 %.
#: Charging besides: the estimate refreshes each exporting module every ``resend_ms``, the
#: driver stretches module i of n to (1 + 0.5 i/n) times that so that modules started together
#: drift apart: 6 modules refresh 16 % less often (many modules: at most 19 %), and refreshes
#: are 29 % of an Infy module's charging frames (21 % of a UU one's): 1.10 x 1.05 = 1.16 for
#: Infy, 1.14 for UU (measured: 1.16, 1.15); the rest, refreshes the span catches or misses.
TOLERANCE = {"charging": 0.18, "ramping": 0.12}
#: Each driver's default polling budget (the rig's are short for other tests).
DEFAULTS = {
    "uugreen": {"poll_ms": 200, "idle_poll_ms": 1000, "status_ms": 1000, "temperature_ms": 5000,
                "resend_ms": 1000, "offline_ms": 6000, "mode_switch_ms": 50},
    "infy": {"poll_ms": 500, "idle_poll_ms": 1000, "status_ms": 1000, "temperature_ms": 5000,
             "resend_ms": 1000, "offline_ms": 15000},
}
#: The modules' own watchdog (None: the protocol's), as the drivers' default periods assume.
SIM = {"watchdog_ms": None}


async def measured_load(rig, protocol: str, modules: tuple[int, ...], ramping: bool) -> tuple[list[float], float]:
    """The driver's one-second load samples (%) with ``modules`` exporting, and the budget's estimate (%)."""
    assignment = dict.fromkeys(modules, "g1")
    async with rig(protocol, modules=modules, assignment=assignment, driver=DEFAULTS[protocol], sim=SIM) as r:
        driver, link = r.driver, r.driver.link
        await eventually(lambda: all(m.online for m in driver.modules.values()), timeout=5.0)
        step = 0

        async def cycles(seconds: float) -> None:
            """The gun's drive every control cycle; ramping, a new voltage and total current each time.

            Steps of 2 V and 1.5 A a module: above any deadband the drivers' defaults hold.
            """
            nonlocal step
            for _ in range(round(seconds / CYCLE_S)):
                step += ramping
                current = (20.0 + step % 10 * 1.5) * len(modules)
                driver.export(modules, 400.0 + step % 20 * 2.0, current, voltage_max=450.0)
                await asyncio.sleep(CYCLE_S)

        await cycles(4.0)  # ranges, ratings and the first setpoints are past
        link.load_percent()  # a window starts here
        samples = []
        for _ in range(SECONDS):
            await cycles(1.0)
            samples.append(link.load_percent())
            assert all(r.sim.modules[a].output.on for a in modules)  # a steady export, no restart
        frames = type(driver).poll_frames(driver.settings)
        assert frames is not None
        found = estimate(frames, driver.timing, BITRATE, len(modules), len(modules), CYCLE_S if ramping else None)
    mean = statistics.fmean(samples)
    print(f"\n{len(modules)} {protocol} modules exporting, {'ramping' if ramping else 'charging'}: estimate "
          f"{found.percent:.1f} %, measured {min(samples):.1f}-{max(samples):.1f} % a second, {mean:.1f} % "
          f"over {SECONDS} s at 125 kbit/s (estimate / measured {found.percent / mean:.2f})")
    return samples, found.percent


@pytest.mark.parametrize("ramping", [False, True], ids=["charging", "ramping"])
@pytest.mark.parametrize("protocol", ["uugreen", "infy"])
async def test_the_estimate_bounds_the_measured_load_closely(rig, protocol: str, ramping: bool) -> None:
    samples, estimated = await measured_load(rig, protocol, (1, 2, 3, 4, 5, 6), ramping)
    tolerance = TOLERANCE["ramping" if ramping else "charging"]
    assert max(samples) <= estimated <= statistics.fmean(samples) * (1 + tolerance)
    assert min(samples) > 0.8 * max(samples)  # a steady span: every second alike


def test_only_the_modules_the_guns_can_take_count_as_exporting(tmp_path: Path) -> None:
    """sim's 4 guns, 2 modules each at most: 8 of 13 UU modules export, 5 idle (6.4 frames/s each).

    Exporting, a module takes 28.4 frames/s charging (Vout and Iout every 200 ms, its 3 setpoint frames
    refreshed every second, the status every second, the temperature every 5 s, all answered) and
    62.4 with its voltage and current changed every 100 ms cycle: 259 and 531 frames/s at up to 160 bits.
    """
    modules = [{"address": a} for a in range(1, 14)]
    path = write_profile("sim", tmp_path, {"power.modules": modules, "power.max_modules_per_gun": 2})
    warnings: list[str] = []
    load(str(path), default_manager(), warnings=warnings)
    [warning] = warnings
    assert warning.startswith(
        "power: bus pecc-sim at 125 kbit/s with 8 of 13 modules exporting: estimated 33 % charging (259 frames/s), "
        "68 % with every gun ramping (531 frames/s); above 30 %"
    )
