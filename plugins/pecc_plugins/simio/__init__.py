"""Simulated I/O drivers: contactors, IMD, CP/PP supervision, relay matrix, E-stop, connector voltage.

Registered under the name ``sim`` for every I/O role, so the ``sim``
profiles exercise the gun state machine as on hardware: the devices take
time (contactor closing, isolation test, relay switching) on the asyncio
loop, never blocking it. Faults are injected with plain methods on the
driver objects (``station.io.imd.inject(gun, Isolation.FAULT)``), used by
tests and by the control API. :func:`wire` connects them as a cabinet's
wiring does (CP/PP ANDed with the contactor command, the IMD's voltage
inputs on the connector).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core import hookimpl
from pecc_core.doctor import SIMULATED, Check, ok
from pecc_core.hookspecs import RegisterIoDriver
from pecc_core.io import IO_ROLES
from pecc_plugins.simio.connector import SimConnectorVoltage
from pecc_plugins.simio.contactors import ContactorParams, SimContactors
from pecc_plugins.simio.estop import SimEmergencyStop
from pecc_plugins.simio.imd import ImdParams, SimIsolationMonitor
from pecc_plugins.simio.matrix import MatrixParams, SimRelayMatrix
from pecc_plugins.simio.supervision import SimSupervision

if TYPE_CHECKING:
    from pecc_core.io import Io
    from pecc_core.profile.model import Profile
    from pecc_core.station import Station

__all__ = [
    "SimConnectorVoltage",
    "SimContactors",
    "SimEmergencyStop",
    "SimIsolationMonitor",
    "SimRelayMatrix",
    "SimSupervision",
    "wire",
]


def wire(io: Io) -> None:
    """Connect the simulated drivers among ``io`` as the cabinet's wiring would."""
    if isinstance(io.contactors, SimContactors) and isinstance(io.supervision, SimSupervision):
        io.contactors.interlock = io.supervision.allowed
    if isinstance(io.imd, SimIsolationMonitor) and isinstance(io.connector, SimConnectorVoltage):
        io.imd.follow(io.connector.voltage)


@hookimpl
def pecc_station_started(station: Station) -> None:
    wire(station.io)


@hookimpl
def pecc_doctor_checks(profile: Profile) -> list[Check]:
    """``pecc doctor``: simulated I/O has nothing on the machine to check; one row says so."""
    roles = [role for role in IO_ROLES if (choice := getattr(profile.io, role)) is not None and choice.name == "sim"]
    if not roles:
        return []
    return [Check("io", lambda: [ok("io", f"{', '.join(roles)}: {SIMULATED}")])]


@hookimpl
def pecc_register_io_drivers(register: RegisterIoDriver) -> None:
    register(
        "contactors",
        "sim",
        SimContactors.from_profile,
        params=ContactorParams,
        summary="simulated output contactors with closing/opening delay and feedback",
    )
    register(
        "imd",
        "sim",
        SimIsolationMonitor.from_profile,
        params=ImdParams,
        summary="simulated isolation monitor: per-gun resistance, self-test (timings.cable_check_ms), samples",
    )
    register(
        "estop",
        "sim",
        SimEmergencyStop.from_profile,
        summary="simulated emergency-stop input (station-wide or per gun)",
    )
    register(
        "connector",
        "sim",
        SimConnectorVoltage.from_profile,
        summary="simulated voltage sensor at the connector (the module simulator's gun node)",
    )
    register(
        "supervision",
        "sim",
        SimSupervision.from_profile,
        summary="simulated CP/PP supervision (allowed unless told otherwise per gun)",
    )
    register(
        "matrix",
        "sim",
        SimRelayMatrix.from_profile,
        params=MatrixParams,
        summary="simulated module relay matrix with switching delay",
    )
