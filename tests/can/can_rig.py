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

import can

from pecc_core.plugins import default_manager
from pecc_core.power import ModuleId, PowerDriver
from pecc_core.profile import schema
from pecc_core.profile.model import Profile
from pecc_core.stage import PowerStage
from pecc_core.station import Io, Station
from pecc_core.testing import eventually
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
    """A station (not started) of one bus on simulated I/O, modules (by address) switched as ``assignment`` says."""
    io = Io(
        contactors=SimContactors(closing_ms=1, opening_ms=1),
        imd=SimIsolationMonitor(profile.timings.cable_check_ms),
        supervision=SimSupervision(),
        matrix=SimRelayMatrix(switching_ms=0),
    )
    (bus,) = profile.power.buses
    station = Station(profile, default_manager(), PowerStage({bus.name: driver}), io, make_static({}))
    for address, gun in assignment.items():
        await io.matrix.connect(ModuleId(bus.name, address), gun)
    return station


def wire_bits(ident: int, data: bytes) -> int:
    """Bits of an extended data frame on the wire: the CAN 2.0B frame format, stuff bits included.

    Written here from the frame format (ISO 11898-1), not taken from the code
    under test: SOF, identifier A (11), SRR, IDE, identifier B (18), RTR,
    r1 r0, DLC (4), data, CRC-15 (polynomial 0x4599); after five equal bits
    a complementary stuff bit, up to the end of the CRC; then CRC delimiter
    1, ACK 2, EOF 7 and 3 bits of intermission. CAN-PROTOCOLS.md: an 8-byte
    frame takes about 1 ms at 125 kbit/s.
    """
    fields = f"0{ident >> 18:011b}11{ident & 0x3FFFF:018b}000{len(data):04b}" + "".join(f"{b:08b}" for b in data)
    crc = 0
    for bit in fields:
        crc = ((crc << 1) & 0x7FFF) ^ (0x4599 if (crc >> 14) ^ int(bit) else 0)
    sent: list[str] = []
    for bit in fields + f"{crc:015b}":
        sent.append(bit)
        if len(sent) >= 5 and len(set(sent[-5:])) == 1:
            sent.append("1" if bit == "0" else "0")
    return len(sent) + 1 + 2 + 7 + 3


async def spied(bus: can.BusABC, n: int, timeout: float = 3.0) -> list[can.Message]:
    """The next ``n`` frames a plain ``virtual`` spy sees, read with ``recv(0)`` between the loop's turns."""
    frames: list[can.Message] = []

    def read() -> bool:
        while len(frames) < n and (msg := bus.recv(0)) is not None:
            frames.append(msg)
        return len(frames) >= n

    await eventually(read, timeout, what=lambda: f"{n} frames, got {len(frames)}")
    return frames
