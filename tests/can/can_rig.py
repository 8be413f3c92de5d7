"""Pieces for the CAN tests: the simulator's view of a station, and waiting.

Until the ``gun`` branch's simulated I/O lands, the simulator's view of the
station is built from real core objects (a validated core profile, real
:class:`ChargePoint` objects) plus two small doubles for the relay matrix
and the contactors that follow :mod:`pecc_core.io`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pecc_core.chargepoint import ChargePoint
from pecc_core.profile import schema
from pecc_core.profile.model import Profile

GUNS = ("g1", "g2")


class Matrix:
    """RelayMatrix double: modules sit where the test puts them."""

    def __init__(self, assignment: dict[int, str | None]) -> None:
        self.assignment = assignment

    async def connect(self, module: int, gun: str | None) -> None:
        self.assignment[module] = gun

    def gun_of(self, module: int) -> str | None:
        return self.assignment.get(module)


class Contactors:
    """Contactors double: closed when the test says so."""

    def __init__(self) -> None:
        self.state: dict[str, bool] = {}

    async def set(self, gun: str, closed: bool) -> None:
        self.state[gun] = closed

    def closed(self, gun: str) -> bool:
        return self.state.get(gun, False)


@dataclass
class Io:
    matrix: Matrix
    contactors: Contactors


@dataclass
class StationView:
    """What the simulator reads of a station."""

    profile: Profile
    io: Io
    guns: dict[str, ChargePoint] = field(default_factory=dict)


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
        "power": {"driver": {"name": driver}, "modules": [m if isinstance(m, dict) else {"address": m} for m in modules]},
    }
    return schema.build(raw, name="can-test", source=Path("can-test.toml"))


def station_view(profile: Profile, assignment: dict[int, str | None]) -> StationView:
    station = StationView(profile, Io(Matrix(assignment), Contactors()))
    station.guns = {g.id: ChargePoint(g, station) for g in profile.guns}  # type: ignore[arg-type]
    return station



async def eventually(predicate: Callable[[], bool], timeout: float = 3.0, what: str = "") -> None:
    """Wait until ``predicate()`` holds; loose bounds, never a timing assert."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


