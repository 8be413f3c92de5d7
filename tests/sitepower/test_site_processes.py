"""Acceptance: a site of three ``pecc run`` cabinets, a coordinator and Mosquitto under SECC load.

Twelve simulated cars want far more than the grid cap. Throughout, the
site total (every gun's measured power, from the cabinets' control APIs)
stays under the cap in force; a cap change, a killed coordinator, a killed
broker and a killed cabinet each leave it under the cap, and everything
comes back. The times it takes are printed (figures, not assertions:
``-s`` shows them).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pecc_core.asyncutil import cancel
from pecc_core.testing import heavy
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import from_mapping
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

from .broker import Mosquitto
from .site_rig import Cabinet, Site

CAP = 150_000.0
LOWER_CAP = 90_000.0
SAFE = 15_000.0  # per cabinet: 45 kW of fallback in all
#: How far the measured site total may read over the cap (W): 1 %. It is the sum of every
#: gun's last module readings, each up to a poll period old (voltage and current in polls
#: of their own), taken from three processes; while the cars ramp at the quick cabinet's
#: 250 A/s and the shares move, one cabinet's reading can still show the power it has
#: just given up while another's shows what it took. Seen: +1.3 kW once, in the first
#: second of the ramp, on a machine running five other system tests; steady, +3 to 8 W.
NOISE = 0.01 * CAP


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``predicate`` holds (polled every 50 ms); fails after ``timeout``."""
    start = time.monotonic()
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() - start < timeout, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def shares_are(site: Site, value: Callable[[float | None], bool]) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return all(value(cabinet.share()) for cabinet in site.cabinets)
        except OSError:
            return False
    return check


@pytest.mark.system("coordinator, cabinets and Mosquitto as separate processes")
@heavy
async def test_a_site_stays_under_its_cap_through_every_failure(tmp_path: Path, can_channel: str) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()
    site = Site(tmp_path, broker, CAP, SAFE)
    site.write(["north", "east", "south"], can_channel)
    figures: dict[str, float] = {}
    try:
        await site.up()
        sampler = asyncio.create_task(site.sample())
        car = from_mapping({"battery": {"capacity_kwh": 77.0, "start_soc": 10.0, "target_soc": 90.0}})
        def charge(cabinet: Cabinet) -> asyncio.Task[None]:
            """Cars on every gun of ``cabinet``, one after the other, until cancelled."""
            return asyncio.create_task(simulate(cabinet.urls, car, RunOptions(
                sessions=50, session=SessionOptions(time_scale=5), reconnect_interval=0.5), RunStats()))

        loads = [charge(cabinet) for cabinet in site.cabinets]

        # 1. Shared: the cars draw what the site allows, more than the fallback would give.
        await until(lambda: site.total() > 3 * SAFE + 20_000, 60, "the cars to draw more than the safe shares")
        steady = time.monotonic()
        await asyncio.sleep(2)  # 20 samples of the site total at the cap
        assert max(site.since(steady), default=0.0) <= CAP + NOISE
        status = await asyncio.to_thread(site.status)
        assert status["coordinator"]["online"] and status["coordinator"]["max_power_w"] == CAP
        assert all(row["online"] and row["share_w"] > SAFE for row in status["cabinets"].values())
        assert sum(row["share_w"] for row in status["cabinets"].values()) <= CAP

        # 2. The cap lowered: every cabinet lowers, the site follows.
        site.set_cap(LOWER_CAP)  # returns once the broker has the command
        changed = time.monotonic()
        figures["cap change: the cabinets' caps sum under the new cap (s)"] = await until(
            lambda: sum(c.share() or 0 for c in site.cabinets) <= LOWER_CAP, 30, "the cabinets' caps")
        figures["cap change: measured total under the new cap (s)"] = time.monotonic() - changed + await until(
            lambda: site.total() <= LOWER_CAP + NOISE, 30, "the total under the lower cap")
        settled = time.monotonic()
        await asyncio.sleep(1.5)
        assert max(site.since(settled), default=0.0) <= LOWER_CAP + NOISE
        site.set_cap(CAP)
        await until(lambda: site.total() > LOWER_CAP + 10_000, 60, "the cars to use the higher cap again")

        # 3. The coordinator killed: every cabinet falls back to its safe share, then recovers.
        killed = time.monotonic()
        site.coordinator.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        figures["coordinator killed: every cabinet at its safe share (s)"] = await until(
            shares_are(site, lambda cap: cap == SAFE), 30, "the safe shares")
        assert max(site.since(killed), default=0.0) <= CAP + NOISE
        await until(lambda: site.total() <= 3 * SAFE + NOISE, 30, "the total at the safe shares")
        site.start_coordinator()
        figures["coordinator back: shares above the safe ones (s)"] = await until(
            shares_are(site, lambda cap: cap is not None and cap > SAFE), 60, "shares again")

        # 4. The broker killed: the cabinets fall back at once; back when it is.
        killed = time.monotonic()
        broker.kill()
        figures["broker killed: every cabinet at its safe share (s)"] = await until(
            shares_are(site, lambda cap: cap == SAFE), 30, "the safe shares")
        assert max(site.since(killed), default=0.0) <= CAP + NOISE
        broker.start()
        figures["broker back: shares above the safe ones (s)"] = await until(
            shares_are(site, lambda cap: cap is not None and cap > SAFE), 60, "shares again")

        # 5. A cabinet killed: the others stay under the cap and get its part once its grants lapsed.
        gone = site.cabinets[0]
        killed = time.monotonic()
        gone.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        await cancel(loads[0])
        rest = site.cabinets[1:]
        figures["cabinet killed: the others share its part (s)"] = await until(
            lambda: sum(c.share() or 0 for c in rest) > CAP - SAFE - 20_000 - 1, 60, "the others to get more")
        assert max(site.since(killed), default=0.0) <= CAP + NOISE
        gone.start()
        await asyncio.to_thread(gone.ready)
        loads[0] = charge(gone)
        figures["cabinet back: a share above its safe one (s)"] = await until(
            lambda: (gone.share() or 0) > SAFE, 60, "the restarted cabinet's share")
        await asyncio.sleep(1.5)

        assert len(site.samples) > 100  # the oracle saw the run, not a few moments of it
        assert max(total for _, total in site.samples) <= CAP + NOISE
        sampler.cancel()
        for load in loads:
            await cancel(load)
    finally:
        site.stop()
    print()
    for what, seconds in figures.items():
        print(f"  {what}: {seconds:.2f}")
    print(f"  site total: max {max(t for _, t in site.samples) / 1000:.1f} kW over {len(site.samples)} samples"
          f" ({site.skewed} more not taken: the reads spread over more than 0.1 s)")
