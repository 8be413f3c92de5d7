"""The control API as an aiohttp application (see :mod:`.middleware` for the chain)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from pecc_plugins.ctl.keys import STATION
from pecc_plugins.ctl.middleware import MAX_BODY, json_errors, loopback_only
from pecc_plugins.ctl.routes import routes

if TYPE_CHECKING:
    from pecc_core.station import Station


def make_app(station: Station, *, allow_remote: bool = False) -> web.Application:
    """The control API for ``station``: the middleware chain and the routes.

    Other parts of the ops server add their routes to the returned
    application (``app.add_routes``) before it is started.
    """
    app = web.Application(
        middlewares=[json_errors, loopback_only(allow_remote)],
        client_max_size=MAX_BODY,
    )
    app[STATION] = station
    app.add_routes(routes)
    return app
