"""The PEP-WS server: one WebSocket URL per gun, one live connection per gun.

Built on ``websockets.asyncio.server.serve`` with the handshake decided on
purpose:

- **path**: ``process_request`` answers HTTP 404 for a path that is no gun
  of the profile (the query string is ignored), before any WebSocket is
  opened, so it costs the other connections nothing;
- **sub-protocol**: the highest ``pep1.x`` that both the client offers and
  ``server.subprotocols`` allows is selected and echoed. A client offering
  only versions we do not allow is refused (HTTP 400, naming ours). A client
  offering none is refused if ``server.require_subprotocol`` is set, else
  accepted with a warning (several SECCs in the field omit the header);
- **frames**: ``max_size`` is ``server.max_frame_bytes`` (a bigger frame
  closes the connection with 1009, as RFC 6455 wants), compression is off
  (a LAN, small messages, and no zip-bomb surface);
- **liveness** is the connection's own ping task (websockets' keepalive is
  off) so that an unresponsive SECC detaches the gun the moment the timeout
  expires, not after a closing handshake the peer will never finish.

A second connection to a gun's URL replaces the first: the old one is
detached (the gun goes to standby) before the new one is attached, then
closed in the background.
"""

from __future__ import annotations

import logging
import socket
from http import HTTPStatus
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import NegotiationError

from pecc_plugins.pepws.codec import Encoder
from pecc_plugins.pepws.connection import Connection
from pecc_plugins.pepws.dispatch import Dispatcher
from pecc_plugins.pepws.logthrottle import LogThrottle
from pecc_plugins.pepws.stats import TransportStats

if TYPE_CHECKING:
    from collections.abc import Sequence

    from websockets.http11 import Request, Response
    from websockets.typing import Subprotocol

    from pecc_core.gun import Gun
    from pecc_core.profile.model import ServerConfig
    from pecc_core.station import Station

log = logging.getLogger(__name__)

#: The kernel's send buffer per connection. Without a bound Linux grows it to
#: megabytes for a client that stopped reading, so ``server.send_queue`` would
#: only fill (and the client be dropped) after minutes; status traffic is
#: about 1.3 kB/s per gun, so this still holds tens of seconds of it.
KERNEL_SEND_BUFFER = 64 * 1024

#: How long a peer gets to complete the closing handshake before the socket is cut.
CLOSE_TIMEOUT_S = 2.0


def gun_path(path: str) -> str:
    """The request path without its query string."""
    return path.partition("?")[0]


def subprotocol_version(name: str) -> int:
    """The minor version of ``pep1.<minor>`` (the profile only allows that form)."""
    return int(name.rpartition(".")[2])


class PepWsServer:
    """The ``pepws`` transport: serves every gun of ``station`` (see the module doc)."""

    def __init__(self, station: Station, settings: ServerConfig) -> None:
        self._station = station
        self._settings = settings
        self._encoder = Encoder(station.profile.station.float_values)
        self._live: dict[str, Connection] = {}
        #: Counters since start, read by the metrics collector.
        self.stats = TransportStats()
        self._server: Server | None = None
        #: Refused handshakes: one line each, at a bounded rate (a scanner must not flood the log).
        self._refusals = LogThrottle(log)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the PEP-WS server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        settings = self._settings
        self._handlers = self._station.plugins.message_handlers()
        self._server = await serve(
            self._serve,
            settings.host,
            settings.port,
            process_request=self._check_path,
            select_subprotocol=self._select_subprotocol,
            compression=None,
            max_size=settings.max_frame_bytes,
            ping_interval=None,
            close_timeout=CLOSE_TIMEOUT_S,
        )
        log.info("PEP-WS serving %d guns on %s:%d", len(self._station.by_path), settings.host, self.port)

    async def stop(self) -> None:
        """Detach every gun, close every connection, stop listening."""
        for connection in list(self._live.values()):
            connection.detach("PECC stopping")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # -- handshake -----------------------------------------------------------------

    def _check_path(self, ws: ServerConnection, request: Request) -> Response | None:
        if gun_path(request.path) in self._station.by_path:
            return None
        self._refused(ws, request.path, "no gun at this path")
        return ws.respond(HTTPStatus.NOT_FOUND, f"no charge point at {gun_path(request.path)}\n")

    def _select_subprotocol(
        self, ws: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        allowed = self._settings.subprotocols
        common = [p for p in offered if p in allowed]
        if common:
            return max(common, key=subprotocol_version)
        if offered or self._settings.require_subprotocol:
            reason = (
                f"unsupported sub-protocol {', '.join(offered)}; this PECC speaks {', '.join(allowed)}"
                if offered
                else f"missing sub-protocol; expected one of {', '.join(allowed)}"
            )
            self._refused(ws, ws.request.path if ws.request is not None else "?", reason)
            raise NegotiationError(reason)
        log.warning(
            "%s offers no sub-protocol; accepted as %s (server.require_subprotocol is false)",
            ws.remote_address,
            max(allowed, key=subprotocol_version),
        )
        return None

    def _refused(self, ws: ServerConnection, path: str, reason: str) -> None:
        """The one log line of a refused handshake (websockets' own are quiet: see pecc_core.logs)."""
        host, port = ws.remote_address[:2] if ws.remote_address else ("?", "?")
        self._refusals.log(logging.INFO, "refused handshake from %s:%s to %s: %s", host, port, path, reason)

    # -- connections ---------------------------------------------------------------

    async def _serve(self, ws: ServerConnection) -> None:
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)
        assert ws.request is not None  # the handshake is done when the handler runs
        gun = self._station.by_path[gun_path(ws.request.path)]
        previous = self._live.get(gun.id)
        if previous is not None:
            previous.drop("replaced by a new connection to the same gun")
        connection = self._connect(ws, gun)
        self._live[gun.id] = connection
        try:
            await connection.run()
        finally:
            if self._live.get(gun.id) is connection:
                del self._live[gun.id]

    def _connect(self, ws: ServerConnection, gun: Gun) -> Connection:
        timings = self._station.profile.timings
        observers = self._station.plugins
        dispatcher = Dispatcher(
            gun, self._handlers, self._encoder, timings.request_timeout_ms, self.stats, observers
        )
        return Connection(
            ws, gun, dispatcher, self._encoder, timings, self._settings.send_queue, self.stats, observers
        )
