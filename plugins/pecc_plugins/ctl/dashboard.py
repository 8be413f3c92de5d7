"""The live dashboard of the ops server: ``GET /`` and its Server-Sent Events feed.

``GET /`` serves a plain HTML/CSS/JS page (package data under ``static/``,
no build step, nothing from a CDN); when the API has tokens, a request
without one gets the sign-in page of :mod:`.signin` instead. The page opens ``GET /api/live``, a
``text/event-stream`` of two event types:

- ``snapshot``: every gun (as ``/api/guns``: with its energy and open
  session), every module, site power against the cap, from the station's
  published snapshot (:mod:`.snapshot`); sent every
  :data:`SNAPSHOT_INTERVAL` and :data:`EVENT_PUSH_GAP` after anything is
  recorded (at most one per gap), so a fault reaches the screen without
  waiting a tick;
- ``event``: each event as the history records it (state transitions,
  faults raised and cleared, SECC connects and disconnects, refusals,
  sessions, limits, operator actions), in the shape of ``/api/events``;
  the latest :data:`RECENT_EVENTS` from the history first, so a page
  opened after a restart still shows what happened before it.

The page also lists the flight recorder's latest incidents and draws one's
timeline as an SVG chart (``static/incidents.js``: ``/api/incidents``,
polled and re-read at each ``incident`` event, and
``/api/incidents/{id}/timeline``; docs/incidents.md).

Everything runs on the ops thread; events come from the station's loop
through an :class:`~.bridge.Inbox`. A message is encoded once and handed
to every stream. At most ``max_streams`` streams are open at once (503
beyond, :mod:`.gate`). Each stream has a bounded buffer: a client that
does not read falls behind, and once what waits for it (queued messages
and the connection's write buffer; the kernel's buffer of the socket is
kept small, :data:`SOCKET_BUFFER`) exceeds :meth:`LiveFeed.buffer_limit`
its stream is dropped (closed; logged once per run of drops,
:class:`~.gate.Run`).
A client that went away ends its stream quietly (DEBUG).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import struct
from collections import deque
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pecc_core.asyncutil import cancel
from pecc_core.clock import wall
from pecc_plugins.ctl.auth import peer
from pecc_plugins.ctl.bridge import Inbox
from pecc_plugins.ctl.gate import Gate, Run
from pecc_plugins.ctl.keys import ACCESS, HISTORY, PUBLISHER
from pecc_plugins.ctl.middleware import TOKEN_NAME
from pecc_plugins.ctl.sessions import SIGNED_IN
from pecc_plugins.ctl.signin import signin_page
from pecc_plugins.ctl.snapshot import views_of

if TYPE_CHECKING:
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.snapshot import Publisher, Snapshot

log = logging.getLogger(__name__)

#: How often a snapshot is pushed while nothing happens (s).
SNAPSHOT_INTERVAL = 0.5
#: The delay of a snapshot pushed for events, and the shortest time between two (s):
#: the station publishes its own within its loop turn; 72 guns changing state one
#: after the other cost one snapshot per gap, not per change.
EVENT_PUSH_GAP = 0.1
#: Events from the history a new client gets first.
RECENT_EVENTS = 50
#: Events from the station's loop waiting for the ops loop, at most (the oldest dropped beyond).
INBOX = 10_000
#: What may wait for one stream (bytes), whatever the size of the station's snapshot...
MIN_BUFFER = 256 * 1024
#: ... and at least this many of its snapshot messages.
BUFFER_SNAPSHOTS = 4
#: The kernel's send buffer of a stream's socket (bytes; the kernel doubles it). Left
#: to itself it grows to megabytes for a client that does not read, out of sight of
#: the stream's own bound.
SOCKET_BUFFER = 64 * 1024
#: SO_LINGER on, 0 s: closing the socket resets the connection.
RESET = struct.pack("ii", 1, 0)

STATIC = Path(str(resources.files("pecc_plugins.ctl") / "static"))
#: The page, and the page with its sign-out button (for a browser signed in by cookie).
PAGE = (STATIC / "dashboard.html").read_text()
SIGNED_IN_PAGE = PAGE.replace('<form id="signout" hidden', '<form id="signout"', 1)


class Stream:
    """What waits to be written to one client: messages, then the connection's own buffer."""

    def __init__(self, transport: asyncio.Transport, name: str) -> None:
        self.transport = transport
        self.name = name
        self._waiting: deque[bytes | None] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()

    def behind(self) -> int:
        """Bytes waiting for the client: queued here and in the connection's write buffer."""
        return self._bytes + self.transport.get_write_buffer_size()

    def offer(self, message: bytes | None) -> None:
        """Queue ``message`` (None: the end of the stream)."""
        self._waiting.append(message)
        self._bytes += len(message or b"")
        self._ready.set()

    def drop(self) -> None:
        """Reset the connection now: what waits for the client is discarded, here and in the kernel.

        A plain close would leave the kernel sending what it holds, and the
        close behind it, to a client that does not read (for minutes).
        """
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        self.transport.abort()
        self.offer(None)

    def take(self) -> list[bytes | None]:
        """Everything queued, taken out."""
        taken, self._bytes = list(self._waiting), 0
        self._waiting.clear()
        return taken

    async def next(self) -> bytes | None:
        """The next message for the client (None: the stream ends)."""
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        message = self._waiting.popleft()
        self._bytes -= len(message or b"")
        return message


class LiveFeed:
    """The station as a stream: snapshots on a timer, events as the history records them."""

    def __init__(self, publisher: Publisher, history: History, max_streams: int) -> None:
        self.publisher = publisher
        self.history = history
        self.gate = Gate("dashboard streams", max_streams)
        #: Events from the station's loop (the service puts it among the history's listeners).
        self.inbox: Inbox[dict[str, Any]] = Inbox(self._event, INBOX)
        self._streams: set[Stream] = set()
        self._drops = Run("dashboard: a client that does not read")
        self._task: asyncio.Task[None] | None = None
        self._push_soon = False
        self._pushed = 0.0  # loop time of the last snapshot pushed

    # -- lifecycle (the application's startup and shutdown, on the ops loop) -----------

    async def start(self, app: web.Application) -> None:
        self.inbox.bind(asyncio.get_running_loop())
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dashboard-feed")

    async def stop(self, app: web.Application) -> None:
        """Ends every open stream (else the server waits for them) and stops listening."""
        self.inbox.bind(None)
        await cancel(self._task)
        for stream in self._streams:
            stream.offer(None)

    # -- pushing ------------------------------------------------------------------

    def _event(self, event: dict[str, Any]) -> None:
        if not self._streams:
            return
        self._offer(_sse("event", event))
        if not self._push_soon:
            self._push_soon = True
            loop = asyncio.get_running_loop()
            loop.call_at(max(loop.time(), self._pushed) + EVENT_PUSH_GAP, self._push)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL)
            if self._streams:
                await self.publisher.current()  # a read: the station keeps capturing while streams are open
                self._push()

    def _push(self) -> None:
        self._push_soon = False
        self._pushed = asyncio.get_running_loop().time()
        snapshot = self.publisher.latest
        if snapshot is not None:
            self._offer(snapshot_message(snapshot))

    def _offer(self, message: bytes) -> None:
        limit = self.buffer_limit()
        for stream in list(self._streams):
            if stream.behind() + len(message) > limit:
                self._drop(stream, limit)
            else:
                stream.offer(message)

    def _drop(self, stream: Stream, limit: int) -> None:
        self._drops.refused(f"its stream ({stream.name}) has {limit // 1024} KiB waiting; dropped")
        self._streams.discard(stream)
        stream.drop()

    def buffer_limit(self) -> int:
        """What may wait for one stream: :data:`BUFFER_SNAPSHOTS` snapshot messages, :data:`MIN_BUFFER` at least."""
        snapshot = self.publisher.latest
        size = len(snapshot_message(snapshot)) if snapshot is not None else 0
        return max(MIN_BUFFER, BUFFER_SNAPSHOTS * size)

    # -- clients ------------------------------------------------------------------

    async def subscribe(self, stream: Stream) -> None:
        """Start ``stream`` with the history's latest events and a snapshot; live events follow."""
        since = wall()
        self._streams.add(stream)  # from now on live events queue up, to follow the history's
        try:
            recent = [e for e in await self.history.events(limit=RECENT_EVENTS) if e["ts"] < since]
        except sqlite3.Error as exc:  # the page still works live without the past
            log.warning("dashboard: cannot read the history: %s", exc)
            recent = []
        snapshot = await self.publisher.current()
        first = [_sse("event", e) for e in recent]
        if snapshot is not None:
            first.append(snapshot_message(snapshot))
        for message in (*first, *stream.take()):
            stream.offer(message)
        self._drops.check()

    def unsubscribe(self, stream: Stream) -> None:
        self._streams.discard(stream)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


@lru_cache(maxsize=1)
def snapshot_message(snapshot: Snapshot) -> bytes:
    """The ``snapshot`` event of ``snapshot``: encoded once, for every stream."""
    guns = list(views_of(snapshot).values())
    return _sse("snapshot", {
        "station": snapshot.station,
        "time": snapshot.wall,
        "site": {"power_w": sum(g["power_w"] for g in guns), "max_power_w": snapshot.site["max_power_w"]},
        "guns": guns,
        "modules": list(snapshot.modules),
        "buses": [{"name": link.name, "load_percent": link.stats.load_percent} for link in snapshot.links],
    })


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
    with feed.gate.admit():
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        stream: Stream | None = None
        try:
            await response.prepare(request)
            transport = request.transport
            if transport is None:  # gone already
                return response
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            stream = Stream(transport, peer(request))
            await feed.subscribe(stream)
            while (message := await stream.next()) is not None and access.still_holds(request):
                await response.write(message)
        except ConnectionError:  # the client went away, or its stream was dropped
            log.debug("dashboard: the stream of %s ended: its connection closed", peer(request))
        finally:
            if stream is not None:
                feed.unsubscribe(stream)
        return response


def add_dashboard(app: web.Application, max_streams: int) -> LiveFeed:
    """Add ``GET /``, ``/dashboard/*`` (the page's files) and ``GET /api/live`` to the ops server."""
    feed = LiveFeed(app[PUBLISHER], app[HISTORY], max_streams)
    app[FEED] = feed
    app.on_startup.append(feed.start)
    app.on_shutdown.append(feed.stop)
    app.router.add_get("/", page)
    app.router.add_get("/api/live", live)
    app.router.add_static("/dashboard/", STATIC)
    return feed
