"""The ops server as an aiohttp application (see :mod:`.middleware` for the chain).

:func:`make_app` builds everything one station's ops server needs: the
history store, the recorder the observer hooks feed, the run-time limits
keeper, the metrics registry, and the routes of :mod:`.routes` (control)
and :mod:`.observe` (probes, metrics, history). Other parts of the ops
server (the dashboard) add their routes to the returned application
(``app.add_routes``) before it is started; they find the station and the
rest under the keys of :mod:`.keys`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from pecc_plugins.ctl import observe
from pecc_plugins.ctl.auth import Access, authenticate, same_site
from pecc_plugins.ctl.dashboard import add_dashboard
from pecc_plugins.ctl.history import History, Retention
from pecc_plugins.ctl.keys import ACCESS, HISTORY, LIMITS, METRICS, RECORDER, STATION
from pecc_plugins.ctl.limits import LimitsKeeper
from pecc_plugins.ctl.metrics import registry_for
from pecc_plugins.ctl.middleware import MAX_BODY, audit, json_errors, loopback_only
from pecc_plugins.ctl.recorder import Recorder
from pecc_plugins.ctl.routes import routes
from pecc_plugins.ctl.signin import add_signin

if TYPE_CHECKING:
    from pathlib import Path

    from pecc_core.station import Station


def make_app(
    station: Station,
    history_path: Path,
    retention: Retention,
    *,
    allow_remote: bool = False,
    access: Access | None = None,
) -> web.Application:
    """The ops server of ``station``, its history kept at ``history_path``.

    ``access``: tokens and host names (default: no tokens, loopback names).
    """
    access = access or Access((), frozenset(), any_host=False)
    history = History(history_path, retention)
    recorder = Recorder(station, history)
    keeper = LimitsKeeper(station, history, recorder)
    recorder.on_started.append(keeper.restore)
    app = web.Application(
        middlewares=[
            json_errors,
            loopback_only(allow_remote),
            same_site(access),
            authenticate(access),
            audit(recorder.operator),
        ],
        client_max_size=MAX_BODY,
    )
    app[ACCESS] = access
    app[STATION] = station
    app[HISTORY] = history
    app[RECORDER] = recorder
    app[LIMITS] = keeper
    app[METRICS] = registry_for(station, recorder, history)
    app.add_routes(routes)
    app.add_routes(observe.routes)
    add_dashboard(app)
    add_signin(app)
    app.on_startup.append(_open_history)
    app.on_cleanup.append(_close_history)
    return app


async def _open_history(app: web.Application) -> None:
    app[LIMITS].saved = await app[HISTORY].open() or {}


async def _close_history(app: web.Application) -> None:
    await app[RECORDER].stop()
    await app[HISTORY].close()
