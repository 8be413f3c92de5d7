"""Run the PEP-WS benchmarks: a real ``pecc run`` process, a real load generator.

For each station size (4, 72, 1000 guns):

1. **protocol load** — ``pecc run`` on the size's profile, and the load
   generator (:mod:`benchmarks.loadgen`) sending targetValues at 10 Hz per
   gun; then the same load against the bare echo server
   (:mod:`benchmarks.echo`), the floor. Measured over a window after a
   warm-up: targetValues request -> reply latency (p50/p99/max), status
   period jitter (p99 of |interval - 200 ms|) and the longest status gap,
   messages per second (both directions), the server's CPU % of one core
   (from /proc over the window) and peak RSS (VmHWM), and the load
   generator's own CPU.
2. **charging load** (4 and 72 guns) — ``pecc secc-sim --duration`` running
   real sessions (cable check, precharge, charge at 10 Hz with current on
   the simulated modules) against ``pecc run``: latency while charging.

    python -m benchmarks.run [--sizes 4 72 1000] [--duration 20] [--json out.json]

Prints markdown tables (what RESULTS.md records).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.markdown import md_table
from benchmarks.procstat import CpuWindow, peak_rss_mb
from benchmarks.stations import gun_urls, station
from pecc_plugins.seccsim.ports import free_port, wait_listening

PY = sys.executable


class Server:
    """A server process (PECC or echo) with its CPU window and peak RSS."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(port)
        self.cpu = CpuWindow(self.proc.pid)

    def stop(self) -> float:
        """SIGTERM, wait; returns the peak RSS (MiB) read just before."""
        rss = peak_rss_mb(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return rss


def protocol_load(
    server: Server, urls: list[str], work: Path, name: str, args: argparse.Namespace, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The load generator against ``server`` (then stopped); ``extra``: more loadgen options (TLS)."""
    urls_file = work / f"{name}.urls"
    urls_file.write_text("\n".join(urls))
    report = work / f"{name}.json"
    loadgen = subprocess.Popen(
        [
            PY,
            "-m",
            "benchmarks.loadgen",
            str(urls_file),
            "--rate",
            str(args.rate),
            "--warmup",
            str(args.warmup),
            "--duration",
            str(args.duration),
            "--report",
            str(report),
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert loadgen.stdout is not None
    for line in loadgen.stdout:
        if line.strip() == "MEASURING":
            server.cpu.start()
        elif line.strip() == "DONE":
            server.cpu.stop()
    if loadgen.wait() != 0:
        raise RuntimeError(f"load generator failed for {name}")
    data = json.loads(report.read_text())
    data["server_cpu_percent"] = server.cpu.percent
    data["other_cpu_percent"] = server.cpu.machine_percent - server.cpu.percent - data["loadgen_cpu_percent"]
    data["server_peak_rss_mb"] = server.stop()
    return data


def charging_load(
    pecc: Server, profile: Path, work: Path, name: str, args: argparse.Namespace
) -> dict[str, Any]:
    report = work / f"{name}.json"
    before = _children_cpu()
    pecc.cpu.start()
    subprocess.run(
        [
            PY,
            "-m",
            "pecc_core.cli",
            "secc-sim",
            "--profile",
            str(profile),
            "--duration",
            str(args.duration),
            "--no-live",
            "--report",
            str(report),
        ],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    pecc.cpu.stop()
    data = json.loads(report.read_text())
    data["server_cpu_percent"] = pecc.cpu.percent
    data["loadgen_cpu_percent"] = 100 * (_children_cpu() - before) / data["wall_s"]
    data["other_cpu_percent"] = pecc.cpu.machine_percent - pecc.cpu.percent - data["loadgen_cpu_percent"]
    data["server_peak_rss_mb"] = pecc.stop()
    return data


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_pecc(
    guns: int, work: Path, tag: str, extra: dict[str, Any] | None = None
) -> tuple[Server, Path, int]:
    port = free_port()
    directory = work / tag
    directory.mkdir()
    profile = station(guns, directory, port, f"bench-{tag}-{os.getpid()}", extra)
    server = Server([PY, "-m", "pecc_core.cli", "run", "--profile", str(profile)], port, work / f"{tag}.log")
    time.sleep(1.0)  # module discovery: guns are inoperative for ~0.5 s after start
    return server, profile, port


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 72, 1000])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pecc-bench-") as tmp:
        work = Path(tmp)
        for guns in args.sizes:
            pecc, profile, port = start_pecc(guns, work, f"pecc-{guns}")
            results[f"pecc-{guns}"] = protocol_load(pecc, gun_urls(profile, port), work, f"pecc-{guns}", args)
            port = free_port()
            echo = Server([PY, "-m", "benchmarks.echo", str(port)], port, work / f"echo-{guns}.log")
            urls = [f"ws://127.0.0.1:{port}/g{i}" for i in range(guns)]
            results[f"echo-{guns}"] = protocol_load(echo, urls, work, f"echo-{guns}", args)
            if guns <= 72:
                pecc, profile, _ = start_pecc(guns, work, f"charge-{guns}")
                results[f"charge-{guns}"] = charging_load(pecc, profile, work, f"charge-{guns}", args)
            print(f"{guns} guns done", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(tables(results, args))


def _f(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


NAN_LATENCY = {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
PROTOCOL_HEADER = [
    "guns", "server", "p50 ms", "p99 ms", "max ms", "p50 / floor", "status jitter p99 ms",
    "longest status gap ms", "msg/s", "server CPU %", "server peak RSS MiB", "loadgen CPU %",
    "other processes CPU %", "errors",
]  # fmt: skip
CHARGING_HEADER = [
    "guns", "sessions ok / failed", "targetValues p50 ms", "p99 ms", "max ms", "status jitter p99 ms",
    "longest status gap ms", "PECC CPU %", "PECC peak RSS MiB", "secc-sim CPU %", "other processes CPU %",
    "protocol errors",
]  # fmt: skip


def _common(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(latency p50/p99/max, status jitter/gap) cells of one run."""
    lat = data["latency"].get("targetValues", NAN_LATENCY)
    status = data["status"]
    return (
        [_f(lat["p50_ms"], 2), _f(lat["p99_ms"], 2), _f(lat["max_ms"])],
        [_f(status["jitter_p99_ms"], 2), _f(status["interval_max_ms"])],
    )


def tables(results: dict[str, Any], args: argparse.Namespace) -> str:
    protocol, charging = [], []
    for key, data in results.items():
        kind, guns = key.split("-")
        latency, status = _common(data)
        cpu = [_f(data["server_cpu_percent"]), _f(data["server_peak_rss_mb"])]
        others = [
            _f(data["loadgen_cpu_percent"]),
            _f(data["other_cpu_percent"]),
            str(data["protocol_errors"]),
        ]
        if kind == "charge":
            sessions = f"{data['sessions_ok']} / {data['sessions_failed']}"
            charging.append([guns, sessions, *latency, *status, *cpu, *others])
            continue
        floor = results.get(f"echo-{guns}", {}).get("latency", {}).get("targetValues", NAN_LATENCY)
        ratio = _f(data["latency"].get("targetValues", NAN_LATENCY)["p50_ms"] / floor["p50_ms"], 2)
        rate = f"{(data['messages_sent'] + data['messages_received']) / data['window_s']:.0f}"
        server = "PECC" if kind == "pecc" else "echo floor"
        protocol.append([guns, server, *latency, ratio, *status, rate, *cpu, *others])
    lines = [
        (
            f"Protocol load: targetValues (standby) at {args.rate:g} Hz per gun, {args.duration:g} s window "
            f"after {args.warmup:g} s warm-up."
        ),
        "",
        *md_table(PROTOCOL_HEADER, protocol),
    ]
    if charging:
        lines += [
            "",
            f"Charging load: `pecc secc-sim --duration {args.duration:g}` (real sessions, 10 Hz in charge).",
            "",
            *md_table(CHARGING_HEADER, charging),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
