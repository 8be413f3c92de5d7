"""What the station's own per-cycle work costs: ``sim-full``'s 72 guns with 48 cars charging, in-process.

The station runs on virtual time with its simulated hardware and cars in
the same process (as :mod:`benchmarks.flight_cost`); once every session
charges, the loop is held and each piece of work is called ``--count``
times back to back, its CPU time (``time.process_time``) the median of
``--runs`` runs: one control cycle (:meth:`Station.tick`: every gun's
measurements and fault checks, then the allocation), the fault checks
alone (every gun's :meth:`Gun.update`), the allocation alone, and the
status messages of every gun (:meth:`Encoder.status`), and the ops
server's snapshot of the station (:meth:`Publisher.publish`, five times a
second and after every event). The machine's other load does not count.

    python -m benchmarks.cycle_bench [--count 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from pecc_core.plugins import default_manager
from pecc_core.profile import load as load_profile
from pecc_core.testing import each_service, quick_cabinet, running, sim_overrides, virtual_loop, write_profile
from pecc_plugins.pepws.codec import Encoder
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import from_mapping
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

#: A battery that charges for minutes: every session still runs when measured.
LONG_CAR = {"battery": {"capacity_kwh": 100.0, "start_soc": 20.0, "target_soc": 90.0}}


def cpu_us(work: Callable[[], object], count: int, runs: int) -> float:
    """The median CPU time of one call of ``work`` (us)."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(count):
            work()
        times.append((time.process_time() - start) / count * 1e6)
    return statistics.median(times)


async def measured(directory: Path, count: int, runs: int) -> dict[str, float]:
    overrides = {
        **sim_overrides("pecc-cycle-bench", source="sim-full"), **quick_cabinet("sim-full"),
        **each_service("sim-full", {"slew_v_per_s": 5000.0, "node_capacitance_f": 0.0005}, "modsim"),
        "policy.name": "dynamic", "log_level": "ERROR",
    }
    profile = load_profile(str(write_profile("sim-full", directory, overrides)), default_manager())
    async with running(profile) as runtime:
        station = runtime.station
        cars_n = len(profile.power.modules)
        targets = [profile.url(g, port=runtime.transport.port) for g in profile.guns[:cars_n]]
        await asyncio.sleep(3.0)  # modules discovered
        options = RunOptions(sessions=1, session=SessionOptions(time_scale=1))
        cars = asyncio.create_task(simulate(targets, from_mapping(LONG_CAR), options, RunStats()))
        await asyncio.sleep(15.0)  # every session past its cable check
        guns = list(station.guns.values())
        encoder = Encoder(float_values=True)
        publisher = next(s for s in runtime.services if type(s).__name__ == "ControlService").backend.publisher
        figures = {
            "charging": float(sum(1 for g in guns if g.state.value == "charge")),
            "tick_us": cpu_us(station.tick, count, runs),
            "checks_us": cpu_us(lambda: [g.update() for g in guns], count, runs),
            "allocation_us": cpu_us(station.allocator.allocate, count, runs),
            "statuses_us": cpu_us(lambda: [encoder.status(g.report()) for g in guns], count, runs),
            "snapshot_us": cpu_us(publisher.publish, count, runs),
        }
        cars.cancel()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"PECC_STATE_DIR": f"{tmp}/state"}):
        loop = virtual_loop()
        try:
            figures = loop.run_until_complete(measured(Path(tmp), args.count, args.runs))
        finally:
            loop.close()
    print(f"{figures.pop('charging'):.0f} guns charging; CPU per call, median of {args.runs} runs of {args.count}:")
    for name, value in figures.items():
        print(f"  {name[:-3]}: {value:.0f} us")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
