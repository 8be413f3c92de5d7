"""Admission before the handshakes: bounded, so that strangers cannot starve the SECCs.

Every accepted socket costs a file descriptor until its handshakes end.
Left alone, a peer that opens sockets and never finishes a handshake fills
the process's open-file limit; ``accept()`` then fails for everyone, the
SECCs included, and asyncio writes a traceback for every attempt. So:

- connections that have not finished their TLS and WebSocket handshakes are
  counted, in total (``server.max_handshakes``, clipped to what the
  open-file limit leaves once every gun has a connection and the sockets
  the loop accepts before the gate sees them have room,
  :mod:`pecc_plugins.pepws.accept_burst`) and per peer
  address (``server.max_handshakes_per_peer``, by default one per gun: a
  simulator or gateway may reconnect every gun at once); beyond a bound
  the socket is closed at once;
- the last slots (one per gun) are a reserve for addresses that may be an
  SECC: inside an SECC's ``allow.networks``, or from which an SECC
  connected before (remembered, bounded);
- every handshake has ``server.handshake_timeout_ms`` (TLS, then WebSocket);
- TLS is started here, after the count, with the context current at
  accept time (a reload changes it for new connections only); on uvloop,
  which reads a socket as soon as it is accepted, what it read before TLS
  started (the ClientHello) is handed to TLS;
- ``accept()`` failures are logged once per episode, not once per attempt.

The counting hooks into websockets through ``create_connection`` (a
:class:`GatedConnection` per socket).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar, cast

from websockets.asyncio.server import ServerConnection

from pecc_core.episode import Episode, LogThrottle
from pecc_plugins.pepws.accept_burst import backlog, margin
from pecc_plugins.pepws.identity import IpAddress, peer_address

if TYPE_CHECKING:
    import ssl

    from pecc_core.profile.model import IpNetwork

log = logging.getLogger(__name__)

#: Addresses remembered as an SECC's (for the reserve).
KNOWN_ADDRESSES = 256
_ACCEPT_FAILED = "socket.accept() out of system resource"


def open_files() -> int:
    """Descriptors open in this process now (0 where /proc cannot be read, e.g. none is left)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class Gate:
    """The counters and the TLS context for connections that have not finished their handshakes."""

    def __init__(
        self,
        limit: int,
        per_peer: int,
        guns: int,
        networks: tuple[IpNetwork, ...],
        timeout: float,
        context: ssl.SSLContext | None,
    ) -> None:
        self.wanted = limit
        self.guns = guns
        #: Pending handshakes at most, reserve included (see :meth:`fit`).
        self.limit = limit
        self.per_peer = per_peer or guns
        #: Slots only addresses that may be an SECC get (one per gun, half the limit at most).
        self.reserve = min(guns, self.limit // 2)
        self.networks = networks
        self.timeout = timeout
        #: The TLS context new connections get (None: plain WebSocket).
        self.context = context
        self.pending = 0
        self._by_peer: Counter[IpAddress | None] = Counter()
        self._known: OrderedDict[IpAddress, None] = OrderedDict()
        self._waiting: set[asyncio.Transport] = set()
        self._refusals = LogThrottle(log)
        self._accepts = Episode(log, "PEP-WS: accept()")

    def fit(self, loop: asyncio.AbstractEventLoop) -> None:
        """Clip the pending handshakes to the descriptors left now on ``loop``.

        Called when the server starts, after the drivers, services and the
        history store (and the loop itself) have opened theirs: counted any
        earlier, the budget would include descriptors that are already taken
        by then. What is kept free beyond one per gun depends on how the loop
        accepts (:mod:`pecc_plugins.pepws.accept_burst`).
        """
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        kept = self.guns + margin(loop, backlog(self.guns))
        budget = soft - open_files() - kept if soft != resource.RLIM_INFINITY else self.wanted
        if budget < self.wanted:
            log.warning(
                "PEP-WS: at most %d pending handshakes (server.max_handshakes = %d) under the "
                "open-file limit %d", max(budget, 1), self.wanted, soft,
            )
        self.limit = max(min(self.wanted, budget), 1)
        self.reserve = min(self.guns, self.limit // 2)

    def connection_class(self) -> type[GatedConnection]:
        """The ``create_connection`` class for websockets' ``serve``, bound to this gate."""
        return type("GatedConnection", (GatedConnection,), {"gate": self})

    def admit(self, address: IpAddress | None) -> str | None:
        """Count a new connection in; or why it is refused (it is not counted then)."""
        self.accepting()
        pending_here = self._by_peer[address]
        if pending_here >= self.per_peer:
            return f"{pending_here} handshakes pending from this address"
        if self.pending >= (self.limit if self.may_be_secc(address) else self.limit - self.reserve):
            return f"{self.pending} handshakes pending in total"
        self.pending += 1
        self._by_peer[address] += 1
        return None

    def waiting(self, transport: asyncio.Transport) -> None:
        """``transport`` (admitted) is in its handshakes until :meth:`release`."""
        self._waiting.add(transport)

    def may_be_secc(self, address: IpAddress | None) -> bool:
        """Inside an SECC's networks, or an address an SECC connected from before."""
        if address is None:
            return False
        return address in self._known or any(address in n for n in self.networks)

    def release(self, address: IpAddress | None, transport: asyncio.Transport) -> None:
        self._waiting.discard(transport)
        self.pending -= 1
        self._by_peer[address] -= 1
        if self._by_peer[address] <= 0:
            del self._by_peer[address]

    def remember(self, address: IpAddress | None) -> None:
        """An SECC connected from ``address``: it gets the reserve from now on."""
        if address is None:
            return
        self._known[address] = None
        self._known.move_to_end(address)
        if len(self._known) > KNOWN_ADDRESSES:
            self._known.popitem(last=False)

    def refused(self, address: IpAddress | None, reason: str) -> None:
        self._refusals.log(logging.WARNING, "PEP-WS: closed a connection from %s: %s", address, reason)

    def tls_failed(self, address: IpAddress | None, exc: BaseException) -> None:
        self._refusals.log(
            logging.WARNING, "PEP-WS: TLS handshake with %s failed: %s", address, exc or type(exc).__name__
        )

    def close(self) -> None:
        """Cut the connections still in their handshakes (the server is stopping)."""
        for transport in list(self._waiting):
            transport.abort()

    # -- accept() failures ------------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take asyncio's reports of failing ``accept()`` calls (others go on as before)."""
        previous = loop.get_exception_handler()

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if context.get("message") == _ACCEPT_FAILED:
                self._accept_failed(context.get("exception"))
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        self._previous_handler = previous
        loop.set_exception_handler(handle)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self._previous_handler)

    def _accept_failed(self, exc: BaseException | None) -> None:
        detail = ""
        if not self._accepts.active:  # counting the descriptors (a /proc listing) only for the line logged
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            detail = (
                f"fails ({exc}) with {open_files() or 'all'} descriptors open of {soft}; new connections "
                "wait (logged once until accept() works again)"
            )
        self._accepts.failed(detail, level=logging.ERROR)

    def accepting(self) -> None:
        """accept() works (again): close the failure episode, if any."""
        self._accepts.ok()


class GatedConnection(ServerConnection):
    """websockets' server connection, counted by its :class:`Gate` until its handshakes end."""

    gate: ClassVar[Gate]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address: IpAddress | None = None
        self._socket: asyncio.Transport | None = None
        self._tls: asyncio.Task[None] | None = None
        self._made = False
        #: Bytes the socket gave before TLS took it over (see :meth:`data_received`).
        self._early: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # An accepted TCP socket's transport: asyncio's, or uvloop's, which has every method
        # of asyncio.Transport without subclassing it. So a cast, as websockets' own
        # connection_made does; an isinstance check would refuse every socket on uvloop.
        transport = cast(asyncio.Transport, transport)
        gate = self.gate
        address = self._address = peer_address(transport)
        refusal = gate.admit(address)
        if refusal is not None:
            gate.refused(address, refusal)
            transport.abort()
            return
        self._socket = transport
        gate.waiting(transport)
        if gate.context is None:
            self._made = True
            super().connection_made(transport)
            return
        transport.pause_reading()  # the ClientHello stays in the kernel until TLS starts (asyncio)
        self._early = []
        self._tls = self.loop.create_task(self._start_tls(transport, gate.context))

    def data_received(self, data: bytes) -> None:
        """Before TLS starts: keep the bytes for it (the ClientHello); after: websockets' own.

        uvloop starts reading once ``connection_made`` returns, whether it paused
        reading or not (asyncio keeps the pause), so the ClientHello may arrive
        here before ``start_tls`` has put its TLS protocol on the socket.
        """
        if self._early is None:
            super().data_received(data)
            return
        self._early.append(data)
        if self._socket is not None:
            self._socket.pause_reading()  # reading now: this pause holds

    async def _start_tls(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        early, self._early = b"".join(self._early or ()), None
        if early:
            # runs before the TLS protocol's connection_made, which start_tls schedules
            # below: the bytes wait in its incoming buffer for the handshake to start
            self.loop.call_soon(_hand_over, transport, early)
        try:
            tls = await self.loop.start_tls(
                transport, self, context, server_side=True, ssl_handshake_timeout=self.gate.timeout
            )
        except Exception as exc:
            self.gate.tls_failed(self._address, exc)
            self._uncount()
            transport.abort()
            return
        if tls is None or tls.is_closing():
            self._uncount()
            return
        self._made = True
        super().connection_made(tls)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        finally:
            self._uncount()

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        if self._made:
            super().connection_lost(exc)

    def _uncount(self) -> None:
        if self._socket is not None:
            self.gate.release(self._address, self._socket)
            self._socket = None


def _hand_over(transport: asyncio.Transport, data: bytes) -> None:
    """Give ``data`` to the protocol ``start_tls`` put on ``transport``, as the transport would have.

    That protocol is a buffered one (asyncio's and uvloop's SSLProtocol; uvloop's
    does not subclass asyncio.BufferedProtocol, hence the cast).
    """
    if transport.is_closing():
        return
    protocol = cast(asyncio.BufferedProtocol, transport.get_protocol())
    view = memoryview(data)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]
