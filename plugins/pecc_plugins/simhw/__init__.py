"""Simulated hardware in its own process (``pecc sim-hw``), and the PECC's drivers for it.

The bench (:mod:`.bench`) runs a profile's simulated modules and I/O
apart from the PECC, on a CAN bus that spans processes
(:mod:`pecc_plugins.canbus.unixbus`) and an I/O link (:mod:`.wire`). On the
PECC side the I/O drivers named ``link`` (:mod:`.drivers`) fill every I/O
role, and the service ``simhw`` (:mod:`.service`) forwards the cars'
targets and the control API's fault injections. Profile ``sim-split``::

    [io]
    contactors = { name = "link", params = { channel = "pecc-sim-split" } }
    ...
    [[services]]
    name = "simhw"
    params = { channel = "pecc-sim-split", modsim = { protocol = "uugreen", ... } }
"""

from __future__ import annotations

from typing import Any

import typer
from marshmallow import fields

from pecc_core import hookimpl
from pecc_core.hookspecs import Register, RegisterIoDriver, ServiceFactory
from pecc_plugins.simhw.drivers import (
    LinkConnectorVoltage,
    LinkContactors,
    LinkEmergencyStop,
    LinkIsolationMonitor,
    LinkParams,
    LinkRelayMatrix,
    LinkSupervision,
)


class BenchParams(LinkParams):
    #: the bench's module simulator: the ``modsim`` service's params (read by ``pecc sim-hw``)
    modsim = fields.Dict(load_default=dict)
    #: a profile of several buses: one module simulator per bus (each with its ``bus``), instead of ``modsim``
    modsims = fields.List(fields.Dict(), load_default=list)


@hookimpl
def pecc_register_io_drivers(register: RegisterIoDriver) -> None:
    what = "over the I/O link to pecc sim-hw"
    register("contactors", "link", LinkContactors.from_profile, params=LinkParams, summary=f"contactors {what}")
    register("imd", "link", LinkIsolationMonitor.from_profile, params=LinkParams, summary=f"isolation monitor {what}")
    register("supervision", "link", LinkSupervision.from_profile, params=LinkParams, summary=f"CP/PP {what}")
    register("matrix", "link", LinkRelayMatrix.from_profile, params=LinkParams, summary=f"relay matrix {what}")
    register("estop", "link", LinkEmergencyStop.from_profile, params=LinkParams, summary=f"E-stop {what}")
    register(
        "connector", "link", LinkConnectorVoltage.from_profile, params=LinkParams,
        summary=f"connector voltage sensor {what}",
    )


def _bench_link(params: dict[str, Any], station: Any) -> Any:
    from pecc_plugins.simhw.service import BenchLink

    return BenchLink(params, station)


@hookimpl
def pecc_register_services(register: Register[ServiceFactory]) -> None:
    register("simhw", _bench_link, params=BenchParams, summary="the PECC's side of pecc sim-hw: cars, fault injection")


@hookimpl
def pecc_add_commands(app: typer.Typer) -> None:
    from pecc_plugins.simhw.command import sim_hw

    app.command("sim-hw")(sim_hw)
