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
second and after every event while the ops server is read). The machine's other load does not count.

    python -m benchmarks.cycle_bench [--count 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from benchmarks.stations import charging_sim_full
from pecc_core.testing import virtual_loop
from pecc_plugins.pepws.codec import Encoder

#: A battery that charges for minutes: every session still runs when measured.


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
    async with charging_sim_full(directory, "pecc-cycle-bench") as runtime:
        station = runtime.station
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
