"""Simulated I/O drivers: contactors, IMD, CP/PP supervision and relay matrix.

Registered under the name ``sim`` for every I/O role, so the ``sim``
profiles exercise the gun state machine as on hardware: the devices take
time (contactor closing, isolation test, relay switching) on the asyncio
loop, never blocking it. Faults are injected with plain methods on the
driver objects (``station.io.imd.inject(gun, Isolation.FAULT)``), used by
tests today and by the control API later.
"""

from __future__ import annotations

from pecc_core import hookimpl
from pecc_core.hookspecs import RegisterIoDriver
from pecc_plugins.simio.contactors import ContactorParams, SimContactors
from pecc_plugins.simio.imd import ImdParams, SimIsolationMonitor
from pecc_plugins.simio.matrix import MatrixParams, SimRelayMatrix
from pecc_plugins.simio.supervision import SimSupervision

__all__ = ["SimContactors", "SimIsolationMonitor", "SimRelayMatrix", "SimSupervision"]


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
        summary="simulated isolation monitor (test time = timings.cable_check_ms)",
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
