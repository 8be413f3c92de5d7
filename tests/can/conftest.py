"""Fixtures: a vendor driver and simulated modules on one virtual bus; a spy bus."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import can
import pytest

from pecc_core.station import Station
from pecc_plugins.modsim import SimParams
from pecc_plugins.modsim.service import ModSim

from .can_rig import DRIVERS, core_profile, sim_station

#: Driver and simulator share a timed virtual bus: both are read on the loop (no reader thread),
#: so the test's virtual clock is the bus's, and a starved test process cannot make a module silent.
TIMED = {"interface": "timedvirtual", "bitrate": 125_000}
#: Short periods so that silence, watchdogs and recovery happen within a second.
FAST_DRIVER = {**TIMED, "poll_ms": 40, "idle_poll_ms": 100, "status_ms": 80, "temperature_ms": 200,
               "resend_ms": 200, "offline_ms": 500, "reopen_min_ms": 20, "reopen_max_ms": 100}
FAST_SIM = {**TIMED, "tick_ms": 10, "watchdog_ms": 300, "slew_v_per_s": 5000.0, "thermal_tau_s": 0.2}


@dataclass
class Rig:
    driver: Any
    sim: ModSim
    station: Station
    channel: str


@pytest.fixture
def rig(can_channel: str) -> Callable[..., Any]:
    """``async with rig(protocol, ...) as r``: a started driver and simulator.

    :param modules: the driver's profile modules (addresses or module tables).
    :param sim_modules: the simulator's modules, if they differ (ratings,
        extra addresses).
    """

    class _Rig:
        def __init__(
            self,
            protocol: str = "uugreen",
            modules: tuple[Any, ...] = (1, 2, 3),
            assignment: dict[int, str | None] | None = None,
            driver: dict[str, Any] | None = None,
            sim: dict[str, Any] | None = None,
            sim_modules: tuple[Any, ...] | None = None,
        ) -> None:
            params, self.driver_class, extra = DRIVERS[protocol]
            self.driver_params = params().load({"channel": can_channel, **FAST_DRIVER, **extra, **(driver or {})})
            group = extra.get("group", 0)
            self.sim_params = SimParams().load(
                {"channel": can_channel, "protocol": protocol, "group": group, **FAST_SIM, **(sim or {})}
            )
            self.modules = modules
            self.sim_modules = sim_modules or modules
            self.assignment = assignment if assignment is not None else {1: "g1", 2: "g1", 3: "g2"}

        async def __aenter__(self) -> Rig:
            # the simulator sees the station of its own profile: its modules may differ
            # from the driver's (ratings, extra addresses)
            driver = self.driver_class(self.driver_params, core_profile(self.modules).power.modules)
            station = await sim_station(core_profile(self.sim_modules), driver, self.assignment)
            sim = ModSim(self.sim_params, station)
            await sim.start()
            await driver.start()
            # the simulator runs on the loop: no thread reads its bus (nor the driver's)
            assert not sim.link._reader.threaded and not driver.link._reader.threaded
            self.rig = Rig(driver, sim, station, can_channel)
            return self.rig

        async def __aexit__(self, *exc: object) -> None:
            await self.rig.driver.stop()
            await self.rig.sim.stop()

    return _Rig


@pytest.fixture
def spy_bus(can_channel: str) -> Iterator[can.BusABC]:
    """A third bus on the channel: sees every frame, sends frames of its own.

    A plain ``virtual`` bus that the test reads itself (``recv(0)``, never a
    blocking ``recv`` on the loop: the timed wire delivers on the loop); its
    own frames skip the wire and reach the timed nodes at once.
    """
    bus = can.Bus(interface="virtual", channel=can_channel)
    yield bus
    bus.shutdown()
