"""The ops server as an aiohttp application (see :mod:`.middleware` for the chain).

The application runs on the ops server's own thread (:mod:`.opsthread`),
never on the station's loop. :func:`make_app` wires it to the station's
side (:class:`Backend`, built and started by the service on the station's
loop):

- reads (:mod:`.reads`, :mod:`.observe`'s probes and metrics, the
  dashboard) answer from the station's published snapshot
  (:mod:`.snapshot`); the history's reads open their own connections, the
  incidents' read their files in a thread;
- the control routes of :mod:`.routes` are commands: each request's body
  is read on the ops loop, then its handler runs on the station's loop
  through :class:`~.bridge.Commands` (at most ``max_commands`` at once,
  503 beyond), and so does the audit's record of it.

Other parts of the ops server (the dashboard) add their routes to the
returned application; they find what they need under the keys of
:mod:`.keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web

from pecc_plugins.ctl import observe, reads
from pecc_plugins.ctl.auth import Access, authenticate, same_site
from pecc_plugins.ctl.dashboard import add_dashboard
from pecc_plugins.ctl.gate import Gate
from pecc_plugins.ctl.keys import (
    ACCESS,
    COMMANDS,
    HISTORY,
    HISTORY_READS,
    INCIDENTS,
    LIMITS,
    PUBLISHER,
    RECORDER,
    SCRAPES,
    STATION,
)
from pecc_plugins.ctl.middleware import MAX_BODY, audit, json_errors, loopback_only
from pecc_plugins.ctl.routes import routes
from pecc_plugins.ctl.signin import add_signin

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

    from pecc_core.station import Station
    from pecc_plugins.ctl.bridge import Commands
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.incidents import IncidentStore
    from pecc_plugins.ctl.limits import LimitsKeeper
    from pecc_plugins.ctl.recorder import Recorder
    from pecc_plugins.ctl.snapshot import Publisher


@dataclass(frozen=True)
class Backend:
    """The station's side of the ops server: its objects are the station loop's (commands only)."""

    station: Station
    history: History
    recorder: Recorder
    limits: LimitsKeeper
    publisher: Publisher
    commands: Commands
    incidents: IncidentStore


@dataclass(frozen=True)
class Bounds:
    """How many heavy requests the ops server serves at once (:mod:`.gate`)."""

    max_scrapes: int
    max_streams: int
    max_history_reads: int


def make_app(
    backend: Backend, bounds: Bounds, *, allow_remote: bool = False, access: Access | None = None
) -> web.Application:
    """The ops server of ``backend``'s station.

    ``access``: tokens and host names (default: no tokens, loopback names).
    """
    access = access or Access((), frozenset(), any_host=False)
    commands = backend.commands
    app = web.Application(
        middlewares=[
            json_errors,
            loopback_only(allow_remote),
            same_site(access),
            authenticate(access),
            audit(partial(commands.post, backend.recorder.operator)),
        ],
        client_max_size=MAX_BODY,
    )
    app[ACCESS] = access
    app[STATION] = backend.station
    app[HISTORY] = backend.history
    app[INCIDENTS] = backend.incidents
    app[RECORDER] = backend.recorder
    app[LIMITS] = backend.limits
    app[PUBLISHER] = backend.publisher
    app[COMMANDS] = commands
    app[SCRAPES] = Gate("/metrics scrapes", bounds.max_scrapes)
    app[HISTORY_READS] = Gate("history reads", bounds.max_history_reads)
    app.add_routes(
        web.route(r.method, r.path, on_station(r.handler), **r.kwargs) for r in routes if isinstance(r, web.RouteDef)
    )
    app.add_routes(reads.routes)
    app.add_routes(observe.routes)
    add_dashboard(app, bounds.max_streams)
    add_signin(app)
    return app


def on_station(handler: Handler) -> Handler:
    """``handler`` as a command: the body read here, on the ops loop; the handler run on the station's loop.

    The handler finds the body read (``request.read`` returns it at once)
    and touches nothing of the request that belongs to the ops loop.
    """

    async def command(request: web.Request) -> web.StreamResponse:
        await request.read()
        return await request.app[COMMANDS].run(partial(handler, request))

    return command
