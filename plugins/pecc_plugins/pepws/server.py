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
  (a LAN, small messages, and no zip-bomb surface); at most
  ``RECEIVE_QUEUE`` frames wait in websockets for the connection's receive
  loop, which takes each at once (websockets' default of 16 let each
  flooding client park 16 frames of up to 64 KiB, 1 MiB a connection, in
  the PECC's memory);
- **large frames** (over 8 KiB; no real message is that big): at most
  ``LARGE_FRAMES_PER_TURN`` of them are taken per loop turn, all
  connections together, so that clients sending in-spec 64 KiB frames built
  to be expensive slow each other down, not the other guns' statuses;
- **liveness** is the connection's own ping task (websockets' keepalive is
  off) so that an unresponsive SECC detaches the gun the moment the timeout
  expires, not after a closing handshake the peer will never finish;
- **identity**: with ``[server.tls]`` the server speaks ``wss://`` (mutual
  TLS with ``client_ca``); a peer that is not what the gun's SECC allows
  (``[seccs.allow]``, see :mod:`~pecc_plugins.pepws.identity`) gets HTTP
  403 from ``process_request``, logged with path, peer and reason;
- **admission**: sockets that have not finished their handshakes are
  bounded (:mod:`~pecc_plugins.pepws.admission`).

A second connection to a gun's URL replaces the first only when it carries
the same identity (the SECC reconnecting): the old one is detached (the gun
goes to standby) before the new one is attached, then closed in the
background. Anyone else gets 403 while the gun's connection is live.

:meth:`PepWsServer.reload` (SIGHUP) takes new certificates, CA and
allow-lists for new handshakes; live connections stay.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from http import HTTPStatus
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import NegotiationError
from websockets.frames import CloseCode

from pecc_core.episode import LogThrottle
from pecc_core.errors import ConfigError
from pecc_core.taps import Taps
from pecc_core.tls import server_context
from pecc_plugins.pepws.accept_burst import backlog
from pecc_plugins.pepws.admission import Gate
from pecc_plugins.pepws.codec import Encoder
from pecc_plugins.pepws.connection import Connection
from pecc_plugins.pepws.dispatch import Dispatcher, message_handlers
from pecc_plugins.pepws.identity import PeerIdentity
from pecc_plugins.pepws.stats import TransportStats

if TYPE_CHECKING:
    from collections.abc import Sequence

    from websockets.http11 import Request, Response
    from websockets.typing import Subprotocol

    from pecc_core.gun import Gun
    from pecc_core.profile.model import Profile, SeccAllow, ServerConfig
    from pecc_core.station import Station
    from pecc_core.transport import FrameTap

log = logging.getLogger(__name__)

#: The kernel's send buffer per connection. Without a bound Linux grows it to
#: megabytes for a client that stopped reading, so ``server.send_queue`` would
#: only fill (and the client be dropped) after minutes; status traffic is
#: about 1.3 kB/s per gun, so this still holds tens of seconds of it.
KERNEL_SEND_BUFFER = 64 * 1024

#: How long a peer gets to complete the closing handshake before the socket is cut.
CLOSE_TIMEOUT_S = 2.0

#: Frames over 8 KiB (no real message is) taken per loop turn, all connections together.
LARGE_FRAMES_PER_TURN = 2

#: Frames received that may wait in websockets for the connection's receive loop
#: (reading pauses above it, and resumes below a quarter of it).
RECEIVE_QUEUE = 4


def gun_path(path: str) -> str:
    """The request path without its query string."""
    return path.partition("?")[0]


def subprotocol_version(name: str) -> int:
    """The minor version of ``pep1.<minor>`` (the profile only allows that form)."""
    return int(name.rpartition(".")[2])


def is_loopback(host: str) -> bool:
    """True for a listen address only this host reaches (``localhost`` included)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_seccs(profile: Profile) -> list[str]:
    """SECCs whose guns anyone who reaches the port may take: no allow-list, no mutual TLS."""
    tls = profile.server.tls
    if tls is not None and tls.require_client_cert:
        return []
    return [secc.id for secc in profile.seccs if secc.allow.open]


def allow_by_path(profile: Profile) -> dict[str, SeccAllow]:
    return {gun.path: secc.allow for secc in profile.seccs for gun in secc.guns}


class PepWsServer:
    """The ``pepws`` transport: serves every gun of ``station`` (see the module doc)."""

    def __init__(self, station: Station, settings: ServerConfig) -> None:
        self._station = station
        self._settings = settings
        self._encoder = Encoder(station.profile.station.float_values)
        self._live: dict[str, tuple[Connection, PeerIdentity]] = {}
        #: Counters since start, read by the metrics collector.
        self.stats = TransportStats()
        self._taps: Taps[[str, bool, str | bytes]] = Taps("PEP-WS")
        guns = list(station.guns)
        #: Each gun's phase of the status period, spread evenly over the station.
        self._phases = {gun_id: i / len(guns) for i, gun_id in enumerate(guns)}
        self._large_frames = asyncio.Semaphore(LARGE_FRAMES_PER_TURN)
        self._server: Server | None = None
        self._allow = allow_by_path(station.profile)
        #: Refused handshakes: one line each, at a bounded rate (a scanner must not flood the log).
        self._refusals = LogThrottle(log)
        tls = settings.tls
        self._gate = Gate(
            settings.max_handshakes,
            settings.max_handshakes_per_peer,
            len(station.profile.guns),
            tuple(n for secc in station.profile.seccs for n in secc.allow.networks),
            settings.handshake_timeout_ms / 1000,
            server_context(tls) if tls is not None else None,
        )

    def add_frame_tap(self, tap: FrameTap) -> None:
        """:class:`pecc_core.transport.HasFrameTap`: every frame of every connection to ``tap``."""
        self._taps.add(tap)

    def remove_frame_tap(self, tap: FrameTap) -> None:
        self._taps.remove(tap)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the PEP-WS server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        settings = self._settings
        self._check_exposure()
        self._handlers = message_handlers(self._station.plugins.pluggy_manager)
        loop = asyncio.get_running_loop()
        self._gate.fit(loop)
        self._gate.install(loop)
        try:
            self._server = await serve(
                self._serve,
                settings.host,
                settings.port,
                create_connection=self._gate.connection_class(),
                backlog=backlog(self._gate.guns),
                process_request=self._check_request,
                select_subprotocol=self._select_subprotocol,
                compression=None,
                max_size=settings.max_frame_bytes,
                max_queue=RECEIVE_QUEUE,
                ping_interval=None,
                open_timeout=settings.handshake_timeout_ms / 1000,
                close_timeout=CLOSE_TIMEOUT_S,
            )
        except BaseException:
            self._gate.uninstall(loop)
            raise
        log.info(
            "PEP-WS serving %d guns on %s://%s:%d", len(self._station.by_path),
            settings.scheme, settings.host, self.port,
        )

    def _check_exposure(self) -> None:
        """Say loudly (or refuse) when anyone on the network can be a gun's SECC."""
        host = self._settings.host
        exposed = open_seccs(self._station.profile)
        if is_loopback(host) or not exposed:
            return
        what = (
            f"PEP-WS listens on {host!r} with SECCs {', '.join(exposed)} open to anyone who reaches "
            f"the port (no mutual TLS, no seccs.allow): anyone there can act as their SECC"
        )
        if self._settings.refuse_insecure:
            raise ConfigError(f"server.refuse_insecure: {what}; set [server.tls] with client_ca and "
                              "require_client_cert, or seccs.allow, or listen on 127.0.0.1")
        log.warning("%s (set server.refuse_insecure = true to refuse to start like this)", what)

    async def stop(self) -> None:
        """Detach every gun, close every connection, stop listening."""
        for connection, _ in list(self._live.values()):
            connection.detach("PECC stopping")
        self._gate.close()
        if self._server is not None:
            self._gate.uninstall(self._server.get_loop())
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def reload(self, profile: Profile) -> None:
        """New certificates, key, CA and allow-lists for new handshakes; live connections stay.

        Raises ConfigError (and changes nothing) when the new TLS files do not
        load, or when TLS would be switched on or off (that needs a restart:
        the SECCs' URLs change).
        """
        tls = profile.server.tls
        if (tls is None) != (self._settings.tls is None):
            raise ConfigError("server.tls: switching TLS on or off needs a restart")
        paths = {gun.path for gun in profile.guns}
        if paths != set(self._allow):
            log.warning("PEP-WS reload: guns or paths changed; that needs a restart (kept the old ones)")
        context = server_context(tls) if tls is not None else None
        self._gate.context = context
        self._allow = {path: allow for path, allow in allow_by_path(profile).items() if path in self._allow}
        self._gate.networks = tuple(n for allow in self._allow.values() for n in allow.networks)
        log.info("PEP-WS reloaded: %s, allow-lists of %d SECCs", "new TLS context" if context else "no TLS",
                 len(profile.seccs))

    # -- handshake -----------------------------------------------------------------

    def _check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """404 for a path that is no gun; 403 for a peer that may not be its SECC now."""
        path = gun_path(request.path)
        gun = self._station.by_path.get(path)
        if gun is None:
            self._refused(ws, request.path, "no gun at this path")
            return ws.respond(HTTPStatus.NOT_FOUND, f"no charge point at {path}\n")
        peer = PeerIdentity.of(ws.transport)
        reason = peer.refusal(self._allow[path])
        if reason is None:
            holder = self._holder(gun.id)
            if holder is not None and holder.key != peer.key:
                reason = f"gun {gun.id} is held by another SECC ({holder})"
        if reason is None:
            return None
        self._refusals.log(logging.WARNING, "refused %s from %s: %s", path, peer, reason)
        return ws.respond(HTTPStatus.FORBIDDEN, f"not this gun's SECC: {reason}\n")

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

    def _holder(self, gun_id: str) -> PeerIdentity | None:
        """Who holds the gun: the identity of its live, attached connection."""
        live = self._live.get(gun_id)
        if live is None or live[0].detached is not None:
            return None
        return live[1]

    async def _serve(self, ws: ServerConnection) -> None:
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)
        if ws.request is None:  # websockets runs the handler only after a handshake, which sets it
            raise RuntimeError("PEP-WS: a connection handler without the handshake's request")
        gun = self._station.by_path[gun_path(ws.request.path)]
        peer = PeerIdentity.of(ws.transport)
        holder = self._holder(gun.id)
        if holder is not None and holder.key != peer.key:  # two handshakes raced past _check_request
            self._refusals.log(logging.WARNING, "refused %s from %s: gun %s is held by %s",
                               gun.path, peer, gun.id, holder)
            await ws.close(CloseCode.POLICY_VIOLATION, "the gun is held by another SECC")
            return
        previous = self._live.get(gun.id)
        if previous is not None:
            previous[0].drop("replaced by a new connection to the same gun")
        self._gate.remember(peer.address)
        connection = self._connect(ws, gun)
        self._live[gun.id] = (connection, peer)
        try:
            await connection.run()
        finally:
            if self._live.get(gun.id, (None,))[0] is connection:
                del self._live[gun.id]

    def _connect(self, ws: ServerConnection, gun: Gun) -> Connection:
        timings = self._station.profile.timings
        observers = self._station.plugins
        dispatcher = Dispatcher(
            gun, self._handlers, self._encoder, timings.request_timeout_ms, self.stats, observers
        )
        return Connection(
            ws,
            gun,
            dispatcher,
            self._encoder,
            timings,
            self._settings.send_queue,
            self.stats,
            observers,
            self._phases[gun.id],
            self._large_frames,
            self._taps,
        )
