"""Routes for probes, Prometheus and the history (read only), on the ops thread.

=======  ======================================  ==========================================
GET      /healthz                                200 while the ops server answers
GET      /readyz                                 200 once the saved limits are restored, the
                                                 station is started, its buses open and a
                                                 power module answers; else 503
GET      /metrics                                Prometheus text format (docs/metrics.md)
GET      /api/events?gun=&kind=&since=&after=&limit=   stored events, oldest first
GET      /api/sessions?gun=&since=&limit=        charging sessions, oldest first (a running
                                                 one with its energy so far, ``end`` null)
GET      /api/incidents                          the flight recorder's incidents, newest first
GET      /api/incidents/{id}                     one incident's files as a zip archive
GET      /api/incidents/{id}/timeline            one incident's timeline, causes and window (JSON)
=======  ======================================  ==========================================

``/metrics`` and the history and incident reads are bounded (:mod:`.gate`):
at most ``max_scrapes`` scrapes and ``max_history_reads`` history reads at
once, 503 beyond. The probes are never bounded. The incidents are files
(:mod:`.incidents`), read in a thread, off the ops loop.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from pecc_plugins.ctl import bodies
from pecc_plugins.ctl.keys import HISTORY, HISTORY_READS, INCIDENTS, PUBLISHER, SCRAPES
from pecc_plugins.ctl.metrics import exposition
from pecc_plugins.ctl.middleware import error
from pecc_plugins.ctl.reads import latest

if TYPE_CHECKING:
    from pecc_plugins.ctl.incidents import IncidentStore

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    snapshot = await request.app[PUBLISHER].current()
    if snapshot is None:
        return web.json_response({"ready": False, "status": "not ready", "checks": {}}, status=503)
    answering = sum(1 for m in snapshot.modules if m["online"])
    checks = {
        "started": snapshot.started,
        "bus_open": snapshot.bus_ok,
        "modules_answering": f"{answering}/{len(snapshot.modules)}",
    }
    ready = snapshot.started and snapshot.bus_ok and answering > 0
    return web.json_response(
        {"ready": ready, "status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """The text of the latest snapshot; a scrape holds its place until its text is handed to the kernel."""
    with request.app[SCRAPES].admit():
        response = web.Response(body=exposition(await latest(request)), headers={"Content-Type": CONTENT_TYPE_LATEST})
        await response.prepare(request)
        await response.write_eof()
        return response


def _query(request: web.Request, schema: bodies.Body) -> dict[str, Any]:
    try:
        return bodies.load(schema, dict(request.query))
    except bodies.BodyError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None


@routes.get("/api/events")
async def events(request: web.Request) -> web.Response:
    query = _query(request, bodies.EventsQuery())
    with request.app[HISTORY_READS].admit():
        return web.json_response({"events": await request.app[HISTORY].events(**query)})


@routes.get("/api/sessions")
async def sessions(request: web.Request) -> web.Response:
    query = _query(request, bodies.HistoryQuery())
    running = {g.session.id: g.session for g in (await latest(request)).guns if g.session is not None}
    with request.app[HISTORY_READS].admit():
        stored = await request.app[HISTORY].sessions(**query)
    # a running session with its energy so far, as the station's snapshot has it
    return web.json_response({"sessions": [asdict(running[s["id"]]) if s["id"] in running else s for s in stored]})


@routes.get("/api/incidents")
async def incidents(request: web.Request) -> web.Response:
    with request.app[HISTORY_READS].admit():
        found = await asyncio.to_thread(request.app[INCIDENTS].list)
    return web.json_response({"incidents": found})


def _unknown(incident_id: str) -> web.HTTPError:
    return error(web.HTTPNotFound, f"no incident {incident_id!r} (GET /api/incidents lists them)")


@routes.get("/api/incidents/{id}")
async def incident(request: web.Request) -> web.Response:
    incident_id = request.match_info["id"]
    with request.app[HISTORY_READS].admit():
        archive = await asyncio.to_thread(request.app[INCIDENTS].archive, incident_id)
    if archive is None:
        raise _unknown(incident_id)
    return web.Response(
        body=archive, content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{incident_id}.zip"'},
    )


@routes.get("/api/incidents/{id}/timeline")
async def incident_timeline(request: web.Request) -> web.Response:
    """What the dashboard draws an incident's chart from: read and encoded in a thread (it may be megabytes)."""
    incident_id = request.match_info["id"]
    with request.app[HISTORY_READS].admit():
        body = await asyncio.to_thread(_timeline_json, request.app[INCIDENTS], incident_id)
    if body is None:
        raise _unknown(incident_id)
    return web.Response(body=body, content_type="application/json")


def _timeline_json(store: IncidentStore, incident_id: str) -> bytes | None:
    found = store.timeline(incident_id)
    return None if found is None else json.dumps(found, separators=(",", ":")).encode()
