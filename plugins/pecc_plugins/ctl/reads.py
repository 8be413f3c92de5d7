"""The control API's reads, answered from the station's published snapshot (:mod:`.snapshot`).

=======  ======================================  ==========================================
GET      /api/guns                               every gun (:func:`.snapshot.gun_view`)
GET      /api/guns/{gun}                         one gun
GET      /api/modules                            every power module
GET      /api/limits                             run-time limits
=======  ======================================  ==========================================

A read never touches the station: it answers with a snapshot at most one
status period old, and newer than the last transition, fault, module
change and command (see :mod:`.snapshot` for when one is published).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from pecc_plugins.ctl.keys import PUBLISHER
from pecc_plugins.ctl.middleware import error
from pecc_plugins.ctl.snapshot import views_of

if TYPE_CHECKING:
    from pecc_plugins.ctl.snapshot import Snapshot

routes = web.RouteTableDef()


async def latest(request: web.Request) -> Snapshot:
    """The snapshot to answer with (:meth:`~.snapshot.Publisher.current`); 503 before the first."""
    snapshot = await request.app[PUBLISHER].current()
    if snapshot is None:
        raise error(web.HTTPServiceUnavailable, "the station has not published its state yet")
    return snapshot


@routes.get("/api/guns")
async def guns(request: web.Request) -> web.Response:
    return web.json_response({"guns": list(views_of(await latest(request)).values())})


@routes.get("/api/guns/{gun}")
async def gun(request: web.Request) -> web.Response:
    views = views_of(await latest(request))
    gun_id = request.match_info["gun"]
    if gun_id not in views:
        raise error(web.HTTPNotFound, f"no gun {gun_id!r}; guns: {sorted(views)}")
    return web.json_response(views[gun_id])


@routes.get("/api/modules")
async def modules(request: web.Request) -> web.Response:
    return web.json_response({"modules": list((await latest(request)).modules)})


@routes.get("/api/limits")
async def limits(request: web.Request) -> web.Response:
    return web.json_response((await latest(request)).limits)
