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

Registered under the ``can.interface`` entry-point group, so it is opened
like any interface: ``can.Bus(interface="timedvirtual", channel="x",
bitrate=125000)``. Plain ``virtual`` buses on the same channel see the
timed traffic (handy as a spy) but their own frames skip the wire.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import deque
from copy import copy
from typing import Any

import can
from can.interfaces.virtual import VirtualBus
from can.typechecking import Channel

from pecc_plugins.canbus.load import stuffed_bits

#: The kernel's transmit queue length for a CAN network device.
DEFAULT_TXQUEUELEN = 10

_wires: dict[Channel, _Wire] = {}
_wires_lock = threading.Lock()


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
        #: (loop-independent monotonic time it was queued, frame), oldest first
        self.tx_queue: deque[tuple[float, can.Message]] = deque()
        with _wires_lock:
            wire = _wires.get(self.channel_id)
            if wire is None:
                wire = _wires[self.channel_id] = _Wire(self.channel_id, bitrate)
            elif wire.bitrate != bitrate:
                super().shutdown()
                raise can.CanInitializationError(
                    f"channel {self.channel_id!r} runs at {wire.bitrate} bit/s, not {bitrate}"
                )
            wire.attach(self)
        self._wire = wire
        self.channel_info = f"Timed virtual bus channel {self.channel_id} at {bitrate} bit/s"

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        """Queue ``msg`` for the wire; ENOBUFS when the queue is full."""
        self._check_if_open()
        self._wire.enqueue(self, copy(msg))

    def _deliver(self, msg: can.Message, wall_time: float) -> None:
        """Hand a frame that has crossed the wire to every other node, stamped with its end."""
        for bus_queue in self.channel:
            if bus_queue is not self.queue or self.receive_own_messages:
                received = copy(msg)
                received.timestamp = wall_time
                received.is_rx = bus_queue is not self.queue
                bus_queue.put(received)

    def shutdown(self) -> None:
        with _wires_lock:
            if self._wire.detach(self):
                del _wires[self.channel_id]
        super().shutdown()


class _Wire:
    """The shared medium of one channel.

    Frames are clocked in virtual time: each starts when the wire is free
    (and not before it was queued) and ends after its bit time. Whoever
    holds the lock advances the wire to "now" — the sender before it
    checks its queue, or the wire's thread at the next frame's end — and
    delivers every frame that has ended by then, so a busy interpreter
    (the thread waits for the GIL) delays deliveries but never slows the
    wire down.
    """

    def __init__(self, channel: Channel, bitrate: int) -> None:
        self.bitrate = bitrate
        self.nodes: list[TimedVirtualBus] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._free_at = time.monotonic()  # end of the last frame on the wire
        self._wall_offset = time.time() - time.monotonic()
        self._bits: dict[tuple[int, bytes], int] = {}
        self._thread = threading.Thread(target=self._run, name=f"timedvirtual {channel}", daemon=True)
        self._thread.start()

    def attach(self, node: TimedVirtualBus) -> None:
        with self._cond:
            self.nodes.append(node)

    def detach(self, node: TimedVirtualBus) -> bool:
        """Remove ``node`` (its queued frames are lost); True if the wire is now unused."""
        with self._cond:
            self.nodes.remove(node)
            node.tx_queue.clear()
            if self.nodes:
                return False
            self._stopped = True
            self._cond.notify()
        return True

    def enqueue(self, node: TimedVirtualBus, msg: can.Message) -> None:
        with self._cond:
            now = time.monotonic()
            self._advance(now)
            if len(node.tx_queue) >= node.txqueuelen:
                raise can.CanOperationError("Failed to transmit: No buffer space available", errno.ENOBUFS)
            node.tx_queue.append((now, msg))
            self._cond.notify()

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
            if node._open:
                node._deliver(msg, end + self._wall_offset)
        return None

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                due = self._advance(time.monotonic())
                self._cond.wait(None if due is None else max(due - time.monotonic(), 0.0))
