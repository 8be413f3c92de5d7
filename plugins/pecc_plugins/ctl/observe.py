"""Routes for probes, Prometheus and the history (read only).

=======  ======================================  ==========================================
GET      /healthz                                200 while the event loop answers
GET      /readyz                                 200 once the station is started, its buses
                                                 open and a power module answers; else 503
GET      /metrics                                Prometheus text format (docs/metrics.md)
GET      /api/events?gun=&kind=&since=&after=&limit=   stored events, oldest first
GET      /api/sessions?gun=&since=&limit=        charging sessions, oldest first (a running
                                                 one with its energy so far, ``end`` null)
=======  ======================================  ==========================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from pecc_plugins.ctl import bodies
from pecc_plugins.ctl.keys import HISTORY, METRICS, RECORDER, STATION
from pecc_plugins.ctl.metrics import exposition
from pecc_plugins.ctl.middleware import error

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    station = request.app[STATION]
    modules = station.driver.modules.values()
    answering = sum(1 for m in modules if m.online)
    checks = {
        "started": request.app[RECORDER].started,
        "bus_open": bool(getattr(station.driver, "bus_ok", True)),
        "modules_answering": f"{answering}/{len(modules)}",
    }
    ready = checks["started"] and checks["bus_open"] and answering > 0
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = await exposition(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _query(request: web.Request, schema: bodies.Body) -> dict[str, Any]:
    try:
        return bodies.load(schema, dict(request.query))
    except bodies.BodyError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None


@routes.get("/api/events")
async def events(request: web.Request) -> web.Response:
    query = _query(request, bodies.EventsQuery())
    return web.json_response({"events": await request.app[HISTORY].events(**query)})


@routes.get("/api/sessions")
async def sessions(request: web.Request) -> web.Response:
    query = _query(request, bodies.HistoryQuery())
    recorder = request.app[RECORDER]
    running = {s["id"]: s for g in recorder.guns if (s := recorder.session_view(g)) is not None}
    stored = await request.app[HISTORY].sessions(**query)
    return web.json_response({"sessions": [running.get(s["id"], s) for s in stored]})
