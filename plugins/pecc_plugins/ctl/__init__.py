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
  below; ``history``: their SQLite store; ``limits``: run-time limits kept
  across restarts; ``metrics``: the Prometheus text of a snapshot;
- ``client`` / ``command`` / ``tables``: the ``pecc ctl`` command line.

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
    from pecc_core.gun import Event, GunState

require("aiohttp", "prometheus_client")


@hookimpl
def pecc_register_services(register: Register[ServiceFactory]) -> None:
    from pecc_plugins.ctl.service import ControlService, CtlParams

    register("ctl", ControlService, params=CtlParams, summary="ops server: control API, metrics, history")


@hookimpl
def pecc_add_commands(app: Any) -> None:
    from pecc_plugins.ctl.command import ctl_app

    app.add_typer(ctl_app, name="ctl")


# -- observers: each finds the station's recorder (None: no ctl service there) ---------


def _recorder(thing: Any) -> Any:
    from pecc_plugins.ctl.recorder import recorder_of

    return recorder_of(thing)


@hookimpl
def pecc_station_started(station: Any) -> None:
    if (recorder := _recorder(station)) is not None:
        with recorder.guarded("station start"):
            recorder.station_started()


@hookimpl
def pecc_station_stopping(station: Any) -> None:
    if (recorder := _recorder(station)) is not None:
        with recorder.guarded("station stop"):
            recorder.station_stopping()


@hookimpl
def pecc_gun_state_changed(gun: Any, old: GunState, new: GunState, event: Event, reason: str) -> None:
    if (recorder := _recorder(gun)) is not None:
        with recorder.guarded("state change"):
            recorder.state_changed(gun, old, new, event, reason)


@hookimpl
def pecc_gun_fault(gun: Any, fault: str, active: bool) -> None:
    if (recorder := _recorder(gun)) is not None:
        with recorder.guarded("fault"):
            recorder.fault(gun, fault, active)


@hookimpl
def pecc_secc_connected(gun: Any, peer: str, subprotocol: str | None) -> None:
    if (recorder := _recorder(gun)) is not None:
        with recorder.guarded("SECC connect"):
            recorder.secc_connected(gun, peer, subprotocol)


@hookimpl
def pecc_secc_disconnected(gun: Any, reason: str) -> None:
    if (recorder := _recorder(gun)) is not None:
        with recorder.guarded("SECC disconnect"):
            recorder.secc_disconnected(gun, reason)


@hookimpl
def pecc_request_refused(gun: Any, kind: str, category: str, details: str) -> None:
    if (recorder := _recorder(gun)) is not None:
        with recorder.guarded("refusal"):
            recorder.request_refused(gun, kind, category, details)
