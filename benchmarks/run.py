"""Run the PEP-WS benchmarks: a real ``pecc run`` process, a real load generator.

For each station size (4, 72, 1000 guns):

1. **protocol load** — ``pecc run`` on the size's profile, and the load
   generators (:mod:`benchmarks.loadgen`, one process per
   :data:`GUNS_PER_LOADGEN` guns, their windows together) sending
   targetValues at 10 Hz per gun; then the same load against the bare echo server
   (:mod:`benchmarks.echo`), the floor. Measured over a window after a
   warm-up: targetValues request -> reply latency (p50/p99/max), status
   period jitter (p99 of |interval - 200 ms|) and the longest status gap,
   messages per second (both directions), the server's CPU % of one core
   (from /proc over the window) and peak RSS (VmHWM), and the load
   generator's own CPU.
2. **charging load** (4 and 72 guns) — ``pecc secc-sim --duration`` running
   real sessions (cable check, precharge, charge at 10 Hz with current on
   the simulated modules) against ``pecc run`` on the split station (the
   simulated hardware in a ``pecc sim-hw`` process of its own): latency
   while charging, and its ratio to the echo floor of the same round.

Every run's CPU is also given as a ratio to the echo floor's of the same
round (``CPU / floor``): the PECC's own work against the bare minimum of
serving the same connections. The charging load's is the one to judge the
PECC by (its hardware apart); the protocol load's PECC runs ``sim`` /
``sim-full`` with the simulated modules in its own process.
3. **hostile frames** (72 guns) — the load generator on guns 25-72 while
   :mod:`benchmarks.attack` sends in-spec 64 KiB frames built to be
   expensive on guns 1-24, as fast as the PECC takes them: the bystanders'
   longest status gap and reply latency, and how much the PECC's memory
   grows (peak RSS during the attack minus RSS at its start). The attack
   starts once the flight recorder's window is full of the bystanders'
   traffic (a warm-up of :data:`RECORDER_FILL_S` more): what the window
   takes is reported apart (RSS at the attack's start minus RSS at the
   warm-up's), not counted as the attack's.

The machine is shared, so every figure is noisy: ``--repeat N`` runs the
whole sequence N times (PECC and floor alternating within each round, ratios
taken within a round) and reports the median of each figure.

    python -m benchmarks.run [--sizes 4 72 1000] [--duration 20] [--repeat 3] [--json out.json] [--hostile-only]

Prints markdown tables (what RESULTS.md records) and the goals of issue 15.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from benchmarks import canfloor
from benchmarks.markdown import md_table
from benchmarks.procstat import CpuWindow, peak_rss_mb, reset_peak_rss, rss_mb
from benchmarks.stations import gun_urls, station
from pecc_plugins.seccsim.ports import free_port, wait_listening
from pecc_plugins.seccsim.stats import RunStats
from pecc_plugins.simhw.processes import SplitStation

PY = sys.executable


class Server:
    """A server process (PECC or echo) with its CPU window and peak RSS."""

    def __init__(self, proc: subprocess.Popen[bytes], log: IO[bytes] | None = None) -> None:
        self.proc = proc
        self.log = log
        self.cpu = CpuWindow(proc.pid)

    @classmethod
    def spawn(cls, args: list[str], port: int, log: Path) -> Server:
        """Start ``args`` logging to ``log`` and wait until it listens on ``port``."""
        out = log.open("wb")
        server = cls(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT), out)
        wait_listening(port)
        return server

    def stop(self) -> float:
        """SIGTERM, wait; returns the peak RSS (MiB) read just before."""
        rss = peak_rss_mb(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.log is not None:
            self.log.close()
        return rss


ATTACKERS = 24
#: The hostile run's warm-up beyond ``--warmup`` (s): the ``ctl`` service's flight recorder keeps
#: 33 s (``flight_window_s`` + ``incident_after_s``), and fills its window with the bystanders'
#: traffic meanwhile; the attack's growth is measured from there.
RECORDER_FILL_S = 35.0
#: Guns per load generator process: a station's guns are shared out over as many as this makes,
#: so that no generator is the bottleneck of a large station (it reports its own CPU).
GUNS_PER_LOADGEN = 250


def protocol_load(
    server: Server,
    urls: list[str],
    work: Path,
    name: str,
    args: argparse.Namespace,
    extra: tuple[str, ...] = (),
    attack: Sequence[str] = (),
    warmup: float | None = None,
) -> dict[str, Any]:
    """The load generators on ``urls`` against ``server`` (then stopped); ``extra``: more loadgen
    options (TLS); with ``attack``, the attacker on those URLs meanwhile; ``warmup``: other than
    ``args.warmup``.

    Up to :data:`GUNS_PER_LOADGEN` guns a process; started together (each
    waits for the others' connections before its warm-up), so their
    measuring windows coincide, and their raw figures are taken together.
    """
    shares = [urls[i : i + GUNS_PER_LOADGEN] for i in range(0, len(urls), GUNS_PER_LOADGEN)]
    reports = [work / f"{name}-{i}.json" for i in range(len(shares))]
    loadgens = []
    for i, (share, report) in enumerate(zip(shares, reports, strict=True)):
        urls_file = work / f"{name}-{i}.urls"
        urls_file.write_text("\n".join(share))
        command = [
            PY, "-m", "benchmarks.loadgen", str(urls_file), "--rate", str(args.rate),
            "--warmup", str(args.warmup if warmup is None else warmup),
            "--duration", str(args.duration), "--report", str(report), "--together", "--raw", *extra,
        ]  # fmt: skip
        loadgens.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    _each_says(loadgens, "READY")
    rss_warmup = rss_mb(server.proc.pid)
    for loadgen in loadgens:
        assert loadgen.stdin is not None
        loadgen.stdin.write("go\n")
        loadgen.stdin.flush()
    _each_says(loadgens, "MEASURING")
    server.cpu.start()
    attacker: subprocess.Popen[str] | None = None
    rss_before = float("nan")
    if attack:
        rss_before = rss_mb(server.proc.pid)
        reset_peak_rss(server.proc.pid)  # the peak during the attack, not one before it
        attack_file = work / f"{name}.attack"
        attack_file.write_text("\n".join(attack))
        attacker = subprocess.Popen(
            [PY, "-m", "benchmarks.attack", str(attack_file), "--duration", str(args.duration)],
            stdout=subprocess.PIPE,
            text=True,
        )
    _each_says(loadgens, "DONE")
    server.cpu.stop()
    if any(loadgen.wait() != 0 for loadgen in loadgens):
        raise RuntimeError(f"a load generator failed for {name}")
    data = merged([json.loads(report.read_text()) for report in reports])
    if attacker is not None:
        out, _ = attacker.communicate()
        data["attack"] = json.loads(out)
        data["rss_growth_mb"] = peak_rss_mb(server.proc.pid) - rss_before
        data["rss_warmup_growth_mb"] = rss_before - rss_warmup
    data["server_cpu_percent"] = server.cpu.percent
    data["other_cpu_percent"] = server.cpu.machine_percent - server.cpu.percent - data["loadgen_cpu_percent"]
    data["server_peak_rss_mb"] = server.stop()
    return data


def _each_says(processes: Sequence[subprocess.Popen[str]], word: str) -> None:
    """Read each process's output up to the line ``word`` (RuntimeError if one ends first)."""
    for process in processes:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == word:
                break
        else:
            raise RuntimeError(f"a load generator ended before {word}")


def merged(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report of several load generators' ``--raw`` reports: percentiles over all their figures."""
    stats = RunStats()
    for report in reports:
        for kind, values in report["raw"]["latency"].items():
            stats.latency[kind].extend(values)
        stats.status_intervals.extend(report["raw"]["status_intervals"])
        stats.sent += report["messages_sent"]
        stats.received += report["messages_received"]
        stats.error_count += report["protocol_errors"]
        stats.errors.extend(report["errors"])
    return {
        **stats.report(),
        "guns": sum(r["guns"] for r in reports),
        "window_s": max(r["window_s"] for r in reports),
        "loadgen_cpu_percent": sum(r["loadgen_cpu_percent"] for r in reports),
        "loadgens": len(reports),
        "sessions_failed": sum(r["sessions_failed"] for r in reports),
    }


def charging_load(
    pecc: Server, profile: Path, port: int, work: Path, name: str, args: argparse.Namespace, api: str = ""
) -> dict[str, Any]:
    """``pecc secc-sim`` against ``pecc``; with ``api`` (the control API's root URL), its CAN frames counted too."""
    report = work / f"{name}.json"
    counted = canfloor.frames(api) if api else None
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
            "--port",
            str(port),
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
    if counted is not None:
        buses, sent, received = canfloor.frames(api)
        data["can"] = {
            "buses": buses,
            "sent_per_s": (sent - counted[1]) / data["wall_s"],
            "received_per_s": (received - counted[2]) / data["wall_s"],
        }
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
    command = [PY, "-m", "pecc_core.cli", "run", "--loop", "auto", "--profile", str(profile)]  # uvloop
    server = Server.spawn(command, port, work / f"{tag}.log")
    time.sleep(1.0)  # module discovery: guns are inoperative for ~0.5 s after start
    return server, profile, port


def one_round(guns: int, work: Path, tag: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """PECC, floor, then (up to 72 guns) charging and (at 72) hostile frames; ratios to this floor.

    With ``--hostile-only``, the hostile frames alone (no floor, no ratios).
    """
    runs: dict[str, dict[str, Any]] = {}
    if args.hostile_only:
        if guns == 72:
            runs[f"hostile-{guns}"] = hostile_frames(guns, work, tag, args)
        return runs
    pecc, profile, port = start_pecc(guns, work, f"pecc-{tag}")
    runs[f"pecc-{guns}"] = protocol_load(pecc, gun_urls(profile, port), work, f"pecc-{tag}", args)
    port = free_port()
    echo = Server.spawn([PY, "-m", "benchmarks.echo", str(port)], port, work / f"echo-{tag}.log")
    urls = [f"ws://127.0.0.1:{port}/g{i}" for i in range(guns)]
    runs[f"echo-{guns}"] = floor = protocol_load(echo, urls, work, f"echo-{tag}", args)
    if guns <= 72:
        runs[f"charge-{guns}"] = charging_split(guns, work, f"charge-{tag}", args)
    if guns == 72:
        runs[f"hostile-{guns}"] = hostile_frames(guns, work, tag, args)
    for data in runs.values():
        data["ratio"] = {
            q: _latency(data)[q] / _latency(floor)[q] for q in ("p50_ms", "p99_ms")
        }
        data["cpu_ratio"] = data["server_cpu_percent"] / floor["server_cpu_percent"]
        if "can_floor" in data:
            io_floor = floor["server_cpu_percent"] + data["can_floor"]["cpu_percent"]
            data["io_cpu_ratio"] = data["server_cpu_percent"] / io_floor
    return runs


def hostile_frames(guns: int, work: Path, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    """The attackers on the first :data:`ATTACKERS` guns, the load generators on the others.

    The attack starts after a warm-up that fills the flight recorder's window (:data:`RECORDER_FILL_S`).
    """
    pecc, profile, port = start_pecc(guns, work, f"hostile-{tag}")
    urls = gun_urls(profile, port)
    return protocol_load(
        pecc, urls[ATTACKERS:], work, f"hostile-{tag}", args, attack=urls[:ATTACKERS],
        warmup=args.warmup + RECORDER_FILL_S,
    )


def charging_split(guns: int, work: Path, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    """The charging load on the split station: ``pecc sim-hw`` is the hardware, in a process of its own.

    So the PECC's CPU is its own work (as on a cabinet, where the modules
    and the I/O are hardware), not the simulated modules'.
    """
    directory = work / tag
    directory.mkdir()
    split = SplitStation(directory, "sim-split" if guns == 4 else "sim-full-split")  # INFO, as in the field
    try:
        split.start_hw()
        split.start_pecc("--loop", "auto")  # uvloop
        if split.pecc is None:
            raise RuntimeError(f"{tag}: pecc run did not start")
        time.sleep(1.0)  # module discovery: guns are inoperative for ~0.5 s after start
        data = charging_load(
            Server(split.pecc), split.profile, split.port, work, tag, args, split.api.removesuffix("/api")
        )
        if split.hw is not None:
            data["hardware_peak_rss_mb"] = peak_rss_mb(split.hw.pid)
    finally:
        split.close()
    can = data["can"]  # the CAN floor of the same frames, once the station is gone
    extra = max(0.0, can["received_per_s"] - can["sent_per_s"])
    data["can_floor"] = canfloor.measure(can["buses"], can["sent_per_s"], extra, args.duration)
    return data


def median_run(runs: list[Any]) -> Any:
    """Each figure's median over the rounds that have it (lists and texts: the first round's).

    A round without the figure (None, NaN: e.g. no request answered in time) is left out.
    """
    present = [r for r in runs if r is not None and not (isinstance(r, float) and math.isnan(r))]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        keys = dict.fromkeys(key for r in present for key in r)
        return {key: median_run([r.get(key) for r in present]) for key in keys}
    if isinstance(first, bool) or not isinstance(first, (int, float)):
        return first
    if isinstance(first, int):
        return statistics.median_low(present)
    return statistics.median(present)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 72, 1000])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each figure is the median")
    parser.add_argument("--json", type=Path, help="also write every figure of every round as JSON")
    parser.add_argument("--hostile-only", action="store_true", help="only the hostile frames (72 guns)")
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="pecc-bench-") as tmp:
        work = Path(tmp)
        for n in range(args.repeat):
            for guns in args.sizes:
                for key, data in one_round(guns, work, f"{guns}-{n}", args).items():
                    rounds.setdefault(key, []).append(data)
                print(f"round {n + 1}: {guns} guns done", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2))
    print(tables({key: median_run(runs) for key, runs in rounds.items()}, args))


def _f(value: float | None, digits: int = 1) -> str:
    """A figure, or "-" where the run has none (too short a window, nothing answered)."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


NAN_LATENCY = {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
PROTOCOL_HEADER = [
    "guns", "server", "p50 ms", "p99 ms", "max ms", "p50 / floor", "p99 / floor", "status jitter p99 ms",
    "longest status gap ms", "msg/s", "server CPU %", "CPU / floor", "server peak RSS MiB",
    "loadgen CPU % (processes)", "other processes CPU %", "errors",
]  # fmt: skip
CHARGING_HEADER = [
    "guns", "sessions ok / failed", "targetValues p50 ms", "p99 ms", "max ms", "p50 / floor", "p99 / floor",
    "status jitter p99 ms", "longest status gap ms", "PECC CPU %", "CPU / floor", "PECC peak RSS MiB",
    "secc-sim CPU %", "other processes CPU % (the hardware's included)", "protocol errors",
    "CAN frames/s sent / received", "CAN floor CPU %", "CPU / I/O floor",
]  # fmt: skip
HOSTILE_HEADER = [
    "guns", "hostile frames sent / answered", "bystanders' p50 ms", "p99 ms", "max ms",
    "status jitter p99 ms", "longest status gap ms", "PECC CPU %", "PECC RSS growth MiB",
    "RSS growth in the warm-up MiB", "loadgen errors",
]  # fmt: skip


def _latency(data: dict[str, Any]) -> dict[str, float]:
    return data["latency"].get("targetValues", NAN_LATENCY)  # type: ignore[no-any-return]


def _common(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(latency p50/p99/max, status jitter/gap) cells of one run."""
    lat = _latency(data)
    status = data["status"]
    return (
        [_f(lat["p50_ms"], 2), _f(lat["p99_ms"], 2), _f(lat["max_ms"])],
        [_f(status["jitter_p99_ms"], 2), _f(status["interval_max_ms"])],
    )


def tables(results: dict[str, Any], args: argparse.Namespace) -> str:
    protocol, charging, hostile = [], [], []
    for key, data in results.items():
        kind, guns = key.split("-")
        latency, status = _common(data)
        if kind == "hostile":  # no ratios: it may run alone, without its floor
            attack = f"{data['attack']['frames_sent']} / {data['attack']['replies']}"
            growth = [_f(data["rss_growth_mb"]), _f(data.get("rss_warmup_growth_mb"))]
            hostile.append(
                [guns, attack, *latency, *status, _f(data["server_cpu_percent"]), *growth, str(data["protocol_errors"])]
            )
            continue
        ratios = [_f(data["ratio"]["p50_ms"], 2), _f(data["ratio"]["p99_ms"], 2)]
        cpu = [_f(data["server_cpu_percent"]), _f(data["cpu_ratio"], 2), _f(data["server_peak_rss_mb"])]
        others = [
            _f(data["loadgen_cpu_percent"]),
            _f(data["other_cpu_percent"]),
            str(data["protocol_errors"]),
        ]
        if kind == "charge":
            sessions = f"{data['sessions_ok']} / {data['sessions_failed']}"
            can, can_floor = data.get("can", {}), data.get("can_floor", {})
            io = [
                f"{can.get('sent_per_s', math.nan):.0f} / {can.get('received_per_s', math.nan):.0f}",
                _f(can_floor.get("cpu_percent", math.nan)),
                _f(data.get("io_cpu_ratio", math.nan), 2),
            ]
            charging.append([guns, sessions, *latency, *ratios, *status, *cpu, *others, *io])
        else:
            rate = f"{(data['messages_sent'] + data['messages_received']) / data['window_s']:.0f}"
            server = "PECC" if kind == "pecc" else "echo floor"
            others[0] += f" ({data['loadgens']})"
            protocol.append([guns, server, *latency, *ratios, *status, rate, *cpu, *others])
    rounds = f"median of {args.repeat} rounds" if args.repeat > 1 else "one round"
    lines = [
        (
            f"Protocol load: targetValues (standby) at {args.rate:g} Hz per gun, {args.duration:g} s window "
            f"after {args.warmup:g} s warm-up; {rounds}."
        ),
    ]
    if protocol:
        lines += ["", *md_table(PROTOCOL_HEADER, protocol)]
    if charging:
        lines += [
            "",
            (
                f"Charging load: `pecc secc-sim --duration {args.duration:g}` (real sessions, 10 Hz in charge) "
                "on the split station (`pecc sim-hw` is the hardware, in a process of its own: the PECC's CPU "
                "is its own work); floor: the echo floor's protocol load of the same round; I/O floor: that "
                "and the CAN floor (`benchmarks.canfloor`: the PECC's frames a second through python-can, "
                "nothing else)."
            ),
            "",
            *md_table(CHARGING_HEADER, charging),
        ]
    if hostile:
        lines += [
            "",
            (
                f"Hostile frames: {ATTACKERS} connections send in-spec 64 KiB getInput frames wrong at every "
                "item as fast as the PECC takes them; the other guns run the protocol load, and a warm-up of "
                f"{args.warmup + RECORDER_FILL_S:g} s before the attack fills the flight recorder's window "
                "(the RSS growth: peak during the attack minus RSS at its start)."
            ),
            "",
            *md_table(HOSTILE_HEADER, hostile),
        ]
    return "\n".join([*lines, "", *goals(results)])


def goals(results: dict[str, Any]) -> list[str]:
    """The goals of issue 15 against this run (the sizes that ran)."""
    rows = []

    def row(goal: str, value: float, bound: float, unit: str = "") -> None:
        rows.append([goal, f"{value:.2f}{unit}", "met" if value <= bound else "**missed**"])

    if "charge-72" in results:
        charge = results["charge-72"]
        row("72 guns charging: p50 <= 1.3x floor", charge["ratio"]["p50_ms"], 1.3, "x")
        row("72 guns charging: p99 <= 1.5x floor", charge["ratio"]["p99_ms"], 1.5, "x")
        row("72 guns charging: status jitter p99 <= 10 ms", charge["status"]["jitter_p99_ms"], 10, " ms")
        row("72 guns charging: PECC CPU <= 25 %", charge["server_cpu_percent"], 25, " %")
        row("72 guns charging, hardware apart: PECC CPU <= 1.3x floor", charge["cpu_ratio"], 1.3, "x")
        if "io_cpu_ratio" in charge:
            row("72 guns charging, hardware apart: PECC CPU <= 1.3x I/O floor", charge["io_cpu_ratio"], 1.3, "x")
    if "pecc-1000" in results:
        big = results["pecc-1000"]
        row("1000 guns: p99 <= 1.5x floor", big["ratio"]["p99_ms"], 1.5, "x")
        row("1000 guns: no request timing out", big["protocol_errors"], 0)
        row("1000 guns: no status gap over 400 ms", big["status"]["interval_max_ms"], 400, " ms")
        row("1000 guns: PECC CPU <= 70 %", big["server_cpu_percent"], 70, " %")
    if "hostile-72" in results:
        hostile = results["hostile-72"]
        row("hostile frames: other guns' status gap <= 300 ms", hostile["status"]["interval_max_ms"], 300, " ms")
        row("hostile frames: memory within +50 MB", hostile["rss_growth_mb"], 50, " MiB")
    return md_table(["goal (issue 15)", "measured", ""], rows) if rows else []


if __name__ == "__main__":
    main()
