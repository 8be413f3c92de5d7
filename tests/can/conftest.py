"""Fixtures: a UU driver and simulated UU modules on one virtual bus; a spy bus."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import can
import pytest
from can_rig import StationView, core_profile, station_view

from pecc_plugins.modsim import SimParams
from pecc_plugins.modsim.service import ModSim
from pecc_plugins.uugreen import UuParams
from pecc_plugins.uugreen.driver import UuDriver

@dataclass
class Rig:
    driver: UuDriver
    sim: ModSim
    station: StationView
    channel: str


FAST_DRIVER = {"poll_ms": 40, "resend_ms": 200, "offline_ms": 500, "mode_switch_ms": 60, "status_every": 2,
               "reopen_min_ms": 20, "reopen_max_ms": 100}
FAST_SIM = {"tick_ms": 10, "watchdog_ms": 300, "slew_v_per_s": 5000.0, "thermal_tau_s": 0.2}


@pytest.fixture
def uu_rig(can_channel: str) -> Callable[..., Any]:
    """``async with uu_rig(...) as rig``: a started UU driver and simulator."""

    class _Ctx:
        def __init__(self, addresses: tuple[int, ...] = (1, 2, 3), assignment: dict[int, str | None] | None = None,
                     driver: dict[str, Any] | None = None, sim: dict[str, Any] | None = None,
                     sim_addresses: tuple[int, ...] | None = None) -> None:
            self.addresses = addresses
            self.assignment = assignment if assignment is not None else {1: "g1", 2: "g1", 3: "g2"}
            self.driver_params = {"channel": can_channel, "group": 1, **FAST_DRIVER, **(driver or {})}
            self.sim_params = {"channel": can_channel, "group": 1, **FAST_SIM, **(sim or {})}
            self.sim_addresses = sim_addresses or addresses

        async def __aenter__(self) -> Rig:
            profile = core_profile(self.addresses)
            station = station_view(core_profile(self.sim_addresses), self.assignment)
            driver = UuDriver(UuParams().load(self.driver_params), profile.power.modules)
            sim = ModSim(SimParams().load(self.sim_params), station)  # type: ignore[arg-type]
            await sim.start()
            await driver.start()
            self.rig = Rig(driver, sim, station, can_channel)
            return self.rig

        async def __aexit__(self, *exc: object) -> None:
            await self.rig.driver.stop()
            await self.rig.sim.stop()

    return _Ctx


@pytest.fixture
def spy_bus(can_channel: str) -> Iterator[can.BusABC]:
    """A third bus on the channel: sees every frame, sends frames of its own."""
    bus = can.Bus(interface="virtual", channel=can_channel)
    yield bus
    bus.shutdown()
