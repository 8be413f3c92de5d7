"""Receive the frames of one python-can bus on the asyncio loop.

:class:`can.Notifier` cannot report a failing receive on a file-descriptor
bus: with socketcan it registers ``bus.recv(0)`` as a loop reader, and
when the interface goes down that raises in the loop on every wake-up.
:class:`BusReader` uses only public interfaces (``BusABC.fileno``,
``BusABC.recv``, ``loop.add_reader``) and turns the first receive error
into one ``on_error`` call, after which it has stopped reading:

- a bus with a file descriptor (socketcan) is read from a loop reader,
  every frame that is ready at once;
- a bus that delivers on the loop itself (:class:`OnLoopBus`: the timed
  virtual bus) hands every frame to ``on_frame`` directly; no thread, so
  it runs on virtual time in the tests;
- any other bus (virtual, serial adapters) is read by a thread blocking in
  ``recv(poll_s)``; frames are handed to the loop in batches (one wake-up
  per batch, not per frame).

Frames reach ``on_frame`` on the loop thread, in bus order.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import can

FrameHandler = Callable[[can.Message], None]
ErrorHandler = Callable[[Exception], None]

#: Frames read per loop wake-up of a file-descriptor bus, so a flood cannot starve the loop.
BATCH = 64


@runtime_checkable
class OnLoopBus(Protocol):
    """A bus that calls a listener on the event loop for every frame it receives."""

    def listen(self, on_frame: FrameHandler | None) -> None:
        """Hand every received frame to ``on_frame`` (None: stop)."""


class BusReader:
    """Reads ``bus`` until :meth:`stop` or the first receive error."""

    def __init__(
        self,
        bus: can.BusABC,
        on_frame: FrameHandler,
        on_error: ErrorHandler,
        loop: asyncio.AbstractEventLoop,
        poll_s: float = 0.1,
    ) -> None:
        self._bus = bus
        self._on_frame = on_frame
        self._on_error = on_error
        self._loop = loop
        self._poll_s = poll_s
        self._stopped = False
        self._fd = _fileno(bus)
        self._pending: deque[can.Message] = deque()
        self._scheduled = False
        self._thread: threading.Thread | None = None

    @property
    def threaded(self) -> bool:
        """True when a thread reads (no file descriptor, no loop delivery); it stops within ``poll_s``."""
        return self._fd < 0 and not isinstance(self._bus, OnLoopBus)

    def start(self) -> None:
        if self._fd >= 0:
            self._loop.add_reader(self._fd, self._readable)
            return
        if isinstance(self._bus, OnLoopBus):
            self._bus.listen(self._on_frame)
            return
        self._thread = threading.Thread(
            target=self._run, name=f"can reader {self._bus.channel_info}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; never waits for the reader thread (it ends within ``poll_s``)."""
        if self._stopped:
            return
        self._stopped = True
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
        elif isinstance(self._bus, OnLoopBus):
            self._bus.listen(None)

    # -- file-descriptor buses: on the loop --------------------------------------

    def _readable(self) -> None:
        bus, handle = self._bus, self._on_frame
        for _ in range(BATCH):
            try:
                msg = bus.recv(0)
            except Exception as exc:  # any interface may raise anything once it is gone
                self._fail(exc)
                return
            if msg is None or self._stopped:
                return
            handle(msg)

    def _fail(self, exc: Exception) -> None:
        if not self._stopped:
            self.stop()
            self._on_error(exc)

    # -- other buses: a thread -----------------------------------------------------

    def _run(self) -> None:
        bus, pending, loop = self._bus, self._pending, self._loop
        while not self._stopped:
            try:
                msg = bus.recv(self._poll_s)
            except Exception as exc:
                if not self._stopped:
                    _call_soon(loop, self._fail, exc)
                return
            if msg is None:
                continue
            pending.append(msg)
            if not self._scheduled:
                self._scheduled = True
                if not _call_soon(loop, self._drain):
                    return

    def _drain(self) -> None:
        self._scheduled = False  # before draining: a frame appended from now on schedules again
        pending, handle = self._pending, self._on_frame
        while pending:
            msg = pending.popleft()
            if self._stopped:
                pending.clear()
                return
            handle(msg)


def _fileno(bus: can.BusABC) -> int:
    try:
        return bus.fileno()
    except NotImplementedError:
        return -1


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: object) -> bool:
    """Schedule ``callback`` from the reader thread; False once the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True
