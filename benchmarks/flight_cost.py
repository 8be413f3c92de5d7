"""What the flight recorder costs the station: 72 guns of ``sim-full`` charging, in-process.

The station (``dynamic`` policy, a car on each of the 48 guns its 48
modules can serve at once, the other 24 guns idle) runs on virtual time,
so the figures are per second of *station* time whatever the machine does
meanwhile. Three measurements (docs/incidents.md records them):

1. cProfile over ``--duration`` station seconds once every session runs:
   how often each tap and the sampler are called, and their CPU time under
   the profiler (an upper bound: it inflates small calls several times);
2. ``timeit`` of one tap call alone (the ring's append and prune and the
   loop's clock, the ring full of a 33 s window): calls per second times
   this is the taps' cost without the profiler;
3. the whole process's CPU per station second over the same window, with
   the recorder and without it (its ``start`` made a no-op), ``--pairs``
   times each, alternating: what the taps cost plus what they cost the
   rest (the garbage collector walking the rings' tuples). The station and
   its 72 simulated cars share the process, so this is noisy.

``--memory`` measures instead what the recorder holds once its window is
full: the memory the process's Python objects take (``tracemalloc``, which
sees an object's whole allocation, not only what ``sys.getsizeof`` says)
at the end of the same run, with the recorder and without it
(deterministic on virtual time), after a short run that imports every
module first.

    python -m benchmarks.flight_cost [--duration 30] [--pairs 2] [--memory]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
import timeit
import tracemalloc
from pathlib import Path
from typing import Any
from unittest import mock

import can

from benchmarks.stations import charging_sim_full
from pecc_core.testing import virtual_loop
from pecc_plugins.ctl.canring import CanRing
from pecc_plugins.ctl.flight import FlightRecorder

MEASURED = ("_bus_frame", "_pepws_frame", "_sample")


async def measured(directory: Path, duration: float, profiling: bool) -> dict[str, Any]:
    async with charging_sim_full(directory, "pecc-flight-bench") as runtime:
        loop = asyncio.get_running_loop()
        charging = sum(1 for g in runtime.station.guns.values() if g.state.value == "charge")
        profiler = cProfile.Profile()
        start, cpu = loop.time(), time.process_time()
        if profiling:
            profiler.enable()
        await asyncio.sleep(duration)
        profiler.disable()
        cpu = time.process_time() - cpu
        elapsed = loop.time() - start
        flight = next(s for s in runtime.services if type(s).__name__ == "ControlService").flight
        figures: dict[str, Any] = {
            "station_s": elapsed, "charging": charging, "cpu_percent": 100 * cpu / elapsed,
            "bus_load_percent": {name: bus.link.load_percent() for name, bus in runtime.station.power.buses.items()},
            "ring_entries": {"can": len(flight.bus), "pepws": len(flight.frames), "timeline": len(flight.timeline)},
            "ring_mb": {"can": sys.getsizeof(flight.bus) / 1e6, "pepws": flight.frames.bytes / 1e6},
        }
        if tracemalloc.is_tracing():
            gc.collect()
            figures["traced_mb"] = tracemalloc.get_traced_memory()[0] / 1e6
    if not profiling:
        return figures
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (file, _, name), (_, calls, _, cumulative, _) in stats.items():
        if file.endswith(os.path.join("ctl", "flight.py")) and name in MEASURED:
            figures[name] = {"calls_per_s": calls / elapsed, "profiled_cpu_percent": 100 * cumulative / elapsed}
    return figures


def one_tap_call() -> float:
    """Seconds of one CAN tap call (a bus's ``_bus_frame``, ``FlightRecorder._bus_tap``) on a ring full of 33 s."""
    loop = asyncio.new_event_loop()
    clock = loop.time
    ring = CanRing(33.0, 400_000)
    msg = can.Message(arbitration_id=0x02204000, data=bytes(8), is_extended_id=True)
    for i in range(100_000):
        ring.add(clock() - 30.0 + i * 0.0003, True, msg.arbitration_id, msg.is_extended_id, msg.data, 0)

    def tap() -> None:
        ring.add(clock(), True, msg.arbitration_id, msg.is_extended_id, msg.data, 0)

    n = 200_000
    cost = (timeit.timeit(tap, number=n) - timeit.timeit(lambda: None, number=n)) / n
    loop.close()
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="station seconds profiled")
    parser.add_argument("--pairs", type=int, default=2, help="runs with and without the recorder, each")
    parser.add_argument("--memory", action="store_true", help="what the recorder holds, its window full")
    args = parser.parse_args()
    if args.memory:
        memory(args.duration)
        return
    figures = run(args.duration, profiling=True)
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.pairs):
        for recording in (True, False):
            cpu[recording].append(run(args.duration, profiling=False, recording=recording)["cpu_percent"])
    call = one_tap_call()
    taps = sum(figures[name]["calls_per_s"] for name in ("_bus_frame", "_pepws_frame") if name in figures)
    loads = figures["bus_load_percent"]
    print(f"{figures['charging']} guns charging, {len(loads)} CAN buses at {min(loads.values()):.0f}-"
          f"{max(loads.values()):.0f} %, rings: {figures['ring_entries']}")
    for name in MEASURED:
        if name in figures:
            f = figures[name]
            print(f"{name}: {f['calls_per_s']:,.0f} calls/s, {f['profiled_cpu_percent']:.2f} % of a core profiled")
    print(f"one tap call: {call * 1e6:.2f} us; the taps without the profiler: {100 * taps * call:.2f} % of a core")
    on, off = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"the process, % of a core per station second: {on:.1f} with the recorder {cpu[True]}, "
          f"{off:.1f} without {cpu[False]}: {on - off:+.1f}")


def memory(duration: float) -> None:
    """Print the memory of the process's objects at the end of a run with the recorder and without it."""
    run(1.0, profiling=False, recording=False)  # the modules a run imports: not in the first traced run's figure
    on, off = (run(duration, profiling=False, recording=recording, tracing=True) for recording in (True, False))
    entries, ring_mb = on["ring_entries"], on["ring_mb"]
    print(f"{on['charging']} guns charging, {on['station_s']:.0f} station s; Python objects at the end: "
          f"{on['traced_mb']:.1f} MB with the recorder, {off['traced_mb']:.1f} without: "
          f"{on['traced_mb'] - off['traced_mb']:+.1f} MB")
    print(f"CAN ring: {entries['can']:,} frames in {ring_mb['can']:.1f} MB; PEP-WS rings: {entries['pepws']:,} "
          f"frames counting {ring_mb['pepws']:.1f} MB; timeline: {entries['timeline']:,} entries")


def run(duration: float, profiling: bool, recording: bool = True, tracing: bool = False) -> dict[str, Any]:
    """One station's run in a new directory and on a new virtual loop (``tracing``: under ``tracemalloc``)."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, {"PECC_STATE_DIR": str(Path(tmp) / "state")}))
        if not recording:
            stack.enter_context(mock.patch.object(FlightRecorder, "start", _no_start))
        if tracing:
            tracemalloc.start()
            stack.callback(tracemalloc.stop)
        loop = virtual_loop()
        try:
            return loop.run_until_complete(measured(Path(tmp), duration, profiling))
        finally:
            loop.close()


async def _no_start(self: FlightRecorder) -> None:
    """No taps, no sampler: its hooks do nothing either (they check that it started)."""


if __name__ == "__main__":
    main()
