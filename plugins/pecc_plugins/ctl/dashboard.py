"""The live dashboard of the ops server: ``GET /`` and its Server-Sent Events feed.

``GET /`` serves a plain HTML/CSS/JS page (package data under ``static/``,
no build step, nothing from a CDN); when the API has tokens, a request
without one gets the sign-in page of :mod:`.signin` instead. The page opens ``GET /api/live``, a
``text/event-stream`` of two event types:

- ``snapshot``: every gun (as ``/api/guns``: with its energy and open
  session), every module, site power against the cap; sent every
  :data:`SNAPSHOT_INTERVAL` and soon after anything is recorded (at most one
  per :data:`EVENT_PUSH_GAP`), so a fault reaches the screen without
  waiting a tick;
- ``event``: each event as the history records it (state transitions,
  faults raised and cleared, SECC connects and disconnects, refusals,
  sessions, limits, operator actions), in the shape of ``/api/events``;
  the latest :data:`RECENT_EVENTS` from the history first, so a page
  opened after a restart still shows what happened before it.

A snapshot is encoded once and handed to every client; a client that falls
behind skips snapshots (its queue keeps only the newest) rather than
making the station buffer for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pecc_core.asyncutil import cancel
from pecc_core.clock import wall
from pecc_plugins.ctl.keys import ACCESS, HISTORY, RECORDER, STATION
from pecc_plugins.ctl.middleware import TOKEN_NAME
from pecc_plugins.ctl.sessions import SIGNED_IN
from pecc_plugins.ctl.signin import signin_page
from pecc_plugins.ctl.views import gun_view, modules_view

if TYPE_CHECKING:
    from pecc_core.station import Station
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.recorder import Recorder

log = logging.getLogger(__name__)

#: How often a snapshot is pushed while nothing happens (s).
SNAPSHOT_INTERVAL = 0.5
#: The shortest time between two snapshots pushed for events (s): 72 guns
#: changing state one after the other cost one snapshot (~4 ms) per gap, not per change.
EVENT_PUSH_GAP = 0.1
#: Events from the history a new client gets first.
RECENT_EVENTS = 50
#: Encoded messages a slow client may have waiting before its oldest are dropped.
CLIENT_BACKLOG = 64

STATIC = Path(str(resources.files("pecc_plugins.ctl") / "static"))
#: The page, and the page with its sign-out button (for a browser signed in by cookie).
PAGE = (STATIC / "dashboard.html").read_text()
SIGNED_IN_PAGE = PAGE.replace('<form id="signout" hidden', '<form id="signout"', 1)


class LiveFeed:
    """The station as a stream: snapshots on a timer, events as the history records them."""

    def __init__(self, station: Station, recorder: Recorder, history: History) -> None:
        self.station = station
        self.recorder = recorder
        self.history = history
        self._clients: set[asyncio.Queue[bytes | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._push_soon = False
        self._pushed = 0.0  # loop time of the last snapshot pushed

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, app: web.Application) -> None:
        self.history.listeners.append(self._event)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dashboard-feed")

    async def stop(self, app: web.Application) -> None:
        """Ends every open stream (else the server waits for them) and stops listening."""
        self.history.listeners.remove(self._event)
        if self._task is not None:
            await cancel(self._task)
        for queue in self._clients:
            _offer(queue, None)

    # -- pushing ------------------------------------------------------------------

    def _event(self, event: dict[str, Any]) -> None:
        if not self._clients:
            return
        message = _sse("event", event)
        for queue in self._clients:
            _offer(queue, message)
        if not self._push_soon:
            self._push_soon = True
            loop = asyncio.get_running_loop()
            loop.call_at(max(loop.time(), self._pushed + EVENT_PUSH_GAP), self._push)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL)
            if self._clients:
                self._push()

    def _push(self) -> None:
        self._push_soon = False
        self._pushed = asyncio.get_running_loop().time()
        message = _sse("snapshot", self.snapshot())
        for queue in self._clients:
            _offer(queue, message)

    def snapshot(self) -> dict[str, Any]:
        """Guns (with energy and open session), modules and the site's power and cap."""
        summary = self.recorder.gun_summary
        guns = [{**gun_view(gun), **summary(gun.id)} for gun in self.station.guns.values()]
        return {
            "station": self.station.profile.station.name,
            "time": wall(),
            "site": {
                "power_w": sum(g["power_w"] for g in guns),
                "max_power_w": self.station.pool.view.site_power_max,
            },
            "guns": guns,
            "modules": modules_view(self.station),
        }

    # -- clients ------------------------------------------------------------------

    async def subscribe(self) -> asyncio.Queue[bytes | None]:
        """A new client's queue: the history's latest events and a snapshot are already in it."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=RECENT_EVENTS + CLIENT_BACKLOG)
        since = wall()
        self._clients.add(queue)  # from now on live events queue up behind the history's
        try:
            recent = [e for e in await self.history.events(limit=RECENT_EVENTS) if e["ts"] < since]
        except sqlite3.Error as exc:  # the page still works live without the past
            log.warning("dashboard: cannot read the history: %s", exc)
            recent = []
        live = [queue.get_nowait() for _ in range(queue.qsize())]
        for message in (*(_sse("event", e) for e in recent), _sse("snapshot", self.snapshot()), *live):
            _offer(queue, message)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._clients.discard(queue)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


def _offer(queue: asyncio.Queue[bytes | None], message: bytes | None) -> None:
    """Queue ``message`` for one client, dropping its oldest if it is behind."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(message)


FEED: web.AppKey[LiveFeed] = web.AppKey("pecc_live_feed")


async def page(request: web.Request) -> web.Response:
    """The dashboard; the sign-in page instead when the API has tokens and the request none."""
    if request.app[ACCESS].tokens and TOKEN_NAME not in request:
        return signin_page()
    text = SIGNED_IN_PAGE if SIGNED_IN in request else PAGE
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})


async def live(request: web.Request) -> web.StreamResponse:
    """The ``text/event-stream`` of snapshots and events, until the client, the server or its sign-in goes."""
    feed, access = request.app[FEED], request.app[ACCESS]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = await feed.subscribe()
    try:
        while (message := await queue.get()) is not None and access.still_holds(request):
            await response.write(message)
    except ConnectionResetError:  # the client went away
        pass
    finally:
        feed.unsubscribe(queue)
    return response


def add_dashboard(app: web.Application) -> None:
    """Add ``GET /``, ``/dashboard/*`` (the page's files) and ``GET /api/live`` to the ops server."""
    feed = LiveFeed(app[STATION], app[RECORDER], app[HISTORY])
    app[FEED] = feed
    app.on_startup.append(feed.start)
    app.on_shutdown.append(feed.stop)
    app.router.add_get("/", page)
    app.router.add_get("/api/live", live)
    app.router.add_static("/dashboard/", STATIC)
