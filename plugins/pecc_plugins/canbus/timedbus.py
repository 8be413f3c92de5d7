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
        self.tx_queue: deque[can.Message] = deque()
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

    def _deliver(self, msg: can.Message) -> None:
        """Hand a frame that has crossed the wire to every other node."""
        if self._open:
            super().send(msg)

    def shutdown(self) -> None:
        with _wires_lock:
            if self._wire.detach(self):
                del _wires[self.channel_id]
        super().shutdown()


class _Wire:
    """The shared medium of one channel: a thread that clocks frames across it."""

    def __init__(self, channel: Channel, bitrate: int) -> None:
        self.bitrate = bitrate
        self.nodes: list[TimedVirtualBus] = []
        self._cond = threading.Condition()
        self._stopped = False
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
            if len(node.tx_queue) >= node.txqueuelen:
                raise can.CanOperationError("Failed to transmit: No buffer space available", errno.ENOBUFS)
            node.tx_queue.append(msg)
            self._cond.notify()

    def _next(self) -> TimedVirtualBus | None:
        """The node whose queued head frame wins arbitration (lowest identifier)."""
        best: TimedVirtualBus | None = None
        for node in self.nodes:
            if node.tx_queue and (best is None or node.tx_queue[0].arbitration_id < best.tx_queue[0].arbitration_id):
                best = node
        return best

    def _run(self) -> None:
        free_at = time.monotonic()  # when the wire is free again
        while True:
            with self._cond:
                node = self._next()
                while node is None and not self._stopped:
                    self._cond.wait()
                    node = self._next()
                if self._stopped:
                    return
                assert node is not None
                msg = node.tx_queue[0]
            # Frames queued while the wire was busy follow back to back: a late
            # wake-up of this thread does not slow the wire down on average.
            start = max(free_at, time.monotonic())
            free_at = start + stuffed_bits(msg.arbitration_id, bytes(msg.data)) / self.bitrate
            delay = free_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self._cond:
                if not node.tx_queue or node.tx_queue[0] is not msg:
                    continue  # the node shut down meanwhile
                node.tx_queue.popleft()
            node._deliver(msg)
