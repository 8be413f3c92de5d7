"""Soak: N minutes of sim-full on the split station, faults injected, checked from outside.

    python -m benchmarks.soak --minutes 30 [--seed 1] [--out DIR]

What runs: ``pecc sim-hw`` and ``pecc run`` of ``sim-full-split`` (72
guns, 48 modules) as two processes; the SECC simulator (secc-sim's
runner) charging on every gun but the hostile ones, session after
session; an injector that, every few seconds, does one random thing
through the control API (module silence, a module fault, an IMD fault,
CP/PP refusal mid-charge, a limit change, stopCharging) or takes an
SECC's connection away (a second connection to its gun replaces it);
hostile clients sending bad frames on a few guns; and once, halfway, a
SIGKILL of the PECC and a restart with the hardware process alive.

What is checked, continuously, from outside:

- no gun stuck: inoperative with no fault for longer than the bound, not
  back in standby within the bound after its faults cleared, or
  inoperative with any fault for longer than anything injected holds;
- no traceback in either log;
- status gaps on every SECC connection (the longest, and how many > 400 ms);
- the PECC's RSS (growth after warm-up) and its open file descriptors;
- sessions completed and failed, each failure with the PECC's reason and
  whether an injection (or the restart) explains it.

The report is printed and written as JSON into ``--out``; the exit code
is 1 if a goal is missed. The test suite runs a 2-minute version
(``tests/simhw/test_soak.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from benchmarks.procstat import rss_mb
from pecc_plugins.seccsim import scenario as scenarios
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats
from pecc_plugins.simhw.processes import SplitStation

PROFILE = "sim-full-split"
#: guns with a car: fewer than the 48 modules, so that every car can get one (with 70
#: cars on 48 modules, the cars without a module fail their precharge: capacity, not a fault)
CHARGING = 44
#: INFO: the checks read the serving line, and every transition is logged as in the field
PECC_ARGS = ("--log-level", "INFO")
HOSTILE = ("6-11", "6-12")
STUCK_BOUND_S = 20.0  # a safe-down takes at most ~7 s; the gun check runs every second
#: inoperative this long, with whatever fault, is stuck: an injection holds at most 15 s,
#: a wait for a free module 30 s, a silent module's watchdog 10 s
INOPERATIVE_BOUND_S = 120.0
GAP_LIMIT_S = 0.4
WARM_UP_FRACTION = 0.2
#: a failure this long after an injection on its gun (or anywhere, for module faults) is explained by it
EXPLAIN_AFTER_S = 30.0
RESTART_WINDOW_S = 40.0


@dataclass
class Injection:
    at: float
    until: float
    what: str
    gun: str | None  # None: a module's injection
    module: int | None = None
    #: the guns the module was switched onto when injected (from the control API)
    holders: frozenset[str] = frozenset()


@dataclass
class Soak:
    split: SplitStation
    minutes: float
    rng: random.Random
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    injections: list[Injection] = field(default_factory=list)
    restarts: list[tuple[float, float]] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)
    fds: list[tuple[float, int]] = field(default_factory=list)
    all_guns: list[str] = field(default_factory=list)
    hostile_frames: int = 0
    hostile_errors: int = 0
    api_errors: Counter[str] = field(default_factory=Counter)
    _settling: dict[str, float] = field(default_factory=dict)
    _inoperative: dict[str, float] = field(default_factory=dict)
    _modules_of: dict[str, list[int]] = field(default_factory=dict)

    @property
    def stalls(self) -> list[float]:
        """When the simulated hardware's process stalled (its log), in soak seconds."""
        found = []
        for line in self.split.hw_log.read_text(errors="replace").splitlines():
            if "simulation stalled" in line:
                wall = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found.append(wall - self.started_wall)
        return found

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def guns(self) -> list[str]:
        """The guns the SECC simulator charges on."""
        return [g for g in self.all_guns if g not in HOSTILE][:CHARGING]

    def _module_injection(self, at: float, hold: float, what: str, module: int) -> Injection:
        holders = frozenset(g for g, modules in self._modules_of.items() if module in modules)
        return Injection(at, at + hold, what, None, module, holders)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.split.api}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            self.api_errors[f"{method} {path.split('/')[2]}: {exc.code}"] += 1
            return None
        except OSError as exc:  # the PECC is restarting
            self.api_errors[f"{method}: {exc}"] += 1
            return None

    # -- the injector -------------------------------------------------------------------

    async def inject_forever(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(3.0, 8.0))
            kind = self.rng.choice(
                ["silence", "fault", "bit", "imd", "cppp", "limits", "stop", "replace"]
            )
            gun = self.rng.choice(self.guns)
            module = self.rng.randint(1, 48)
            hold = self.rng.uniform(3.0, 15.0)
            now = self.elapsed
            if kind == "silence":
                await self._hold(f"/sim/modules/{module}/silence", {"silent": True}, {"silent": False}, hold)
                self.injections.append(self._module_injection(now, hold, f"module {module} silent", module))
            elif kind == "fault":
                fault = self.rng.choice(["hardware", "over_temperature", "input"])
                await self._hold(
                    f"/sim/modules/{module}/fault", {"fault": fault}, {"fault": fault, "active": False}, hold
                )
                self.injections.append(self._module_injection(now, hold, f"module {module} {fault}", module))
            elif kind == "bit":
                bit = self.rng.randint(0, 31)
                await self._hold(f"/sim/modules/{module}/fault", {"bit": bit}, {"bit": bit, "active": False}, hold)
                self.injections.append(
                    self._module_injection(now, hold, f"module {module} status bit {bit}", module)
                )
            elif kind == "imd":
                result = self.rng.choice(["fault", "warning"])
                await self._hold(f"/sim/guns/{gun}/imd", {"result": result}, {"result": None}, hold)
                self.injections.append(Injection(now, now + hold, f"IMD {result}", gun))
            elif kind == "cppp":
                await self._hold(f"/sim/guns/{gun}/supervision", {"allowed": False}, {"allowed": True}, hold)
                self.injections.append(Injection(now, now + hold, "CP/PP refused", gun))
            elif kind == "limits":
                cap = self.rng.choice([None, 20_000.0, 60_000.0])
                await asyncio.to_thread(self.api, "PUT", "/limits", {"guns": {gun: {"max_power_w": cap}}})
                self.injections.append(Injection(now, now, f"power cap {cap}", gun))
            elif kind == "stop":
                await asyncio.to_thread(self.api, "POST", f"/guns/{gun}/stop-charging", {})
                self.injections.append(Injection(now, now, "stopCharging", gun))
            else:
                await self._replace(gun)
                self.injections.append(Injection(now, now + 2.0, "SECC connection replaced", gun))

    async def _hold(self, path: str, on: Any, off: Any, hold: float) -> None:
        await asyncio.to_thread(self.api, "POST", path, on)

        async def release() -> None:
            await asyncio.sleep(hold)
            await asyncio.to_thread(self.api, "POST", path, off)

        asyncio.get_running_loop().create_task(release())

    async def _replace(self, gun: str) -> None:
        """A second SECC connection to ``gun``: the PECC drops the first (the SECC reconnects)."""
        try:
            async with connect(self._url(gun), subprotocols=["pep1.5"], open_timeout=5) as ws:  # type: ignore[list-item]
                await asyncio.sleep(2.0)
                await ws.close()
        except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
            pass

    def _url(self, gun: str) -> str:
        secc, number = gun.split("-")
        return f"ws://127.0.0.1:{self.split.port}/secc{secc}/gun{number}"

    # -- hostile clients ------------------------------------------------------------------

    async def hostile_forever(self, gun: str) -> None:
        frames = [
            "{", "[]", "null", '"text"', "{}", '{"type":"request"}',
            '{"type":"request","kind":"targetValues","sequenceNumber":1,"payload":{"targetVoltage":-1}}',
            '{"type":"request","kind":"nope","sequenceNumber":2,"payload":{}}',
            '{"type":"request","kind":"targetValues","sequenceNumber":"x","payload":[]}',
            '{"type":"info","kind":"status","payload":{}}',
            '{"type":"request","kind":"contactorsStatus","sequenceNumber":3,"payload":{"contactorsStatus":"closed"}}',
            '{"type":"request","kind":"cableCheck","sequenceNumber":4,"payload":{"voltage":1e308}}',
            "x" * 70_000,
        ]
        while True:
            try:
                async with connect(self._url(gun), subprotocols=["pep1.5"], open_timeout=5, max_size=2**20) as ws:  # type: ignore[list-item]
                    while True:
                        frame = self.rng.choice(frames)
                        await ws.send(frame.encode() if self.rng.random() < 0.1 else frame)
                        self.hostile_frames += 1
                        await asyncio.sleep(self.rng.uniform(0.05, 0.5))
                        while True:
                            try:  # asyncio.timeout: wait_for (3.11) may swallow the final cancel
                                async with asyncio.timeout(0.001):
                                    reply = await ws.recv()
                            except TimeoutError:
                                break
                            if isinstance(reply, str) and '"error"' in reply[:40]:
                                self.hostile_errors += 1
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                await asyncio.sleep(1.0)

    # -- the checks ------------------------------------------------------------------------

    async def watch_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            guns = await asyncio.to_thread(self.api, "GET", "/guns")
            if guns is not None:
                self._check_guns(guns["guns"] if isinstance(guns, dict) else guns)
            pecc = self.split.pecc
            if pecc is not None and pecc.poll() is None:
                try:
                    self.rss_mb.append((self.elapsed, rss_mb(pecc.pid)))
                    self.fds.append((self.elapsed, len(list(Path(f"/proc/{pecc.pid}/fd").iterdir()))))
                except OSError:
                    pass

    def _check_guns(self, guns: list[dict[str, Any]]) -> None:
        now = self.elapsed
        for gun in guns:
            gid = gun["id"]
            self._modules_of[gid] = gun["modules"]
            if gun["state"] != "inoperative":
                self._inoperative.pop(gid, None)
            elif now - self._inoperative.setdefault(gid, now) > INOPERATIVE_BOUND_S:
                since = f"inoperative for {INOPERATIVE_BOUND_S:.0f} s"
                self.stuck.append(f"{now:.0f} s: gun {gid} {since}: {gun['faults']}")
                self._inoperative[gid] = now
            unsettled = (gun["state"] == "inoperative" and not gun["faults"]) or gun["state"] == "stopping"
            if not unsettled:
                self._settling.pop(gid, None)
                continue
            since = self._settling.setdefault(gid, now)
            if now - since > STUCK_BOUND_S:
                self.stuck.append(f"{now:.0f} s: gun {gid} {gun['state']} with no fault for {now - since:.0f} s")
                self._settling[gid] = now  # report again only after another bound

    # -- the restart ----------------------------------------------------------------------------

    async def restart_once(self, at: float) -> None:
        await asyncio.sleep(at)
        killed = self.elapsed
        await asyncio.to_thread(self.split.kill_pecc)
        await asyncio.to_thread(self.split.start_pecc, *PECC_ARGS)  # the same ports: the profile names them
        self.restarts.append((killed, self.elapsed))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def explain(soak: Soak, gun: str, at: float, reason: str) -> str | None:
    """The injection (or restart) that explains a failed session on ``gun`` at ``at``, if any."""
    if at >= soak.minutes * 60:
        return "end of the run (sessions cut short)"
    for stalled in soak.stalls:
        if stalled - 1.0 <= at <= stalled + EXPLAIN_AFTER_S:
            return "the simulated hardware stalled (machine busy)"
    for killed, served in soak.restarts:
        if killed - 1.0 <= at <= served + RESTART_WINDOW_S:
            return "PECC restart"
    for inj in reversed(soak.injections):
        if not inj.at - 1.0 <= at <= inj.until + EXPLAIN_AFTER_S:
            continue
        if inj.gun == gun:
            return f"{inj.what} on {gun}"
        if inj.module is not None and (gun in inj.holders or f"module {inj.module} " in reason):
            return inj.what
    return None


async def run(split: SplitStation, minutes: float, seed: int) -> dict[str, Any]:
    soak = Soak(split, minutes, random.Random(seed))
    soak.all_guns = [gun["id"] for secc in split.profile_data("seccs") for gun in secc["guns"]]
    duration = minutes * 60
    stats = SoakStats(clock=lambda: soak.elapsed)
    options = RunOptions(
        sessions=10**9,
        session=SessionOptions(time_scale=60.0),
        duration=duration,
        request_timeout=2.0,
        reconnect_interval=3.0,
    )
    urls = [soak._url(g) for g in soak.guns]
    background = [
        asyncio.create_task(soak.inject_forever()),
        asyncio.create_task(soak.watch_forever()),
        asyncio.create_task(soak.restart_once(duration / 2)),
        *(asyncio.create_task(soak.hostile_forever(g)) for g in HOSTILE),
    ]
    try:
        await simulate(urls, scenarios.load(None), options, stats)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
    return report(soak, stats, duration)


class SoakStats(RunStats):
    """secc-sim's counters, plus every failure with its time (to match it with an injection)."""

    def __init__(self, clock: Any) -> None:
        super().__init__()
        self.clock = clock
        self.timed_failures: list[tuple[float, str, str]] = []

    def session_failed(self, gun: Any, reason: str) -> None:
        self.timed_failures.append((self.clock(), gun.url, reason))
        super().session_failed(gun, reason)


def report(soak: Soak, stats: SoakStats, duration: float) -> dict[str, Any]:
    by_url = {soak._url(g): g for g in soak.all_guns}
    failed = []
    for at, url, reason in stats.timed_failures:
        gun = by_url.get(url, url)
        explained = explain(soak, gun, at, reason)
        failed.append({"at_s": round(at, 1), "gun": gun, "reason": reason, "explained_by": explained})
    tracebacks = [
        f"{log.name}: {line}"
        for log in sorted(soak.split.directory.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("Traceback")
    ]
    warm = [mb for t, mb in soak.rss_mb if t >= duration * WARM_UP_FRACTION]
    restarted_at = soak.restarts[0][1] if soak.restarts else duration
    # RSS growth: within each PECC run after its own warm-up (the restart starts a new process)
    second = [mb for t, mb in soak.rss_mb if t >= restarted_at + duration * WARM_UP_FRACTION / 2]
    killed_at = soak.restarts[0][0] if soak.restarts else duration
    first = [mb for t, mb in soak.rss_mb if duration * WARM_UP_FRACTION <= t < killed_at] if soak.restarts else warm
    growth = max(_growth(first), _growth(second))
    intervals = sorted(stats.status_intervals)
    gaps_over = sum(1 for i in intervals if i > GAP_LIMIT_S)
    completed = sum(p.sessions_ok for p in stats.guns)
    unexplained = [f for f in failed if f["explained_by"] is None]
    result = {
        "minutes": duration / 60,
        "guns_charging": len(soak.guns),
        "sessions_completed": completed,
        "sessions_failed": len(failed),
        "failed_unexplained": unexplained,
        "failure_reasons": Counter(_shape(f["reason"]) for f in failed).most_common(20),
        "explained_by": Counter(_kind(f["explained_by"] or "-") for f in failed).most_common(),
        "hardware_stalls": len(soak.stalls),
        "injections": len(soak.injections),
        "injection_kinds": Counter(_kind(i.what) for i in soak.injections).most_common(),
        "restarts": [
            {"killed_at_s": round(k, 1), "serving_at_s": round(s, 1), "took_s": round(s - k, 2)}
            for k, s in soak.restarts
        ],
        "stuck": soak.stuck,
        "tracebacks": tracebacks,
        "status_intervals": len(intervals),
        "status_gap_max_s": round(intervals[-1], 3) if intervals else None,
        "status_gap_p999_s": round(intervals[int(len(intervals) * 0.999)], 3) if intervals else None,
        "status_gaps_over_400ms": gaps_over,
        "rss_mb_first_last": [round(soak.rss_mb[0][1], 1), round(soak.rss_mb[-1][1], 1)] if soak.rss_mb else None,
        "rss_growth_after_warm_up": round(growth, 4),
        "fds_min_max": [min(n for _, n in soak.fds), max(n for _, n in soak.fds)] if soak.fds else None,
        "hostile_frames": soak.hostile_frames,
        "hostile_error_replies": soak.hostile_errors,
        "secc_protocol_errors": stats.error_count,
        "secc_protocol_error_examples": stats.errors[:10],
        "api_errors": dict(soak.api_errors),
    }
    result["passed"] = (
        not soak.stuck and not tracebacks and growth < 0.10 and gaps_over == 0 and not unexplained
    )
    return result


def _growth(samples: list[float]) -> float:
    if len(samples) < 10:
        return 0.0
    tenth = max(1, len(samples) // 10)
    start, end = statistics.median(samples[:tenth]), statistics.median(samples[-tenth:])
    return (end - start) / start


def _kind(what: str) -> str:
    """An injection's kind: ``module 7 silent on 1-2`` -> ``module silent``."""
    words = what.split(" on ", maxsplit=1)[0].split()
    return " ".join(w for w in words if not w.isdigit())


def _shape(reason: str) -> str:
    """A failure reason without its numbers (to count reasons alike)."""
    return "".join("#" if c.isdigit() else c for c in reason)[:120]


def soak(minutes: float, seed: int, out: Path) -> dict[str, Any]:
    """Run a soak in ``out`` (its logs stay there); return the report."""
    port, api_port = _free_port(), _free_port()
    split = SplitStation(out, PROFILE, {"server.port": port, "services.1.params.port": api_port})
    try:
        split.start_hw()
        split.start_pecc(*PECC_ARGS)
        result = asyncio.run(run(split, minutes, seed))
    finally:
        split.close()
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="pecc-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    result = soak(args.minutes, args.seed, out)
    print(json.dumps(result, indent=2))
    print(f"logs and soak.json in {out}")
    raise SystemExit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
