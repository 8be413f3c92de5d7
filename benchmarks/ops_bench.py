"""What the ops server costs at 72 guns charging: CPU with and without it, SQLite write rate.

Runs ``pecc run`` on ``sim-full`` (72 guns) twice, with ``pecc secc-sim``
charging every gun (targetValues at 10 Hz): once without the ``ctl``
service, once with it and a Prometheus-like scrape of ``/metrics`` every
``--scrape-s`` seconds (``--time-scale 600`` makes the sessions end and
start again every few seconds: the history's worst case). Over the same window after a warm-up it reports
the PECC's CPU % of one core, the difference per status cycle, the scrape
time, and the rows the history writer stored per second.

    python -m benchmarks.ops_bench [--warmup 10] [--window 20] [--scrape-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.markdown import md_table
from benchmarks.procstat import CpuWindow
from benchmarks.stations import station
from pecc_plugins.ctl.history import History, Retention
from pecc_plugins.seccsim.ports import free_port, wait_listening

PY = sys.executable
STATUS_CYCLE_S = 0.2  # sim-full: timings.status_interval_ms defaults to 200


def run(ops: bool, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    port, ctl_port = free_port(), free_port()
    name = "with" if ops else "without"
    directory = work / name
    directory.mkdir()
    extra: dict[str, Any] = {"services.1.params.port": ctl_port, "services.1.params.state_dir": str(directory)}
    profile = station(72, directory, port, f"pecc-ops-bench-{name}", extra)
    if not ops:
        data = tomllib.loads(profile.read_text())
        profile = station(72, directory, port, f"pecc-ops-bench-{name}", {"services": data["services"][:1]})
    log = (directory / "pecc.log").open("w")
    pecc = subprocess.Popen([PY, "-m", "pecc_core.cli", "run", "--profile", str(profile)], stdout=log,
                            stderr=subprocess.STDOUT)
    wait_listening(port)
    load = subprocess.Popen(
        [PY, "-m", "pecc_core.cli", "secc-sim", "--profile", str(profile), "--no-live",
         "--sessions", "1000", "--time-scale", str(args.time_scale), "--duration", str(args.warmup + args.window + 10)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(args.warmup)
    database = directory / "history.sqlite3"
    rows_before = _rows(database) if ops else 0
    cpu = CpuWindow(pecc.pid)
    cpu.start()
    scrapes: list[float] = []
    end = time.monotonic() + args.window
    while time.monotonic() < end:
        if ops:
            started = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{ctl_port}/metrics", timeout=10) as answer:
                answer.read()
            scrapes.append(time.perf_counter() - started)
        time.sleep(args.scrape_s)
    cpu.stop()
    rows = (_rows(database) - rows_before) if ops else 0
    load.send_signal(signal.SIGINT)
    load.wait(60)
    pecc.send_signal(signal.SIGTERM)
    pecc.wait(60)
    log.close()
    return {
        "variant": f"{name} ops server", "cpu": cpu.percent, "machine": cpu.machine_percent,
        "rows_per_s": rows / args.window, "scrape_ms": 1000 * sum(scrapes) / len(scrapes) if scrapes else 0.0,
    }


async def store_capacity(directory: Path, count: int = 15_000) -> tuple[float, float]:
    """Loop-side cost of one event (µs) and the writer's rows per second, for ``count`` state events."""
    history = History(directory / "capacity.sqlite3", Retention(max_rows=10 * count, max_age_s=86_400))
    await history.open()
    data = {"from": "charge", "to": "postCharge", "reason": "targetValues postCharge"}
    started = time.perf_counter()
    for n in range(count):
        history.event(f"{n % 6 + 1}-{n % 12 + 1}", "state", data)
    queued = time.perf_counter() - started
    await history.close()
    written = time.perf_counter() - started
    assert history.dropped == 0, history.dropped
    return 1e6 * queued / count, history.written / written


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: (statistics.median(r[key] for r in runs) if key != "variant" else runs[0][key]) for key in runs[0]}


def _rows(database: Path) -> int:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM sessions)")
                   .fetchone()[0])
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--scrape-s", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=1, help="alternate without/with this many times (medians)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="secc-sim battery time scale: 1 keeps every gun charging, 600 cycles sessions fast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rounds = [[run(False, Path(tmp) / f"{n}", args), run(True, Path(tmp) / f"{n}", args)]
                  for n in range(args.rounds) if not (Path(tmp) / f"{n}").mkdir()]
        results = [_median([r[i] for r in rounds]) for i in (0, 1)]
        per_event_us, rows_per_s = asyncio.run(store_capacity(Path(tmp)))
    delta = results[1]["cpu"] - results[0]["cpu"]
    rows = [[r["variant"], f"{r['cpu']:.1f}", f"{r['machine']:.1f}", f"{r['rows_per_s']:.1f}",
             f"{r['scrape_ms']:.1f}"] for r in results]
    print("\n".join(md_table(["72 guns charging", "PECC CPU % (one core)", "machine CPU %", "history rows/s",
                               "/metrics scrape ms"], rows)))
    print(f"\nops server: {delta:+.1f} % of one core = {delta / 100 * STATUS_CYCLE_S * 1000:.2f} ms CPU "
          f"per {STATUS_CYCLE_S * 1000:.0f} ms status cycle of the 72 guns")
    print(f"history store: {per_event_us:.1f} µs on the loop per event; the writer stores {rows_per_s:,.0f} rows/s "
          f"(15 000 state events queued at once, batched)")


if __name__ == "__main__":
    main()
