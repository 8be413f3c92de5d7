"""The SECC side of one PEP-WS connection (one gun).

:class:`PepClient` owns the WebSocket after the handshake and does what the
protocol asks of an SECC, independently of any charging session:

- sends requests one at a time (a lock is the single pending-request slot),
  numbered 1 ... 2^31-1 then 1 again, and gives up on a reply after 500 ms
  (``PEP_REQUEST_TIMEOUT``); a late reply is then dropped, not re-counted;
- reads every frame in one receive loop that never awaits anything the loop
  itself must deliver; checks each frame (:mod:`.validation`), records
  status messages and answers the PECC's own requests (getInput, setOutput,
  stopCharging) at once;
- watches the status flow: no status for more than 5 s
  (``PEP_SECC_UNRESPONSIVE_TIMEOUT``) means the PECC is unresponsive, and
  the connection is closed.

Everything the PECC does wrong is recorded in :class:`.stats.RunStats` as a
protocol error; what a session must react to is raised as
:class:`RequestFailed`, :class:`StatusTimeout` or :class:`ConnectionLost`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from pecc_core.clock import stopwatch
from pecc_plugins.pepws.codec import (
    Encoder,
    FrameError,
    SequenceCounter,
    parse,
    sequence_of,
)
from pecc_plugins.pepws.schemas import PECC_REQUESTS, SEQUENCE_MAX
from pecc_plugins.seccsim.secc_io import IoRefused, SeccIo
from pecc_plugins.seccsim.stats import GunProgress, RunStats
from pecc_plugins.seccsim.validation import problem

REQUEST_TIMEOUT_S = 0.5
UNRESPONSIVE_S = 5.0

Status = dict[str, Any]


class RequestFailed(Exception):
    """A request got an error reply, an invalid reply or none in time."""


class StatusTimeout(Exception):
    """The status never showed what the session waited for."""


class ConnectionLost(Exception):
    """The connection closed, or the PECC stopped sending status."""


class PepClient:
    """An SECC's end of one gun's connection; run :meth:`receive` as a task."""

    def __init__(
        self,
        ws: ClientConnection,
        progress: GunProgress,
        stats: RunStats,
        *,
        on_stop_charging: Callable[[], None] = lambda: None,
        request_timeout: float = REQUEST_TIMEOUT_S,
        unresponsive_after: float = UNRESPONSIVE_S,
    ) -> None:
        self.ws = ws
        self.progress = progress
        self.stats = stats
        self.io = SeccIo()
        self.on_stop_charging = on_stop_charging
        self.request_timeout = request_timeout
        self.unresponsive_after = unresponsive_after
        self._encoder = Encoder(float_values=True)
        self.status: Status | None = None
        self.closed_reason = ""
        #: the PECC's last ``event`` text (its fault descriptions): failure reasons quote it
        self.last_event = ""
        self._seq = SequenceCounter()
        self._slot = asyncio.Lock()
        self._pending: tuple[int, str, asyncio.Future[tuple[dict[str, Any], float]]] | None = None
        self._timed_out_seq = 0
        self._peer_seq: int | None = None
        self._last_status_at = asyncio.get_running_loop().time()
        self._waiter: tuple[Callable[[Status], bool], asyncio.Future[Status]] | None = None

    @property
    def float_values(self) -> bool:
        """False after a configuration without ``floatValues: true``: every number sent is then an integer."""
        return self._encoder.float_values

    @float_values.setter
    def float_values(self, value: bool) -> None:
        self._encoder.float_values = value

    # -- sending ----------------------------------------------------------------

    async def request(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a request and return the response payload.

        Raises :class:`RequestFailed` (also recorded as a protocol error) on
        an error reply or no reply within the timeout, and
        :class:`ConnectionLost` when the connection goes meanwhile.
        """
        async with self._slot:
            seq = self._seq.next()
            future: asyncio.Future[tuple[dict[str, Any], float]] = asyncio.get_running_loop().create_future()
            self._pending = (seq, kind, future)
            sent_at = stopwatch()
            try:
                await self._send(self._encoder.message("request", kind, payload, seq))
                async with asyncio.timeout(self.request_timeout):
                    reply, received_at = await future
            except TimeoutError:
                self._timed_out_seq = seq
                raise self._failed(
                    f"{kind} #{seq}: no reply within {self.request_timeout * 1000:.0f} ms"
                ) from None
            finally:
                self._pending = None
                _retrieved(future)
        self.stats.latency[kind].append(received_at - sent_at)
        if reply["type"] == "error":
            body = reply["payload"]
            raise self._failed(
                f"{kind} #{seq}: error {body.get('errorCategory')}: {body.get('errorDetails')!r}"
            )
        answer: dict[str, Any] = reply["payload"]
        return answer

    async def inform(self, kind: str, payload: dict[str, Any]) -> None:
        """Send an info message (evConnectionState, chargingSession)."""
        await self._send(self._encoder.message("info", kind, payload))

    async def _send(self, frame: bytes) -> None:
        try:
            await self.ws.send(frame, text=True)
        except ConnectionClosed:
            raise ConnectionLost(self.closed_reason or "connection closed") from None
        self.stats.sent += 1

    def _failed(self, text: str) -> RequestFailed:
        self.stats.error(self.progress, text)
        return RequestFailed(text)

    # -- waiting for status ----------------------------------------------------------

    async def wait_status(self, condition: Callable[[Status], bool], timeout: float, what: str) -> Status:
        """The first status (the present one included) for which ``condition`` holds."""
        if self.status is not None and condition(self.status):
            return self.status
        future: asyncio.Future[Status] = asyncio.get_running_loop().create_future()
        self._waiter = (condition, future)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise StatusTimeout(f"no status with {what} within {timeout:g} s") from None
        finally:
            self._waiter = None
            _retrieved(future)

    # -- receiving ----------------------------------------------------------------

    async def receive(self) -> None:
        """Read and handle every frame until the connection closes."""
        watchdog = asyncio.create_task(self._watch_status())
        try:
            async for raw in self.ws:
                self.stats.received += 1
                await self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            if not self.closed_reason:
                self.closed_reason = f"connection closed ({self.ws.close_code or 'no close frame'})"
            self._abort(ConnectionLost(self.closed_reason))

    def _abort(self, exc: Exception) -> None:
        if self._pending is not None and not self._pending[2].done():
            self._pending[2].set_exception(exc)
        if self._waiter is not None and not self._waiter[1].done():
            self._waiter[1].set_exception(exc)

    async def _watch_status(self) -> None:
        period = min(0.5, self.unresponsive_after / 4)
        while True:
            await asyncio.sleep(period)
            silent = asyncio.get_running_loop().time() - self._last_status_at
            if silent > self.unresponsive_after:
                self.closed_reason = f"PECC unresponsive: no status for {silent:.1f} s"
                self.stats.error(self.progress, self.closed_reason)
                await self.ws.close()
                return

    async def _handle(self, raw: str | bytes) -> None:
        received_at = stopwatch()
        if isinstance(raw, bytes):
            self.stats.error(self.progress, "binary frame (PEP-WS frames are UTF-8 JSON text)")
            return
        try:
            msg = parse(raw)
        except FrameError as exc:
            self.stats.error(self.progress, f"unparsable frame {raw[:40]!r}: {exc}")
            return
        why = problem(msg)
        if why is not None:
            await self._invalid(msg, why)
            return
        msg_type = msg["type"]
        if msg_type == "info":
            self._info(msg)
        elif msg_type == "request":
            await self._answer(msg)
        else:
            self._reply(msg, received_at)

    async def _invalid(self, msg: Any, why: str) -> None:
        kind = msg.get("kind") if isinstance(msg, dict) else None
        self.stats.error(self.progress, f"invalid {kind or 'message'}: {why}")
        if not isinstance(msg, dict):
            return
        if msg.get("type") == "request":
            answered = kind if isinstance(kind, str) and kind in PECC_REQUESTS else "error"
            await self._send_error(answered, sequence_of(msg), "format", why)
        elif msg.get("type") in ("response", "error") and self._pending is not None:
            seq, _, future = self._pending
            if sequence_of(msg) == seq and not future.done():
                future.set_exception(RequestFailed(f"invalid reply: {why}"))

    def _info(self, msg: dict[str, Any]) -> None:
        kind = msg["kind"]
        if kind == "status":
            self._on_status(msg["payload"])
        elif kind == "event":
            self.last_event = str(msg["payload"].get("eventDetails", ""))
        else:
            self.stats.error(self.progress, f"unexpected info kind {kind!r} from the PECC")

    def _on_status(self, status: Status) -> None:
        now = asyncio.get_running_loop().time()
        if self.status is not None:
            self.stats.status_intervals.append(now - self._last_status_at)
        self._last_status_at = now
        self.status = status
        progress = self.progress
        progress.voltage = status["measuredVoltage"]
        progress.current = status["measuredCurrent"]
        waiter = self._waiter
        if waiter is not None and not waiter[1].done() and waiter[0](status):
            waiter[1].set_result(status)

    def _reply(self, msg: dict[str, Any], received_at: float) -> None:
        seq, kind = msg["sequenceNumber"], msg["kind"]
        pending = self._pending
        if pending is not None and pending[0] == seq:
            _, pending_kind, future = pending
            if kind != pending_kind and not (msg["type"] == "error" and kind == "error"):
                self.stats.error(
                    self.progress, f"reply #{seq} has kind {kind!r}, the request was {pending_kind!r}"
                )
            if not future.done():
                future.set_result((msg, received_at))
        elif seq != self._timed_out_seq:  # a late reply was already counted as a timeout
            self.stats.error(self.progress, f"{msg['type']} #{seq} ({kind}) answers no pending request")

    # -- the PECC's requests ---------------------------------------------------------------

    async def _answer(self, msg: dict[str, Any]) -> None:
        seq, kind, payload = msg["sequenceNumber"], msg["kind"], msg["payload"]
        self._check_peer_seq(seq, kind)
        try:
            if kind == "getInput":
                body: dict[str, Any] = {"inputValues": self.io.read(payload["inputIdentifiers"])}
            elif kind == "setOutput":
                self.io.write(payload["outputValues"])
                body = {}
            elif kind == "stopCharging":
                self.on_stop_charging()
                body = {}
            else:
                self.stats.error(self.progress, f"unexpected request kind {kind!r} from the PECC")
                await self._send_error("error", seq, "format", f"an SECC does not handle {kind!r} requests")
                return
        except IoRefused as exc:
            await self._send_error(kind, seq, "value", str(exc))
            return
        await self._send(self._encoder.message("response", kind, body, seq))

    def _check_peer_seq(self, seq: int, kind: str) -> None:
        expected = None if self._peer_seq is None else self._peer_seq % SEQUENCE_MAX + 1
        if seq == 0 or (expected is not None and seq != expected):
            self.stats.error(
                self.progress, f"{kind} request #{seq}: sequence number should be {expected or 'from 1'}"
            )
        self._peer_seq = seq

    async def _send_error(self, kind: str, seq: int, category: str, details: str) -> None:
        await self._send(self._encoder.error(kind, seq, category, details))


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark the failure of a future nobody awaits any more as seen.

    The receiver fails a pending request or status wait when the connection
    goes (:meth:`PepClient._abort`); if its caller has already left (the send
    failed first, or it was cancelled), asyncio would log the failure as
    "never retrieved" at every reconnection.
    """
    if future.done() and not future.cancelled():
        future.exception()
