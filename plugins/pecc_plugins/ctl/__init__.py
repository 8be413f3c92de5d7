"""The ops server of a running PECC (service ``ctl``) and ``pecc ctl``.

- ``service``: the ``ctl`` service a profile lists under ``[[services]]``;
  ``opsthread``: the ops server's own thread and loop (it never shares the
  station's); ``snapshot``: what it reads of the station, published by the
  station's loop; ``bridge``: its writes, run on the station's loop as
  commands, and the events it streams; ``gate``: its bounds (503 beyond);
- ``app``: the aiohttp application (``middleware``: errors as JSON, the
  loopback rule, the audit of operator actions);
- ``reads``: guns, modules, run-time limits from the snapshot; ``routes``:
  the writes (run-time limits, SECC requests, sim faults); ``observe``:
  ``/healthz``, ``/readyz``, ``/metrics``, history; ``dashboard``: the
  live page;
- ``recorder``: events, energy and sessions, fed by the observer hooks
  (``observers``: registered with the station's plugin manager while the
  service runs); ``history``: their SQLite store, which tells the other
  plugins what it recorded (``pecc_event_recorded``,
  ``pecc_session_recorded``); ``limits``: run-time limits kept across
  restarts; ``metrics``: the Prometheus text of a snapshot;
- ``flight``: the flight recorder, the last seconds of CAN and PEP-WS
  traffic and of each gun (``ring``), written as an incident when a gun
  faults (``incidents``: the files, listed and zipped for the API);
- ``client`` / ``command`` / ``tables``: the ``pecc ctl`` command line;
- ``replay``: ``pecc replay``, an incident's SECC side played again against a station;
- ``doctor``: what ``pecc doctor`` checks for it (port, TLS files, state directory).

The ops server's packages come with ``pip install pecc[ops]``: without
them this plugin does not load, and a profile with the ``ctl`` service or
a ``pecc ctl`` command says to install them.

See docs/control-api.md and docs/metrics.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pecc_core import hookimpl
from pecc_core.extras import require
from pecc_core.hookspecs import Register, ServiceFactory

if TYPE_CHECKING:
    from pecc_core.doctor import Check
    from pecc_core.profile.model import Profile

require("aiohttp", "prometheus_client")


@hookimpl
def pecc_register_services(register: Register[ServiceFactory]) -> None:
    from pecc_plugins.ctl.service import ControlService, CtlParams

    register("ctl", ControlService, params=CtlParams, summary="ops server: control API, metrics, history")


@hookimpl
def pecc_doctor_checks(profile: Profile) -> list[Check]:
    from pecc_plugins.ctl.doctor import checks

    return [
        check
        for index, service in enumerate(profile.services)
        if service.name == "ctl"
        for check in checks(profile, index, service.params)
    ]


@hookimpl
def pecc_add_commands(app: Any) -> None:
    from pecc_plugins.ctl.command import ctl_app
    from pecc_plugins.ctl.replay.command import replay

    app.add_typer(ctl_app, name="ctl")
    app.command("replay")(replay)
