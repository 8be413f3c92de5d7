"""Test helpers for PECC and for vendors' plugin packages (a pytest plugin).

Installed with PECC as the ``pecc`` pytest plugin, so a vendor's test suite
gets these fixtures without any import:

- ``pecc_plugins``: a plugin manager with every installed plugin loaded;
- ``can_channel``: a fresh python-can ``virtual`` channel name (virtual
  channels are process-global, so each test needs its own);
- ``make_profile``: a builtin or given profile with dotted-key overrides,
  validated like ``pecc run`` would.

and :func:`running` to run a whole station inside a test, :func:`eventually`
to wait for simulated hardware, :func:`wait_serving` to learn the port of a
``pecc run`` process started on port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import os
import re
import signal
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from pecc_core.asyncutil import poll_until
from pecc_core.plugins import PluginManager, default_manager
from pecc_core.profile import Profile
from pecc_core.profile import load as load_profile
from pecc_core.profile.loader import resolve
from pecc_core.runtime import Runtime

_channels = itertools.count(1)

#: The loop clock a virtual-time test starts at: a controller up for a day, as
#: on a real cabinet (a zero would hide code that takes 0.0 for "long ago").
VIRTUAL_START_S = 86_400.0
#: Idle passes of a virtual loop before its clock jumps (looptime's
#: ``noop_cycles``, 42 by default). A pass polls the sockets without waiting:
#: data written to a loopback socket is there to read when the write returns,
#: and the threads of ``run_in_executor`` are waited for by looptime itself,
#: so one pass suffices. Each jump costs that many passes, and a station
#: has a timer every few ms: 42 made the in-process suite take 1.5x as long,
#: 8 about 10 % longer than 1 (measured: 87 s and 78 s for the stage).
NOOP_CYCLES = 1


#: Overrides of a quick UU cabinet for tests that run a session on real time: a
#: 200 ms isolation test, a 200 ms range switch of the modules (2 s by default,
#: twice a session: to the high range for the cable check, back for the charge)
#: and current rising at 250 A/s (25 by default: a short charge is all ramp).
QUICK_CABINET: dict[str, Any] = {
    "timings.cable_check_ms": 200,
    "power.driver.params.mode_switch_ms": 200,
    "safety.ramp_a_per_s": 250.0,
}


def ctrl_c_reaches_it() -> None:
    """A ``preexec_fn`` for a child that a test stops with SIGINT, as Ctrl-C in a terminal would.

    A shell without job control starts its background jobs (``make test &``)
    with SIGINT ignored, their children inherit that, and Python then installs
    no KeyboardInterrupt: the child would never see the test's Ctrl-C.
    It runs in the forked child before exec and takes no lock, so the
    parent's threads cannot deadlock it (ruff's PLW1509).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def virtual_loop() -> asyncio.AbstractEventLoop:
    """A new event loop on virtual time (looptime) for its whole life, from :data:`VIRTUAL_START_S`.

    Its clock stands still while anything can run and jumps to the next
    timer when every task waits. The asyncio tests get one each
    (``tests/conftest.py``); a test that drives a loop itself (hypothesis's
    stateful machines) makes its own here.
    """
    import looptime  # a test dependency, like this module's users

    return looptime.new_event_loop(start=VIRTUAL_START_S, noop_cycles=NOOP_CYCLES)

#: A test that loads the CPU with a whole station (72 guns, or several
#: processes): ``-m "not heavy"`` leaves them out of a quick run.
heavy = pytest.mark.heavy


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "heavy: a whole station under load (-m 'not heavy' leaves them out)")


def override(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b][0][c] = value`` for ``key = "a.b.0.c"``, creating tables."""
    parts = key.split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def write_profile(source: str, directory: Path, overrides: dict[str, Any]) -> Path:
    """Copy profile ``source`` (name or path) into ``directory`` with ``overrides`` applied."""
    path = resolve(source)
    data = tomllib.loads(path.read_text())
    for key, value in overrides.items():
        # a copy: a later dotted key must not reach into the caller's objects
        override(data, key, copy.deepcopy(value))
    target = directory / path.name
    target.write_text(tomli_w.dumps(data))
    return target


#: A ``sim``-like profile's bus at 1 Mbit/s, the driver's and the module simulator's: a test
#: cabinet polled and driven faster than a real one does not fit 125 kbit/s (the bus budget
#: refuses it, as it would a real cabinet's).
FAST_BUS: dict[str, Any] = {"power.driver.params.bitrate": 1_000_000, "services.0.params.bitrate": 1_000_000}


def sim_overrides(channel: str, port: int = 0, source: str = "sim") -> dict[str, Any]:
    """Overrides that let a ``sim``-like profile (``source``) run beside others in one process.

    Each bus gets a channel of its own (``channel``, or ``channel-BUS`` when
    the profile has several buses), and so does a module simulator that names
    its channel (one that names none simulates every bus on the buses' own).
    The control API (the ``ctl`` service) listens on any free port and
    serves on the station's loop: on a test's virtual time a thread of
    its own would run on real time, behind the clock
    (``tests/ctl/test_ops_load.py`` and the process tests serve from the
    thread, as ``pecc run`` does by default).
    """
    data = tomllib.loads(resolve(source).read_text())
    power = data["power"]
    buses = [bus["name"] for bus in power.get("buses", [])]
    overrides: dict[str, Any] = {"server.port": port}
    if buses:
        for i, bus in enumerate(buses):
            overrides[f"power.buses.{i}.driver.params.channel"] = f"{channel}-{bus}"
    else:
        overrides["power.driver.params.channel"] = channel
    for i, service in enumerate(data.get("services", [])):
        if service["name"] == "modsim" and "channel" in service.get("params", {}):
            bus = service["params"].get("bus")
            overrides[f"services.{i}.params.channel"] = f"{channel}-{bus}" if buses else channel
        elif service["name"] == "ctl":
            overrides[f"services.{i}.params.port"] = 0
            overrides[f"services.{i}.params.thread"] = False
    return overrides


def each_bus(source: str, params: dict[str, Any], driver: str) -> dict[str, Any]:
    """Overrides setting ``params`` on every bus of profile ``source`` whose driver is ``driver``.

    ``QUICK_CABINET``'s driver keys, say, on a profile of several buses.
    """
    power = tomllib.loads(resolve(source).read_text())["power"]
    if "buses" not in power:
        return {f"power.driver.params.{key}": value for key, value in params.items()}
    return {
        f"power.buses.{i}.driver.params.{key}": value
        for i, bus in enumerate(power["buses"])
        if bus["driver"]["name"] == driver
        for key, value in params.items()
    }


def quick_cabinet(source: str) -> dict[str, Any]:
    """:data:`QUICK_CABINET` for profile ``source``: its driver keys on each of its UU buses."""
    driver = "power.driver.params."
    return {
        **{key: value for key, value in QUICK_CABINET.items() if not key.startswith(driver)},
        **each_bus(source, {k.removeprefix(driver): v for k, v in QUICK_CABINET.items() if k.startswith(driver)},
                   "uugreen"),
    }


def each_service(source: str, params: dict[str, Any], name: str) -> dict[str, Any]:
    """Overrides setting ``params`` on every service named ``name`` of profile ``source``."""
    services = tomllib.loads(resolve(source).read_text()).get("services", [])
    return {
        f"services.{i}.params.{key}": value
        for i, service in enumerate(services)
        if service["name"] == name
        for key, value in params.items()
    }


@contextlib.asynccontextmanager
async def running(profile: Profile, plugins: PluginManager | None = None) -> AsyncIterator[Runtime]:
    """Start a whole station (drivers, services, transport) and stop it afterwards."""
    runtime = Runtime(profile, plugins or default_manager())
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def eventually(
    predicate: Callable[[], bool], timeout: float = 3.0, what: str | Callable[[], str] = ""
) -> None:
    """Poll ``predicate`` every 5 ms until it holds; fail the test after ``timeout`` s.

    For waiting on simulated hardware with loose bounds instead of asserting
    a timing. ``what`` (text, or a callable giving it) explains a timeout.
    """
    if not await poll_until(predicate, timeout, 0.005):
        raise AssertionError(f"timed out waiting for {what() if callable(what) else what or predicate}")


def wait_serving(log: Path, process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """The port a ``pecc run`` process bound, read from its log (it may have asked for port 0).

    Fails the test if the process exits or says nothing within ``timeout`` s;
    polls the log file, so the process writes it (``stdout=log.open("w")``).
    """
    deadline = time.monotonic() + timeout
    while (found := _SERVING.search(log.read_text())) is None:
        if process.poll() is not None:
            raise AssertionError(f"pecc run exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"pecc run not serving after {timeout:g} s:\n{log.read_text()}")
        time.sleep(0.05)
    return int(found.group(1))


_SERVING = re.compile(r"serving \d+ guns on [^\s:]+:(\d+)")


@pytest.fixture
def pecc_plugins() -> PluginManager:
    """Every installed plugin, freshly loaded."""
    return default_manager()


@pytest.fixture
def can_channel() -> str:
    """A python-can ``virtual`` channel name no other test uses."""
    return f"pecc-test-{os.getpid()}-{next(_channels)}"


@pytest.fixture
def make_profile(
    tmp_path: Path, pecc_plugins: PluginManager
) -> Callable[..., Profile]:
    """``make_profile("sim", **{"server.port": 0})``: a validated profile with overrides."""

    def make(source: str = "sim", overrides: dict[str, Any] | None = None) -> Profile:
        path = write_profile(source, tmp_path, overrides or {})
        return load_profile(str(path), pecc_plugins)

    return make
