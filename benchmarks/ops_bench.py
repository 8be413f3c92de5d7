"""What the ops server costs at 72 guns charging: CPU with and without it, SQLite write rate.

Runs ``pecc run`` on ``sim-full`` (72 guns) twice, with ``pecc secc-sim``
charging every gun (targetValues at 10 Hz): once without the ``ctl``
service, once with it and a Prometheus-like scrape of ``/metrics`` every
``--scrape-s`` seconds (``--time-scale 600`` makes the sessions end and
start again every few seconds: the history's worst case). Over the same window after a warm-up it reports
the PECC's CPU % of one core, the difference per status cycle, the scrape
time, and the rows the history writer stored per second.

    python -m benchmarks.ops_bench [--warmup 10] [--window 20] [--scrape-s 1]

``--overload``: the ops server abused while the guns charge, on
``sim-full-split`` (the simulated hardware in its own process, ``pecc
sim-hw``): ``--guns`` SECCs charging (:mod:`benchmarks.opsload`), and
from another process ``--scrapers`` clients scraping ``/metrics`` back to
back, ``--readers`` reading ``/api/events?limit=10000`` back to back (the
history seeded with 20 000 events first) and ``--streams`` dashboard
streams that never read. Over the window it reports each gun's longest
status gap and statuses received, the guns that lost their power stage
and the contactors opened under load (from the PECC's log), the PECC's
RSS before and at its peak, and what the clients got.

    python -m benchmarks.ops_bench --overload [--guns 68] [--scrapers 16] [--readers 8] [--streams 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
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

from benchmarks.canfloor import can_counters
from benchmarks.markdown import md_table
from benchmarks.procstat import CpuWindow, rss_mb
from benchmarks.stations import station
from pecc_core.testing import ctrl_c_reaches_it, each_service
from pecc_plugins.ctl.history import History, Retention
from pecc_plugins.seccsim.ports import free_port, wait_listening
from pecc_plugins.simhw.processes import SplitStation

PY = sys.executable
STATUS_CYCLE_S = 0.2  # sim-full: timings.status_interval_ms defaults to 200


def run(ops: bool, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    port, ctl_port = free_port(), free_port()
    name = "with" if ops else "without"
    directory = work / name
    directory.mkdir()
    extra = each_service("sim-full", {"port": ctl_port, "state_dir": str(directory)}, "ctl")
    profile = station(72, directory, port, f"pecc-ops-bench-{name}", extra)
    if not ops:
        data = tomllib.loads(profile.read_text())
        without = [s for s in data["services"] if s["name"] != "ctl"]
        profile = station(72, directory, port, f"pecc-ops-bench-{name}", {"services": without})
    log = (directory / "pecc.log").open("w")
    pecc = subprocess.Popen([PY, "-m", "pecc_core.cli", "run", "--profile", str(profile)], stdout=log,
                            stderr=subprocess.STDOUT)
    wait_listening(port)
    load = subprocess.Popen(
        [PY, "-m", "pecc_core.cli", "secc-sim", "--profile", str(profile), "--no-live",
         "--sessions", "1000", "--time-scale", str(args.time_scale), "--duration", str(args.warmup + args.window + 10)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=ctrl_c_reaches_it,  # noqa: PLW1509 (no lock taken)
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


async def seed_history(path: Path, count: int = 20_000) -> None:
    """``count`` state events in the history at ``path``, so that ``limit=10000`` reads return 10 000."""
    history = History(path, Retention(max_rows=10 * count, max_age_s=86_400))
    await history.open()
    data = {"from": "charge", "to": "postCharge", "reason": "targetValues postCharge"}
    for n in range(count):
        history.event(f"{n % 6 + 1}-{n % 12 + 1}", "state", data)
    await history.close()


def overload(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One run of the overload (see the module doc); the figures."""
    # the serving line (the port) and the control API's URL are logged at INFO
    levels = {"pecc_core.runtime": "INFO", "pecc_plugins.ctl": "INFO"}
    split = SplitStation(work, "sim-full-split", {"log_levels": levels})
    asyncio.run(seed_history(work / "state" / "history.sqlite3"))
    try:
        split.start_hw()
        split.start_pecc()
        assert split.pecc is not None
        pid = split.pecc.pid
        data = tomllib.loads(split.profile.read_text())
        urls = [f"ws://127.0.0.1:{split.port}{g['path']}" for s in data["seccs"] for g in s["guns"]][: args.guns]
        secc_out, http_out, ready = work / "secc.json", work / "http.json", work / "secc.ready"
        seccs = subprocess.Popen([PY, "-m", "benchmarks.opsload", "secc", *urls, "--warmup", str(args.warmup),
                                  "--window", str(args.window), "--ready", str(ready), "--out", str(secc_out)])
        while not ready.exists():  # every gun charging, or the warm-up over
            if seccs.poll() is not None:
                raise RuntimeError(f"the SECC load process ended early ({seccs.returncode})")
            time.sleep(0.1)
        rss_before = rss_mb(pid)
        assert split.hw is not None
        cpu, hw_cpu, secc_cpu = CpuWindow(pid), CpuWindow(split.hw.pid), CpuWindow(seccs.pid)
        for window in (cpu, hw_cpu, secc_cpu):
            window.start()
        http = subprocess.Popen([PY, "-m", "benchmarks.opsload", "http", split.api.removesuffix("/api"),
                                 "--window", str(args.window), "--scrapers", str(args.scrapers),
                                 "--readers", str(args.readers), "--streams", str(args.streams),
                                 "--out", str(http_out)])
        rss = [rss_before]
        while http.poll() is None:
            time.sleep(0.5)
            rss.append(rss_mb(pid))
        for window in (cpu, hw_cpu, secc_cpu):
            window.stop()
        can = can_counters(split.api.removesuffix("/api"))
        seccs.wait(120)
        rss_after = rss_mb(pid)
    finally:
        split.close()
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log_file in (split.pecc_log, split.hw_log):
                shutil.copy(log_file, args.logs / f"{work.name}-{log_file.name}")
    secc, load = json.loads(secc_out.read_text()), json.loads(http_out.read_text())
    log = split.pecc_log.read_text(errors="replace").splitlines()
    gaps = sorted(secc["max_gap_ms"].values())
    expected = args.window / STATUS_CYCLE_S
    return {
        "guns": args.guns, "scrapers": args.scrapers, "readers": args.readers, "streams": args.streams,
        "guns_gap_over_400": sum(1 for g in gaps if g > 400), "gap_min_ms": gaps[0], "gap_max_ms": gaps[-1],
        "statuses_share": sum(secc["statuses"].values()) / (expected * len(gaps)),
        "power_stage_lost_guns": len({line.split("gun ")[1].split(":")[0] for line in log
                                      if "power stage lost" in line}),
        "opened_under_load": sum("opening under load" in line for line in log),
        "tracebacks": sum(line.startswith("Traceback") for line in log),
        "errors": sum(" ERROR " in line for line in log),
        "rss_before": rss_before, "rss_peak": max(rss), "rss_mid": rss[len(rss) // 2], "rss_end": rss[-1],
        "rss_after": rss_after, "cpu": cpu.percent,
        "hw_cpu": hw_cpu.percent, "secc_cpu": secc_cpu.percent, "machine": cpu.machine_percent,
        "can": can, "secc": secc, "http": load,
    }


def overload_table(results: list[dict[str, Any]]) -> list[str]:
    rows = [[(f"{r['guns']} guns ({r['secc']['charging_at_window_start']} charging), "
              f"{r['scrapers']} / {r['readers']} / {r['streams']}"),
             f"{r['guns_gap_over_400']}", f"{r['gap_min_ms']:.0f}-{r['gap_max_ms']:.0f}",
             f"{100 * r['statuses_share']:.0f} %", f"{r['power_stage_lost_guns']}", f"{r['opened_under_load']}",
             f"{r['rss_before']:.0f} / {r['rss_mid']:.0f} / {r['rss_end']:.0f} / {r['rss_peak']:.0f}",
             f"{r['tracebacks']}", f"{r['cpu']:.0f}",
             f"{r['machine']:.0f}",
             " ".join(f"{k}:{v}" for k, v in sorted(r["http"]["scrapes"].items())),
             " ".join(f"{k}:{v}" for k, v in sorted(r["http"]["event_reads"].items())),
             " ".join(f"{k}:{v}" for k, v in sorted(r["http"]["streams_answered"].items())) + " / "
             + " ".join(f"{k}:{v}" for k, v in sorted(r["http"]["streams_at_end"].items()))]
            for r in results]
    return md_table(["load (guns, scrapers / readers / streams)", "guns with a gap > 400 ms",
                     "longest gap per gun, ms", "statuses received", "guns losing the power stage",
                     "contactors opened under load", "PECC RSS MiB (before / mid-window / end / peak)", "tracebacks",
                     "PECC CPU %", "machine CPU %", "/metrics answers", "/api/events answers",
                     "streams answered / at the end"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=10.0,
                        help="seconds before the window (--overload: at most; it starts once every gun charges)")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--scrape-s", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=1, help="alternate without/with this many times (medians)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="secc-sim battery time scale: 1 keeps every gun charging, 600 cycles sessions fast")
    parser.add_argument("--overload", action="store_true", help="the ops server abused while the guns charge")
    parser.add_argument("--guns", type=int, default=68)
    parser.add_argument("--scrapers", type=int, default=16)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--json", type=Path, help="--overload: also write the figures here")
    parser.add_argument("--logs", type=Path, help="--overload: keep the PECC's and the hardware's logs here")
    args = parser.parse_args()
    if args.overload:
        with tempfile.TemporaryDirectory() as tmp:
            results = [overload(args, Path(tmp) / f"{n}")
                       for n in range(args.rounds) if not (Path(tmp) / f"{n}").mkdir()]
        print("\n".join(overload_table(results)))
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=1))
        return
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
