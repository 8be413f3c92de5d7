"""One python-can bus on the asyncio loop: open, receive, send, detect death, reopen.

Every CAN user in PECC (the vendor drivers and the module simulator) talks
to its bus through a :class:`CanLink`, so the rules for a bus live here once:

- the bus is opened with ``can.Bus(interface=, channel=, bitrate=)``; an
  open that fails is not an error for the caller, the link keeps retrying
  with an exponential backoff;
- one :class:`can.Notifier` per bus, bound to the running loop, with a
  listener that only hands the frame to a plain callback (no queue, no task
  per frame);
- :meth:`CanLink.send` never blocks (``timeout=0``) and never raises: a
  full transmit buffer is counted, a dead bus is closed and reopened;
  failures are logged once per episode, not once per frame;
- frame and byte counters for a bus-load figure (:mod:`.load`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass

import can

from pecc_plugins.canbus.episode import Episode
from pecc_plugins.canbus.tasks import cancel

log = logging.getLogger(__name__)

#: errno values that mean "try again later", not "the bus is gone".
TRANSIENT_ERRNOS = frozenset({errno.ENOBUFS, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})

FrameHandler = Callable[[can.Message], None]
StateHandler = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Where a bus is and how hard to try reopening it."""

    interface: str = "virtual"
    channel: str = "can0"
    bitrate: int = 125_000
    reopen_min_s: float = 0.1
    reopen_max_s: float = 5.0
    #: seconds a thread-based notifier waits in ``recv``; bounds the stop delay.
    rx_poll_s: float = 0.1


@dataclass(slots=True)
class Counters:
    """What went over the bus through this link since it was created."""

    tx_frames: int = 0
    tx_bytes: int = 0
    rx_frames: int = 0
    rx_bytes: int = 0
    tx_failures: int = 0
    opens: int = 0
    open_failures: int = 0
    deaths: int = 0
    handler_errors: int = 0


class _Notifier(can.Notifier):
    """A Notifier whose fd reader reports a failing ``recv`` instead of raising.

    With a file-descriptor bus (socketcan) the stock Notifier calls
    ``bus.recv(0)`` from a loop reader callback; when the interface goes
    down that raises on every wake-up, flooding the loop's exception
    handler. Routing the error to the listeners' ``on_error`` lets the link
    close the bus (which removes the reader) and reopen it.
    """

    def _on_message_available(self, bus: can.BusABC) -> None:
        try:
            super()._on_message_available(bus)
        except (can.CanError, OSError) as exc:
            self._on_error(exc)


class _Listener(can.Listener):
    """Hands frames and receive errors to the link; runs on the loop thread."""

    def __init__(self, link: CanLink) -> None:
        self._link = link

    def on_message_received(self, msg: can.Message) -> None:
        self._link._received(msg)

    def on_error(self, exc: Exception) -> None:
        self._link._died(exc, "receive")


class CanLink:
    """A self-healing CAN bus for one asyncio user.

    :param on_frame: called on the loop thread for every received frame;
        must not block.
    :param on_state: called with True when the bus (re)opens and False when
        it dies.
    """

    def __init__(
        self,
        config: BusConfig,
        on_frame: FrameHandler,
        on_state: StateHandler | None = None,
        name: str = "can",
    ) -> None:
        self.config = config
        self.name = name
        self.counters = Counters()
        self._on_frame = on_frame
        self._on_state = on_state
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._reopen: asyncio.Task[None] | None = None
        self._closing = False
        self._threaded = False  # the notifier reads in a thread (no fd)
        self._open_failures = Episode(log, f"{name}: opening {config.interface}/{config.channel}")
        self._send_failures = Episode(log, f"{name}: sending")
        self._handler_failures = Episode(log, f"{name}: handling frames")
        self._deaths = Episode(log, f"{name}: bus {config.interface}/{config.channel}")
        self._delay = config.reopen_min_s  # the next reopen backoff
        self._opened_at = 0.0

    @property
    def up(self) -> bool:
        """True while the bus is open and usable."""
        return self._bus is not None

    @property
    def bus(self) -> can.BusABC | None:
        """The open python-can bus (for tests and diagnostics), or None."""
        return self._bus

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Try to open the bus once; on failure keep retrying in the background."""
        self._closing = False
        if not await self._open():
            self._schedule_reopen()

    async def stop(self) -> None:
        """Close the bus and stop retrying."""
        self._closing = True
        await cancel(self._reopen)
        self._reopen = None
        threaded = self._threaded
        self._close()
        if threaded:
            # let the notifier's receive thread notice the stop before the loop goes
            await asyncio.sleep(self.config.rx_poll_s)

    async def _open(self) -> bool:
        cfg = self.config
        try:
            # Opening may block on some interfaces (serial adapters): keep it off the loop.
            bus = await asyncio.to_thread(
                can.Bus, interface=cfg.interface, channel=cfg.channel, bitrate=cfg.bitrate
            )
        except Exception as exc:  # any interface may raise anything on open
            self.counters.open_failures += 1
            self._open_failures.failed(f"{exc} (retrying)", level=logging.ERROR)
            return False
        self._open_failures.ok()
        if self._closing:
            bus.shutdown()
            return False
        loop = asyncio.get_running_loop()
        self._bus = bus
        self._threaded = not _has_fd(bus)
        self._notifier = _Notifier(bus, [_Listener(self)], timeout=cfg.rx_poll_s, loop=loop)
        self._opened_at = loop.time()
        self.counters.opens += 1
        log.log(
            logging.INFO if self.counters.opens == 1 else logging.DEBUG,
            "%s: %s/%s open",
            self.name,
            cfg.interface,
            cfg.channel,
        )
        if self._on_state is not None:
            self._on_state(True)  # may find the bus dead again at once
        return True

    def _close(self) -> None:
        """Stop the notifier and shut the bus down."""
        notifier, bus = self._notifier, self._bus
        self._notifier = None
        self._bus = None
        if notifier is not None:
            notifier.stop(timeout=0)  # never join a receive thread on the loop
        if bus is not None:
            try:
                bus.shutdown()
            except Exception as exc:  # a dying interface may fail to close too
                log.debug("%s: shutdown failed: %s", self.name, exc)

    def _schedule_reopen(self) -> None:
        if self._closing or (self._reopen is not None and not self._reopen.done()):
            return
        self._reopen = asyncio.get_running_loop().create_task(self._reopen_loop())

    async def _reopen_loop(self) -> None:
        # A bus that opens but dies at once (interface down, bus-off) keeps
        # this loop going with a growing delay instead of a reopen storm.
        while not self._closing:
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, self.config.reopen_max_s)
            if await self._open() and self._bus is not None:
                return

    def _died(self, exc: BaseException, where: str) -> None:
        """The bus is unusable: close it, tell the user, start reopening."""
        if self._bus is None or self._closing:
            return
        self.counters.deaths += 1
        self._deaths.failed(f"down ({where}: {exc}); reopening", level=logging.ERROR)
        if asyncio.get_running_loop().time() - self._opened_at > self.config.reopen_max_s:
            self._delay = self.config.reopen_min_s  # it had worked for a while: retry quickly
        self._close()
        if self._on_state is not None:
            self._on_state(False)
        self._schedule_reopen()

    # -- traffic --------------------------------------------------------------

    def _received(self, msg: can.Message) -> None:
        if self._bus is None or msg.is_error_frame or msg.is_remote_frame:
            return
        counters = self.counters
        counters.rx_frames += 1
        counters.rx_bytes += msg.dlc
        if self._deaths.active:
            self._deaths.ok()
        try:
            self._on_frame(msg)
        except Exception:  # a handler bug must not flood the log at bus speed
            counters.handler_errors += 1
            self._handler_failures.failed(msg, traceback=True, level=logging.ERROR)
            return
        if self._handler_failures.active:
            self._handler_failures.ok()

    def send(self, arbitration_id: int, data: bytes | bytearray) -> bool:
        """Send one extended data frame now; False if it did not go out.

        Never blocks and never raises: a full transmit queue is counted as a
        failure, any other error closes the bus and starts reopening it.
        """
        bus = self._bus
        counters = self.counters
        if bus is None:
            counters.tx_failures += 1
            return False
        msg = can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=True)
        try:
            bus.send(msg, timeout=0)
        except (can.CanError, OSError) as exc:
            counters.tx_failures += 1
            self._send_failed(exc)
            return False
        counters.tx_frames += 1
        counters.tx_bytes += len(data)
        if self._send_failures.active:
            self._send_failures.ok()
        if self._deaths.active:
            self._deaths.ok()
        return True

    def _send_failed(self, exc: BaseException) -> None:
        if _errno_of(exc) in TRANSIENT_ERRNOS or _is_buffer_full(exc):
            self._send_failures.failed(f"{exc}; counting until it recovers")
            return
        self._died(exc, "send")


def _has_fd(bus: can.BusABC) -> bool:
    try:
        return bus.fileno() >= 0
    except NotImplementedError:
        return False


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError):
        return exc.errno
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, int) else None


def _is_buffer_full(exc: BaseException) -> bool:
    # socketcan with timeout=0 reports a full queue as CanOperationError without errno
    return isinstance(exc, can.CanOperationError) and "buffer full" in str(exc).lower()
