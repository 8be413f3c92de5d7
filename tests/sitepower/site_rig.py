"""A whole site in real processes: Mosquitto, ``pecc site run`` and ``pecc run`` per cabinet.

The site total is read from each cabinet's control API (``GET /api/guns``,
the measured V x A of every gun), not from the broker under test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pecc_core.profile import load as load_profile
from pecc_core.testing import QUICK_CABINET, wait_serving, write_profile

from .broker import Mosquitto
from .keys import SiteKeys

#: A quick cabinet (as the SECC simulator's acceptance tests use): the cars reach their share in a second.
FAST = {
    "log_level": "INFO",  # the rig waits for the "serving N guns" line
    **QUICK_CABINET,
}


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pecc_core.cli", *args], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


_CTL = re.compile(r"control API on http://[^\s:]+:(\d+)/api")


@dataclass
class Cabinet:
    """One ``pecc run`` process on ports 0; each start logs to a new file, where the ports are read."""

    id: str
    profile: Path
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    ctl_port: int = 0
    urls: list[str] = field(default_factory=list)  # every gun's PEP-WS URL, once ready

    @property
    def log(self) -> Path:
        return self.folder / f"pecc-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        self.urls = []
        self.process = start(["run", "--profile", str(self.profile)], self.log)

    def ready(self) -> None:
        assert self.process is not None
        ws_port = wait_serving(self.log, self.process, timeout=60)
        found = _CTL.search(self.log.read_text())
        assert found is not None, self.log.read_text()
        self.ctl_port = int(found.group(1))
        profile = load_profile(str(self.profile))
        self.urls = [profile.url(gun, port=ws_port) for gun in profile.guns]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ctl_port}{path}", timeout=5) as answer:
            return json.loads(answer.read())

    def power(self) -> float | None:
        """The cabinet's measured power (W); None while it is down."""
        try:
            return sum(gun["power_w"] for gun in self.get("/api/guns")["guns"])
        except OSError:
            return None

    def share(self) -> float | None:
        """The share of the site the cabinet applies now (W), as its control API reports it."""
        return self.get("/api/limits")["site_share_w"]


@dataclass
class Site:
    directory: Path
    broker: Mosquitto
    cap_w: float
    safe_w: float
    cabinets: list[Cabinet] = field(default_factory=list)
    coordinator: subprocess.Popen[bytes] | None = None
    #: (monotonic time, site total W) of every sample
    samples: list[tuple[float, float]] = field(default_factory=list)
    skewed: int = 0

    @property
    def profile(self) -> Path:
        return self.directory / "site.toml"

    def write(self, names: list[str], channel: str, source: str = "sim", changes: dict[str, Any] | None = None) -> None:
        """A site profile and one cabinet profile per name: ``source`` (a station profile) with
        free ports, its own CAN channel, the ``site`` service and ``changes``; the site's
        signing keys (as ``pecc site init`` writes them) under ``directory/keys``."""
        keys = SiteKeys(self.directory, tuple(names))
        table = keys.table()
        self.profile.write_text(
            f'[site]\nid = "depot"\nmax_power_w = {self.cap_w}\npolicy = "demand"\n'
            f"share_ttl_s = 3\nrefresh_s = 0.5\ngrace_s = 1\n"
            f"[broker]\nport = {self.broker.port}\nkeepalive_s = 2\n"
             f'[keys]\nsite = "{table["site"]}"\n[keys.cabinets]\n'
            + "".join(f'{n} = "{path}"\n' for n, path in table["cabinets"].items())
            + "".join(f'[[cabinets]]\nid = "{n}"\nsafe_share_w = {self.safe_w}\n' for n in names)
        )
        for name in names:
            folder = self.directory / name
            folder.mkdir()
            bus = f"{channel}-{name}"
            overrides = {
                **FAST,
                **(changes or {}),
                "server.port": 0,
                "power.driver.params.channel": bus,
                "services": [
                    {"name": "modsim", "params": {"protocol": "uugreen", "interface": "timedvirtual",
                                                  "channel": bus, "group": 1}},
                    {"name": "ctl", "params": {"port": 0, "state_dir": str(folder / "state")}},
                    {"name": "site", "params": {"site": "depot", "cabinet": name, "safe_share_w": self.safe_w,
                                                "demand_interval_s": 0.5, **keys.params(name),
                                                "broker": {"port": self.broker.port, "keepalive_s": 2}}},
                ],
            }
            self.cabinets.append(Cabinet(name, write_profile(source, folder, overrides), folder))

    async def up(self) -> None:
        """Start every cabinet and the coordinator; return once every cabinet serves."""
        for cabinet in self.cabinets:
            cabinet.start()
        self.start_coordinator()
        for cabinet in self.cabinets:
            await asyncio.to_thread(cabinet.ready)

    def start_coordinator(self) -> None:
        self.coordinator = start(["site", "run", "--profile", str(self.profile)], self.directory / "coordinator.log")

    def set_cap(self, watts: float) -> None:
        done = subprocess.run([sys.executable, "-m", "pecc_core.cli", "site", "set-cap", "--profile",
                               str(self.profile), str(watts)], check=False, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr

    def status(self) -> dict[str, Any]:
        """``pecc site status --json``."""
        done = subprocess.run([sys.executable, "-m", "pecc_core.cli", "site", "status", "--profile",
                               str(self.profile), "--json"], check=False, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def total(self) -> float:
        return sum(p for p in (c.power() for c in self.cabinets) if p is not None)

    async def sample(self, period: float = 0.1, span: float = 0.1) -> None:
        """Record the site total every ``period`` until cancelled.

        The cabinets are read at once, each in its own thread; a sample whose
        reads spread over more than ``span`` (a busy machine) is not a
        snapshot of one instant and is counted in :attr:`skewed` instead.
        """
        while True:
            start = time.monotonic()
            powers = await asyncio.gather(*(asyncio.to_thread(c.power) for c in self.cabinets))
            end = time.monotonic()
            if end - start <= span:
                self.samples.append((end, sum(p for p in powers if p is not None)))
            else:
                self.skewed += 1
            await asyncio.sleep(period)

    def since(self, start: float) -> list[float]:
        return [total for at, total in self.samples if at >= start]

    def stop(self) -> None:
        """Every process of the site, the broker last."""
        for cabinet in self.cabinets:
            stop(cabinet.process)
        stop(self.coordinator)
        self.broker.kill()


def log_has(path: Path, pattern: str) -> bool:
    return re.search(pattern, path.read_text()) is not None
