"""One SECC connected to one gun: the gun's :class:`~pecc_core.transport.SeccLink`.

A connection runs five activities on the loop, none of which waits for
another:

- the **receive loop** (the websockets handler itself) parses and validates
  frames. Replies to the PECC's own requests are matched right there, so a
  handler that is waiting for the SECC's answer never blocks the loop that
  must read it (the lesson of mobilityhouse/ocpp issue #130). Everything
  else is checked at once (:meth:`~pecc_plugins.pepws.dispatch.Dispatcher.check`,
  a bounded cost per frame) and goes, in order, to a small bounded inbox as
  either a finished error reply or the validated payload for its handler:
  nothing of an invalid frame is kept, and a flooding client is slowed down
  by TCP, nobody else is.
- the **worker** answers requests and applies info messages one at a time,
  in arrival order, through the :class:`~pecc_plugins.pepws.dispatch.Dispatcher`.
  A handler is never cancelled halfway: if the SECC goes away mid-request
  the gun's state machine still finishes its step (the worker stops after
  it); only the reply is dropped.
- the **status task** sends the gun's status when the connection is
  accepted, then every ``status_interval_ms`` at the gun's own phase of the
  period (``phase``, spread over the station's guns by the server, so that
  1000 guns do not all fall due in the same loop turn), whatever else is
  going on. A gun that went inoperative and back between two statuses is
  reported inoperative in the next one: the SECC must learn of every
  episode (a cable check a fault ended within 200 ms is still ended).
- the **writer** sends the frames that had to wait, from a bounded queue
  (``server.send_queue``). A reply or a status is sent at once by the task
  that made it (a loop turn less per frame) when nothing is waiting or being
  sent and the socket has taken everything so far; otherwise it waits its
  turn in the queue. A client that cannot keep up is disconnected when the
  queue is full, never buffered without bound.
- the **liveness task** pings every ``ping_interval_ms``; without a pong so
  that the SECC is silent for ``secc_unresponsive_ms`` in total, the gun is
  detached (its state machine goes to standby) at once and the socket closed.

Every frame received, and every frame handed to the socket, goes to the
server's taps (:class:`~pecc_core.taps.Taps`, a flight recorder's) as it
is, before anything else looks at it.

Detaching happens exactly once per connection, with a reason, whatever ends
it first: the SECC closing, a ping timeout, a full queue, a new connection
to the same gun, or the PECC stopping.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from pecc_core.episode import Episode
from pecc_core.errors import SeccError, SeccNotConnected, SeccTimeout
from pecc_core.model import Operational
from pecc_plugins.pepws import schemas
from pecc_plugins.pepws.codec import (
    Encoder,
    FrameError,
    SequenceCounter,
    cyclic_gc_paused,
    parse,
    sequence_of,
)
from pecc_plugins.pepws.dispatch import Call

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from pecc_core.gun import Gun
    from pecc_core.profile.model import Timings
    from pecc_core.station import Plugins
    from pecc_core.taps import Taps
    from pecc_plugins.pepws.dispatch import Dispatcher
    from pecc_plugins.pepws.stats import TransportStats

log = logging.getLogger(__name__)

#: Checked messages waiting for the worker; beyond this the receive loop waits.
INBOX_SIZE = 16
#: A frame this big is no real PEP-WS message (those are < 1 KiB): it is taken
#: only with a slot of the server's ``large_frames`` semaphore, held until the
#: loop has turned, so that however many connections send them, each loop turn
#: spends at most that many large frames while other guns' statuses wait.
LARGE_FRAME = 8 * 1024
_REPLY_TYPES = ("response", "error")
_BINARY = FrameError("binary frames are not allowed: PEP-WS messages are UTF-8 JSON text")


@dataclass(slots=True)
class _Pending:
    """The one PECC -> SECC request of this connection that awaits its reply."""

    seq: int
    kind: str
    reply: asyncio.Future[Any]


class Connection:
    """The live link between one gun and the SECC connected to its URL."""

    def __init__(
        self,
        ws: ServerConnection,
        gun: Gun,
        dispatcher: Dispatcher,
        encoder: Encoder,
        timings: Timings,
        send_queue: int,
        stats: TransportStats,
        observers: Plugins,
        phase: float = 0.0,
        large_frames: asyncio.Semaphore | None = None,
        taps: Taps[[str, bool, str | bytes]] | None = None,
    ) -> None:
        self.gun = gun
        self._taps: Taps[[str, bool, str | bytes]] = taps or Taps("PEP-WS")
        self._stats = stats
        self._observers = observers
        #: Numbers of the PECC's requests on this connection (own counter per connection).
        self.sequence = SequenceCounter()
        self._ws = ws
        self._dispatcher = dispatcher
        self._encoder = encoder
        self._timings = timings
        #: Where in the status period this gun's statuses fall (0 <= phase < 1).
        self._phase = phase
        self._large_frames = large_frames or asyncio.Semaphore(1)
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(send_queue)
        #: Error replies to send and calls for the worker, in arrival order.
        self._inbox: asyncio.Queue[bytes | Call] = asyncio.Queue(INBOX_SIZE)
        #: How many tasks are inside ``ws.send`` (waiting for the client, maybe).
        self._sending = 0
        self._request_lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._worker: asyncio.Task[None] | None = None
        #: The worker is inside a handler (which must not be cancelled).
        self._handling = False
        self._closer: asyncio.Task[None] | None = None
        #: Why the connection was detached from its gun (None while attached).
        self.detached: str | None = None

    def __repr__(self) -> str:
        return f"<Connection gun={self.gun.id} from={self._ws.remote_address}>"

    # -- life cycle ----------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it ends; the gun has this link meanwhile."""
        self.gun.secc_attached(self)
        peer = _peer(self._ws.remote_address)
        log.info("gun %s: SECC connected from %s (%s)", self.gun.id, peer,
                 self._ws.subprotocol or "no sub-protocol", extra={"gun": self.gun.id})
        self._stats.connects += 1
        self._observers.secc_connected(self.gun, peer, self._ws.subprotocol)
        self._tasks = [
            asyncio.create_task(loop(), name=f"pepws {self.gun.id} {loop.__name__}")
            for loop in (self._write_loop, self._status_loop, self._work_loop, self._liveness_loop)
        ]
        self._worker = self._tasks[2]
        reason = "connection handler cancelled"
        try:
            reason = await self._receive_loop()
        finally:
            self.detach(reason)
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def detach(self, reason: str) -> None:
        """Take this link off its gun (once) and stop every activity but the receive loop.

        Called from anywhere, including from one of the connection's own
        tasks (a full queue seen by the status task, a ping timeout).
        """
        if self.detached is not None:
            return
        self.detached = reason
        pending = self._pending
        if pending is not None and not pending.reply.done():
            pending.reply.set_exception(SeccNotConnected(reason))
        for task in self._tasks:  # the current one too: it stops at its next await
            if task is not self._worker or not self._handling:
                task.cancel()  # a worker inside a handler stops after it
        while not self._inbox.empty():  # frees a receive loop blocked on a full inbox
            self._inbox.get_nowait()
        # Losing the SECC mid-session ends a charge: worth a warning; an idle one leaving is not.
        level = logging.WARNING if self.gun.active else logging.INFO
        log.log(level, "gun %s: SECC disconnected in %s: %s", self.gun.id, self.gun.state, reason,
                extra={"gun": self.gun.id})
        self._stats.disconnects += 1
        try:
            self.gun.secc_detached(self, reason)
        except Exception:
            log.exception("gun %s: secc_detached failed", self.gun.id)
        self._observers.secc_disconnected(self.gun, reason)

    def drop(self, reason: str, code: CloseCode = CloseCode.NORMAL_CLOSURE) -> None:
        """Detach now and close the WebSocket in the background (the peer may be gone)."""
        self.detach(reason)
        if self._closer is None:
            self._closer = asyncio.create_task(self._ws.close(code, reason[:120]))

    # -- receiving ---------------------------------------------------------------

    async def _receive_loop(self) -> str:
        """Read frames until the connection closes; returns why it closed."""
        ws = self._ws
        put = self._inbox.put
        take = self._take
        taps, gun_id = self._taps, self.gun.id
        try:
            async for frame in ws:
                if taps.all:
                    taps(gun_id, True, frame)
                if len(frame) > LARGE_FRAME:
                    async with self._large_frames:
                        with cyclic_gc_paused():
                            work = take(frame)
                        await asyncio.sleep(0)  # the slot is free again in the next loop turn
                else:
                    with cyclic_gc_paused():
                        work = take(frame)
                if work is not None and self.detached is None:
                    await put(work)
        except ConnectionClosed:
            pass
        return f"connection closed ({ws.close_code} {ws.close_reason or ''})".rstrip()

    def _take(self, frame: str | bytes) -> bytes | Call | None:
        """One frame: a reply is matched at once; anything else checked into inbox work.

        The parsed message is dropped before this returns: only the checked
        work (an error reply, or a call with its payload) is kept.
        """
        if isinstance(frame, str):
            try:
                message = parse(frame)
            except FrameError as exc:
                return self._dispatcher.check(exc)
            if type(message) is dict and message.get("type") in _REPLY_TYPES:
                self._on_reply(message)
                return None
            return self._dispatcher.check(message)
        return self._dispatcher.check(_BINARY)

    async def _work_loop(self) -> None:
        get = self._inbox.get
        run = self._dispatcher.run
        while True:
            work = await get()
            if isinstance(work, Call):
                self._handling = True
                try:
                    reply = await run(work, self)
                finally:
                    self._handling = False
                if self.detached is not None:
                    return
            else:
                reply = work
            if reply is not None:
                await self._send_now(reply)

    def _on_reply(self, message: dict[str, Any]) -> None:
        """A response or error from the SECC: the answer to our pending request, or dropped."""
        msg_type = message["type"]
        pending = self._pending
        seq = sequence_of(message)
        if pending is None or pending.reply.done() or seq != pending.seq:
            self._dispatcher.noise.log(
                logging.WARNING,
                "gun %s: dropping %s %r #%r: no pending request has that number",
                self.gun.id, msg_type, message.get("kind"), message.get("sequenceNumber"),
            )
            return
        if msg_type == "error":
            validate = schemas.ERROR
        else:
            validate = schemas.validator_for("response", pending.kind) or schemas.ENVELOPES["response"]
        problem = schemas.problem(validate, message)
        if problem is not None:
            pending.reply.set_exception(SeccError("format", f"invalid {msg_type} to {pending.kind}: {problem}"))
        elif msg_type == "error":
            payload = message["payload"]
            pending.reply.set_exception(SeccError(payload["errorCategory"], payload["errorDetails"]))
        else:
            pending.reply.set_result(message["payload"])

    # -- sending -------------------------------------------------------------------

    def _send(self, frame: bytes) -> None:
        """Queue one frame (UTF-8 JSON); a full queue means the SECC does not keep up: drop it.

        Queued as a copy of its own length: the encoder's bytes sit in a 4 KiB
        buffer whatever their length (orjson's), and a queue of an SECC that
        stopped reading would hold ``server.send_queue`` of them.
        """
        if self.detached is not None:
            return
        try:
            self._outbox.put_nowait(memoryview(frame).tobytes())
        except asyncio.QueueFull:
            self.drop(
                f"send queue full ({self._outbox.maxsize} messages): the SECC does not keep up",
                CloseCode.POLICY_VIOLATION,
            )

    async def _send_now(self, frame: bytes) -> None:
        """Send ``frame`` from this task when that cannot wait, else queue it.

        At once only if nothing is queued or being sent and the socket took
        everything so far (an empty transport buffer): then ``ws.send`` does
        not wait for the client, and a client that stops reading still fills
        the queue and is dropped.
        """
        if (
            self._sending
            or not self._outbox.empty()
            or self._ws.transport.get_write_buffer_size()
            or self.detached is not None
        ):
            self._send(frame)
            return
        await self._write(frame)

    async def _write(self, frame: bytes) -> None:
        if self._taps.all:
            self._taps(self.gun.id, False, frame)
        self._sending += 1
        try:
            await self._ws.send(frame, text=True)
        except ConnectionClosed:
            pass
        finally:
            self._sending -= 1

    async def _write_loop(self) -> None:
        get = self._outbox.get
        write = self._write
        while True:
            await write(await get())

    async def _status_loop(self) -> None:
        """Status now, then on the gun's slots, every interval (no drift, no catch-up bursts).

        The slots are the loop clock's grid shifted by the gun's phase; after
        a stall the late status goes out and the next one is back on a slot.
        """
        loop = asyncio.get_running_loop()
        interval = self._timings.status_interval_ms / 1000
        offset = self._phase * interval
        send = self._send_now
        report = self.gun.report
        encode = self._encoder.status
        failures = Episode(log, f"gun {self.gun.id}: building the status message", ok_level=logging.INFO)
        observe = self._stats.status_interval.observe
        sent: float | None = None
        reported = report().inoperative_count
        now = loop.time()
        due = now + (offset - now) % interval  # the gun's first slot
        while True:
            try:
                status = report()
                if status.inoperative_count != reported:
                    reported = status.inoperative_count
                    if status.operational is Operational.OPERATIVE:  # inoperative and back since the last one
                        status = replace(status, operational=Operational.INOPERATIVE)
                await send(encode(status))
                now = loop.time()
                if sent is not None:
                    observe(now - sent)
                sent = now
                failures.ok()
            except Exception as exc:
                failures.failed(exc, traceback=True, level=logging.ERROR)
            now = loop.time()
            if due <= now:  # late (a stall): the next slot after now
                due = now + ((offset - now) % interval or interval)
            await asyncio.sleep(due - now)
            due += interval

    async def _liveness_loop(self) -> None:
        interval = self._timings.ping_interval_ms / 1000
        # Pinged every interval, silent for interval + timeout at most.
        timeout = (self._timings.secc_unresponsive_ms - self._timings.ping_interval_ms) / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                async with asyncio.timeout(timeout):
                    pong = await self._ws.ping()
                    await pong
            except TimeoutError:
                self.drop(
                    f"SECC unresponsive: no pong for {self._timings.secc_unresponsive_ms} ms",
                    CloseCode.INTERNAL_ERROR,
                )
                return
            except ConnectionClosed:
                return

    # -- SeccLink: PECC -> SECC ------------------------------------------------------

    async def request(self, kind: str, payload: Any) -> Any:
        """Send one request and return the SECC's response payload.

        One request is pending at a time; other callers wait their turn.
        Raises :class:`SeccTimeout` without a reply within ``request_timeout_ms``,
        :class:`SeccError` for an error reply (or a malformed reply),
        :class:`SeccNotConnected` if the connection is or goes away, and
        ValueError for a payload that is not a valid ``kind`` request. Their
        texts say what happened on this link; whoever reports one names the gun.
        """
        async with self._request_lock:
            if self.detached is not None:
                raise SeccNotConnected(self.detached)
            seq = self.sequence.next()
            message = {"type": "request", "kind": kind, "sequenceNumber": seq, "payload": payload}
            problem = schemas.problem(schemas.MESSAGES[("request", kind)], message)
            if problem is not None:
                raise ValueError(f"invalid {kind} request: {problem}")
            frame = self._encoder.message("request", kind, payload, seq)
            reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending = _Pending(seq, kind, reply)
            try:
                self._send(frame)
                async with asyncio.timeout(self._timings.request_timeout_ms / 1000):
                    return await reply
            except TimeoutError:
                raise SeccTimeout(f"no reply to {kind} #{seq} within {self._timings.request_timeout_ms} ms") from None
            finally:
                self._pending = None

    async def get_input(self, identifiers: list[str]) -> dict[str, Any]:
        payload = await self.request("getInput", {"inputIdentifiers": list(identifiers)})
        values = payload.get("inputValues")
        if not isinstance(values, dict):
            raise SeccError("format", "getInput response without an inputValues object")
        return values

    async def set_output(self, values: dict[str, Any]) -> None:
        await self.request("setOutput", {"outputValues": dict(values)})

    async def stop_charging(self) -> None:
        await self.request("stopCharging", {})

    def send_event(self, details: str) -> None:
        self._send(self._encoder.message("info", "event", {"eventDetails": str(details)}))


def _peer(address: Any) -> str:
    """``host:port`` of a socket address (``?`` when unknown)."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return "?"
