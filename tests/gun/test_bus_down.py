"""A bus that goes down takes only its own modules out of service.

Two buses, each feeding one gun only (the modules' reach): gun 1-1 on
can1's modules, gun 1-2 on can2's, both charging through a real PEP-WS
client. can1 goes down, as a whole (every module silent, or the
interface gone). Gun 1-1 takes the power-stage-loss path (docs/safety.md:
inoperative, ``stopCharging`` to its SECC, contactors held until the
modules' own watchdog); gun 1-2 goes on charging as if nothing happened:
its status every interval, its state, its modules' setpoints unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pecc_core.gun import GunState
from pecc_core.power import ModuleId
from pecc_core.runtime import Runtime
from pecc_core.testing import eventually, running

from .secc import Secc, secc
from .test_safety import charging, url

A, B = "1-1", "1-2"
#: the profile's PEP_STATUS_UPDATE_INTERVAL (the ``sim`` profile's 200 ms)
STATUS_S = 0.2
WATCHDOG_MS = 1500
DRIVER = {"interface": "timedvirtual", "bitrate": 125_000, "poll_ms": 50, "watchdog_ms": WATCHDOG_MS,
          "group": 1, "min_current_a": 1.0, "reopen_min_ms": 60_000, "reopen_max_ms": 60_000}  # a bus gone stays gone
SIM = {"protocol": "uugreen", "interface": "timedvirtual", "bitrate": 125_000, "group": 1, "tick_ms": 10,
       "watchdog_ms": WATCHDOG_MS}


def two_buses(channel: str) -> dict[str, Any]:
    """The ``sim`` profile on two buses: can1's modules reach gun 1-1 only, can2's gun 1-2 only."""

    def bus(name: str, gun: str) -> dict[str, Any]:
        return {"name": name, "driver": {"name": "uugreen", "params": {**DRIVER, "channel": f"{channel}-{name}"}},
                "modules": [{"address": a, "guns": [gun]} for a in (1, 2)]}

    return {
        "server.port": 0,
        "timings.cable_check_ms": 200,
        "timings.control_cycle_ms": 50,
        "io.imd.params.sample_ms": 20,
        "safety.ramp_a_per_s": 1000.0,
        "safety.reading_stale_ms": 300,
        "power": {"max_modules_per_gun": 2, "buses": [bus("can1", A), bus("can2", B)]},
        "policy": {"name": "dynamic"},
        "services": [
            {"name": "modsim", "params": {**SIM, "bus": "can1", "channel": f"{channel}-can1"}},
            {"name": "modsim", "params": {**SIM, "bus": "can2", "channel": f"{channel}-can2"}},
        ],
    }


@pytest.fixture
async def stack(make_profile: Any, can_channel: str) -> AsyncIterator[Runtime]:
    async with running(make_profile("sim", two_buses(can_channel))) as runtime:
        station = runtime.station
        await eventually(lambda: all(m.online for m in station.power.modules.values()), what="modules online")
        yield runtime


@contextlib.asynccontextmanager
async def watched(client: Secc) -> AsyncIterator[list[tuple[float, dict[str, Any]]]]:
    """Every status ``client`` receives, with the loop time it came (each is a new message)."""
    seen: list[tuple[float, dict[str, Any]]] = []
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        last = None
        while True:
            if client.status is not last:
                last = client.status
                seen.append((loop.time(), last))
            await asyncio.sleep(0.001)

    task = loop.create_task(watch())
    try:
        yield seen
    finally:
        task.cancel()


def silence_every_module(runtime: Runtime) -> None:
    sim = next(s for s in runtime.services if getattr(s, "bus", None) == "can1")
    for address in sim.modules:
        sim.silence(address)


def shut_the_interface(runtime: Runtime) -> None:
    link = runtime.station.power.buses["can1"].link
    assert link.bus is not None
    link.bus.shutdown()  # every later frame is refused: the link reports the bus down


@pytest.mark.parametrize(
    "down, to_stop",
    [(silence_every_module, 0.33), (shut_the_interface, 0.04)],
    ids=["every-module-silent", "interface-gone"],
)
async def test_a_bus_down_stops_its_guns_only(
    stack: Runtime, down: Callable[[Runtime], None], to_stop: float
) -> None:
    station = stack.station
    loop = asyncio.get_running_loop()
    gun_a, gun_b = station.guns[A], station.guns[B]
    async with secc(url(stack, A)) as a, secc(url(stack, B)) as b:
        await charging(a)
        await charging(b)
        fed_b = gun_b.modules()
        assert {m.bus for m in gun_a.modules()} == {"can1"} and {m.bus for m in fed_b} == {"can2"}
        await asyncio.sleep(1.0)  # both settled at their targets
        setpoints = {m: station.power.modules[m].current_setpoint for m in fed_b}
        driven = gun_b.report().driven_current
        assert driven == 50.0 and sum(setpoints.values()) == 50.0

        async with watched(b) as statuses:
            down(stack)
            lost = loop.time()
            await a.until(lambda s: s["operationalStatus"] == "inoperative", 2.0, "gun A inoperative")
            await eventually(lambda: any(kind == "stopCharging" for _, kind in a.requests), what="stopCharging")
            asked = next(t for t, kind in a.requests if kind == "stopCharging") - lost
            assert "power_stage" in gun_a.faults and gun_a.report().driven_current == 0
            assert station.io.contactors.closed(A)  # held: can1's modules may still deliver
            await eventually(lambda: not station.io.contactors.closed(A), timeout=5.0, what="gun A opened")
            opened = loop.time() - lost
            assert opened >= WATCHDOG_MS / 1000  # not before the modules' own watchdog: they may still deliver
            # gun B through all of it: the same current, the same setpoints, charging, online
            while loop.time() - lost < opened + 1.0:
                assert gun_b.state is GunState.CHARGE and gun_b.report().driven_current == driven
                assert {m: station.power.modules[m].current_setpoint for m in fed_b} == setpoints
                assert all(station.power.modules[m].online for m in fed_b) and gun_b.modules() == fed_b
                await asyncio.sleep(0.01)
        times = [t for t, _ in statuses]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert max(gaps) <= STATUS_S + 0.01, gaps
        assert all(s["operationalStatus"] == "operative" and s["measuredCurrent"] > 45.0 for _, s in statuses)
        assert not [kind for _, kind in b.requests if kind == "stopCharging"]
    print(f"{down.__name__}: stopCharging at gun A {asked * 1000:.0f} ms after the loss, its contactors opened "
          f"after {opened:.2f} s; gun B's status gaps at most {max(gaps) * 1000:.0f} ms")
    assert asked == pytest.approx(to_stop, abs=0.001)
    assert ModuleId("can1", 1) not in fed_b
