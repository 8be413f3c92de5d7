"""``timedvirtual``: python-can's ``virtual`` bus with the timing of a real one.

python-can's ``virtual`` interface delivers every frame at once and never
refuses one, which hides what a real cabinet punishes: a driver that
writes 36 frames in 5 ms. A :class:`TimedVirtualBus` behaves like a Linux
socketcan node on a shared wire:

- every node has a transmit queue of ``txqueuelen`` frames (10, the
  kernel's default for CAN devices); a frame written to a full queue
  raises :class:`can.CanOperationError` with ``error_code = errno.ENOBUFS``
  at once, exactly what :class:`can.interfaces.socketcan.SocketcanBus`
  raises when the kernel answers ``ENOBUFS`` (its ``timeout`` does not
  help there either: the socket itself stays writable);
- one wire per channel carries one frame at a time, for the frame's exact
  bit time (stuff bits included) at ``bitrate``; when the wire is free,
  the pending frame with the lowest identifier wins, as in CAN
  arbitration, and each node sends its own frames in order;
- a frame reaches the other nodes when its last bit has gone over the
  wire, with that moment as its timestamp.

The wire runs on the asyncio loop of its first sender and reads that
loop's clock: a frame ends at ``loop.time()`` plus its bit time, by a
``call_at`` timer, never by a thread. So the same simulated cabinet runs
in real time under ``pecc run`` and on virtual time in the tests, where a
busy machine cannot delay a frame. A node that a
:class:`~pecc_plugins.canbus.reader.BusReader` reads gets its frames by a
callback on the loop (:meth:`TimedVirtualBus.listen`); any other node
keeps them in its queue for ``recv``. Sending from a thread with no
running loop is refused (``CanOperationError``). A wire whose loop has
closed is taken over by the next loop that sends on it; frames still
queued then start on the new loop's clock.

Registered under the ``can.interface`` entry-point group, so it is opened
like any interface: ``can.Bus(interface="timedvirtual", channel="x",
bitrate=125000)``. Plain ``virtual`` buses on the same channel see the
timed traffic (handy as a spy) but their own frames skip the wire: they
reach a listening timed node at once, on the node's loop (by
``call_soon_threadsafe``, so a spy may send from any thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import queue
import threading
from collections import deque
from collections.abc import Callable
from copy import copy
from typing import Any

import can
from can.interfaces.virtual import VirtualBus, channels_lock
from can.typechecking import Channel

from pecc_core.clock import wall
from pecc_plugins.canbus.load import stuffed_bits

#: The kernel's transmit queue length for a CAN network device.
DEFAULT_TXQUEUELEN = 10

FrameHandler = Callable[[can.Message], None]

_wires: dict[Channel, _Wire] = {}
_wires_lock = threading.Lock()  # buses may be opened in a worker thread (CanLink opens off the loop)


class TimedVirtualBus(VirtualBus):
    """One node on a timed virtual wire (see the module docstring).

    :param bitrate: bits per second of the wire; every node on a channel
        must use the same one.
    :param txqueuelen: frames this node's transmit queue holds.
    """

    def __init__(
        self,
        channel: Channel = "channel-0",
        bitrate: int = 125_000,
        txqueuelen: int = DEFAULT_TXQUEUELEN,
        **kwargs: Any,
    ) -> None:
        if bitrate <= 0 or txqueuelen <= 0:
            raise can.CanInitializationError(f"bitrate and txqueuelen must be positive, got {bitrate}, {txqueuelen}")
        super().__init__(channel=channel, **kwargs)
        self.bitrate = bitrate
        self.txqueuelen = txqueuelen
        #: (loop time it was queued, frame), oldest first
        self.tx_queue: deque[tuple[float, can.Message]] = deque()
        self._listener: FrameHandler | None = None
        self._listener_loop: asyncio.AbstractEventLoop | None = None
        with channels_lock:  # python-can's own queue, in its channel list, becomes an _Inbox
            inbox = _Inbox(self)
            self.channel[self.channel.index(self.queue)] = inbox
            self.queue = inbox
        with _wires_lock:
            wire = _wires.get(self.channel_id)
            if wire is None:
                wire = _wires[self.channel_id] = _Wire(bitrate)
            elif wire.bitrate != bitrate:
                super().shutdown()
                raise can.CanInitializationError(
                    f"channel {self.channel_id!r} runs at {wire.bitrate} bit/s, not {bitrate}"
                )
            wire.attach(self)
        self._wire = wire
        self.channel_info = f"Timed virtual bus channel {self.channel_id} at {bitrate} bit/s"

    def _check_if_open(self) -> None:
        """A closed node fails as a closed socketcan socket does: EBADF, a dead bus, not a full queue.

        (python-can's ``virtual`` raises without an errno, which reads as "transmit
        buffer full"; a plain virtual bus's reader thread finds the closed bus, and
        no thread reads a timed node.)
        """
        if not self._open:
            raise can.CanOperationError("Cannot operate on a closed bus", errno.EBADF)

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        """Queue ``msg`` for the wire; ENOBUFS when the queue is full (from the loop only)."""
        self._check_if_open()
        self._wire.enqueue(self, copy(msg))

    def listen(self, on_frame: FrameHandler | None) -> None:
        """Hand every frame that reaches this node to ``on_frame`` on the loop (None: to ``recv`` again).

        Called on the loop that is to run ``on_frame``. Frames already
        waiting for ``recv`` go to ``on_frame`` first, in order.
        """
        self._listener = on_frame
        self._listener_loop = None if on_frame is None else asyncio.get_running_loop()
        if on_frame is not None:
            while not self.queue.empty():
                on_frame(self.queue.get_nowait())

    def _deliver(self, msg: can.Message, at: float) -> None:
        """Hand a frame that has crossed the wire to every other node, stamped with its end."""
        loop = self._wire.loop
        for bus_queue in self.channel:
            if bus_queue is not self.queue or self.receive_own_messages:
                received = copy(msg)
                received.timestamp = at
                received.is_rx = bus_queue is not self.queue
                if isinstance(bus_queue, _Inbox) and bus_queue.node._listener_loop is loop is not None:
                    bus_queue.node._listener(received)  # type: ignore[misc]  # set with its loop
                else:
                    bus_queue.put(received)

    def shutdown(self) -> None:
        self._listener = self._listener_loop = None
        if self._open:  # a second shutdown does nothing, as python-can's own
            with _wires_lock:
                if self._wire.detach(self):
                    del _wires[self.channel_id]
        super().shutdown()


class _Inbox(queue.Queue[can.Message]):
    """A timed node's receive queue; a frame put while the node has a listener goes to it instead.

    The wire calls the listener itself (:meth:`TimedVirtualBus._deliver`);
    what comes here is a plain ``virtual`` bus's ``send``, from any thread:
    it reaches the listener by its loop, never re-entering the sender.
    """

    def __init__(self, node: TimedVirtualBus) -> None:
        super().__init__()
        self.node = node

    def put(self, item: can.Message, block: bool = True, timeout: float | None = None) -> None:
        listener, loop = self.node._listener, self.node._listener_loop
        if listener is None or loop is None:
            super().put(item, block, timeout)
            return
        with contextlib.suppress(RuntimeError):  # its loop has closed: nobody reads this node any more
            loop.call_soon_threadsafe(listener, item)


class _Wire:
    """The shared medium of one channel, clocked by the loop of its first sender.

    Each frame starts when the wire is free (and not before it was queued)
    and ends after its bit time. The wire keeps one ``call_at`` timer for
    the end of the frame on it; the timer and every ``enqueue`` advance the
    wire to ``loop.time()`` and deliver each frame that has ended by then
    with ``call_soon``, in wire order: a sender is never re-entered by the
    frames it makes others answer.
    """

    def __init__(self, bitrate: int) -> None:
        self.bitrate = bitrate
        self.nodes: list[TimedVirtualBus] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free_at = 0.0  # loop time the last frame on the wire ended
        self._wall_offset = 0.0  # wall clock minus loop clock: a frame's timestamp
        self._timer: asyncio.TimerHandle | None = None
        self._due: float | None = None
        self._bits: dict[tuple[int, bytes], int] = {}

    def attach(self, node: TimedVirtualBus) -> None:
        self.nodes.append(node)

    def detach(self, node: TimedVirtualBus) -> bool:
        """Remove ``node`` (its queued frames are lost); True if the wire is now unused."""
        self.nodes.remove(node)
        node.tx_queue.clear()
        if self.nodes:
            return False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return True

    def enqueue(self, node: TimedVirtualBus, msg: can.Message) -> None:
        loop = self._bind()
        now = loop.time()
        due = self._advance(now)
        if len(node.tx_queue) >= node.txqueuelen:
            self._arm(due)  # the queue still drains (after a new loop took the wire over, no timer runs yet)
            raise can.CanOperationError("Failed to transmit: No buffer space available", errno.ENOBUFS)
        node.tx_queue.append((now, msg))
        self._arm(self._advance(now))

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the wire runs on (None before its first frame)."""
        return self._loop

    def _bind(self) -> asyncio.AbstractEventLoop:
        """The wire's loop: the running one, taken at the first frame."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise can.CanOperationError("timedvirtual: send from a coroutine or callback of the loop") from None
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise can.CanOperationError("timedvirtual: the wire already runs on another event loop")
            now = loop.time()
            self._loop = loop
            self._free_at = now
            self._wall_offset = wall() - now
            self._timer = None  # it died with the old loop
            self._due = None
            for node in self.nodes:  # frames left from the old loop: its clock means nothing here
                node.tx_queue = deque((now, msg) for _, msg in node.tx_queue)
        return loop

    def _arm(self, due: float | None) -> None:
        """Keep the one timer at the end of the frame on the wire."""
        if due == self._due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._due = due
        self._timer = None if due is None or self._loop is None else self._loop.call_at(due, self._tick)

    def _tick(self) -> None:
        due = self._due
        self._timer = self._due = None
        if self._loop is not None:
            # The timer runs at the end of the frame on the wire. asyncio runs it when the clock is
            # within its resolution of ``due`` (and looptime counts whole microseconds): a clock a
            # hair short of ``due`` must not leave the frame "not over yet" and the timer re-armed
            # for a moment already reached, which would spin without the clock ever moving.
            now = self._loop.time()
            self._arm(self._advance(now if due is None else max(now, due)))

    def _duration(self, msg: can.Message) -> float:
        data = bytes(msg.data)
        key = (msg.arbitration_id, data)
        bits = self._bits.get(key)
        if bits is None:
            if len(self._bits) > 4096:
                self._bits.clear()
            bits = self._bits[key] = stuffed_bits(msg.arbitration_id, data)
        return bits / self.bitrate

    def _next(self) -> tuple[TimedVirtualBus, float] | None:
        """The node whose head frame goes next, and when that frame starts.

        Among heads queued by the time the wire is free, the lowest
        identifier wins (arbitration); if none is, the first one queued.
        """
        free_at = self._free_at
        best: TimedVirtualBus | None = None
        best_key: tuple[float, int] | None = None
        for node in self.nodes:
            if node.tx_queue:
                queued_at, msg = node.tx_queue[0]
                key = (max(queued_at, free_at), msg.arbitration_id)
                if best_key is None or key < best_key:
                    best, best_key = node, key
        if best is None or best_key is None:
            return None
        return best, best_key[0]

    def _advance(self, now: float) -> float | None:
        """Deliver every frame that has ended by ``now``; the end of the next one, if any."""
        while (chosen := self._next()) is not None:
            node, start = chosen
            msg = node.tx_queue[0][1]
            end = start + self._duration(msg)
            if end > now:
                return end
            node.tx_queue.popleft()
            self._free_at = end
            if node._open and self._loop is not None:
                self._loop.call_soon(node._deliver, msg, end + self._wall_offset)
        return None
