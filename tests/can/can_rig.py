"""Pieces for the CAN tests: a real station for the simulator to look at, and waiting.

The simulator reads the station's profile, relay matrix, contactors and
guns. These tests build a real :class:`Station` around the driver under
test with the simulated I/O drivers, but do not start it: its control loop
would deal modules to guns by policy, while these tests put each module
where they need it (``station.io.matrix.connect``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pecc_core.plugins import default_manager
from pecc_core.power import PowerDriver
from pecc_core.profile import schema
from pecc_core.profile.model import Profile
from pecc_core.station import Io, Station
from pecc_plugins.canbus.moduledriver import ModuleDriver
from pecc_plugins.infy import InfyParams
from pecc_plugins.infy.driver import InfyDriver
from pecc_plugins.policies.static import make_static
from pecc_plugins.simio import (
    SimContactors,
    SimIsolationMonitor,
    SimRelayMatrix,
    SimSupervision,
)
from pecc_plugins.uugreen import UuParams
from pecc_plugins.uugreen.driver import UuDriver

GUNS = ("g1", "g2")

#: params schema, driver class and test params of each vendor driver
DRIVERS: dict[str, tuple[type, type[ModuleDriver], dict[str, Any]]] = {
    "uugreen": (UuParams, UuDriver, {"group": 1, "mode_switch_ms": 60}),
    "infy": (InfyParams, InfyDriver, {}),
}


def core_profile(modules: tuple[int | dict[str, Any], ...], driver: str = "uugreen") -> Profile:
    """A profile validated by the core schema: two guns and ``modules`` (addresses or tables)."""
    raw: dict[str, Any] = {
        "seccs": [
            {
                "id": "secc1",
                "guns": [
                    {"id": g, "voltage_max": 1000, "current_max": 200, "power_max": 120000} for g in GUNS
                ],
            }
        ],
        "power": {
            "driver": {"name": driver},
            "modules": [m if isinstance(m, dict) else {"address": m} for m in modules],
        },
        "io": {role: {"name": "sim"} for role in ("contactors", "imd", "supervision", "matrix")},
    }
    return schema.build(raw, name="can-test", source=Path("can-test.toml"))


async def sim_station(profile: Profile, driver: PowerDriver, assignment: dict[int, str | None]) -> Station:
    """A station (not started) on simulated I/O, modules switched as ``assignment`` says."""
    io = Io(
        contactors=SimContactors(closing_ms=1, opening_ms=1),
        imd=SimIsolationMonitor(profile.timings.cable_check_ms),
        supervision=SimSupervision(),
        matrix=SimRelayMatrix(switching_ms=0),
    )
    station = Station(profile, default_manager(), driver, io, make_static({}))
    for address, gun in assignment.items():
        await io.matrix.connect(address, gun)
    return station
