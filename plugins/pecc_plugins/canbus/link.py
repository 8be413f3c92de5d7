"""One python-can bus on the asyncio loop: open, receive, send, detect death, reopen.

Every CAN user in PECC (the vendor drivers and the module simulator) talks
to its bus through a :class:`CanLink`, so the rules for a bus live here once:

- the bus is opened with ``can.Bus(interface=, channel=, bitrate=)``; an
  open that fails is not an error for the caller, the link keeps retrying
  with an exponential backoff;
- frames are read by a :class:`~pecc_plugins.canbus.reader.BusReader` and
  handed to a plain callback on the loop thread (no queue, no task per
  frame); a receive error closes the bus and reopens it;
- :meth:`CanLink.send` never blocks and never raises: it queues the frame
  in the bus's :class:`~pecc_plugins.canbus.scheduler.TxScheduler`
  (priority classes, pacing, retries of a full transmit queue); an error
  that is not transient closes the bus and reopens it; failures are logged
  once per episode, not once per frame;
- counters and an estimated bus load (:meth:`CanLink.stats`);
- taps (:meth:`CanLink.add_tap`): every frame received and every frame
  handed to the bus, as the ``can.Message`` it is (a flight recorder keeps
  them; nothing is copied or formatted here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import can

from pecc_core.asyncutil import cancel
from pecc_core.episode import Episode
from pecc_core.power import BusStats, BusTap
from pecc_core.taps import Taps
from pecc_plugins.canbus.load import estimated_bits
from pecc_plugins.canbus.reader import BusReader
from pecc_plugins.canbus.scheduler import Pending, Priority, TxConfig, TxScheduler

log = logging.getLogger(__name__)

FrameHandler = Callable[[can.Message], None]
StateHandler = Callable[[bool], None]
StuckHandler = Callable[[Pending], None]

#: Seconds over which the bus load is estimated.
LOAD_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Where a bus is, how to pace frames on it and how hard to try reopening it."""

    interface: str = "virtual"
    channel: str = "can0"
    bitrate: int = 125_000
    reopen_min_s: float = 0.1
    reopen_max_s: float = 5.0
    #: seconds a reader thread waits in ``recv``; bounds the stop delay.
    rx_poll_s: float = 0.1
    tx: TxConfig = field(default_factory=TxConfig)


@dataclass(slots=True)
class Counters:
    """What went over the bus through this link since it was created (transmit: ``tx``)."""

    tx_bits: int = 0  # estimated, stuff bits included
    rx_frames: int = 0
    rx_bytes: int = 0
    rx_bits: int = 0
    opens: int = 0
    open_failures: int = 0
    deaths: int = 0  # the bus became unusable (bus-off, interface down, adapter gone)
    handler_errors: int = 0


class CanLink:
    """A self-healing CAN bus for one asyncio user.

    :param on_frame: called on the loop thread for every received frame;
        must not block.
    :param on_state: called with True when the bus (re)opens and False when
        it dies.
    :param on_stuck: called when an off frame could not be sent in time
        (see :class:`~pecc_plugins.canbus.scheduler.TxScheduler`).
    """

    def __init__(
        self,
        config: BusConfig,
        on_frame: FrameHandler,
        on_state: StateHandler | None = None,
        name: str = "can",
        on_stuck: StuckHandler | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self.counters = Counters()
        self.scheduler = TxScheduler(self._write, config.tx, config.bitrate, self._send_died, on_stuck, name)
        self._on_frame = on_frame
        self._on_state = on_state
        self._taps: Taps[[bool, Any]] = Taps(name)
        self._bus: can.BusABC | None = None
        self._reader: BusReader | None = None
        self._reopen: asyncio.Task[None] | None = None
        self._closing = False
        self._open_failures = Episode(log, f"{name}: opening {config.interface}/{config.channel}")
        self._handler_failures = Episode(log, f"{name}: handling frames")
        self._deaths = Episode(log, f"{name}: bus {config.interface}/{config.channel}")
        self._delay = config.reopen_min_s  # the next reopen backoff
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop it was opened on: its clock
        self._opened_at = 0.0
        self._window_at = 0.0  # start of the bus-load window
        self._window_bits = 0  # tx + rx bits at its start
        self._load = 0.0

    @property
    def up(self) -> bool:
        """True while the bus is open and usable."""
        return self._bus is not None

    @property
    def bus(self) -> can.BusABC | None:
        """The open python-can bus (for tests and diagnostics), or None."""
        return self._bus

    def add_tap(self, tap: BusTap) -> None:
        """Call ``tap(received, msg)`` for every frame received, and every frame handed to the bus."""
        self._taps.add(tap)

    def remove_tap(self, tap: BusTap) -> None:
        self._taps.remove(tap)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Try to open the bus once; on failure keep retrying in the background."""
        self._closing = False
        if not await self._open():
            self._schedule_reopen()

    async def stop(self, drain_s: float = 0.5) -> None:
        """Send what is queued (for at most ``drain_s``), close the bus and stop retrying."""
        await self.drain(drain_s)
        self._closing = True
        await cancel(self._reopen)
        self._reopen = None
        threaded = self._reader is not None and self._reader.threaded
        self._close()
        if threaded:
            # let the reader thread notice the stop before the loop goes
            await asyncio.sleep(self.config.rx_poll_s)

    async def drain(self, timeout: float) -> bool:
        """Wait until every queued frame has been handed to the bus; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._bus is not None and self.scheduler.queued:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.002)
        return True

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
        self._reader = BusReader(bus, self._received, self._receive_died, loop, cfg.rx_poll_s)
        self._reader.start()
        self.scheduler.start(loop)
        self._loop = loop
        self._opened_at = self._window_at = loop.time()
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
        """Stop reading, forget queued frames and shut the bus down."""
        reader, bus = self._reader, self._bus
        self._reader = None
        self._bus = None
        if reader is not None:
            reader.stop()  # never joins a reader thread on the loop
        self.scheduler.clear()
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

    def _receive_died(self, exc: Exception) -> None:
        self._died(exc, "receive")

    def _send_died(self, exc: BaseException) -> None:
        self._died(exc, "send")

    def _received(self, msg: can.Message) -> None:
        if self._bus is None or msg.is_error_frame or msg.is_remote_frame:
            return
        counters = self.counters
        counters.rx_frames += 1
        counters.rx_bytes += msg.dlc
        counters.rx_bits += estimated_bits(msg.dlc)
        if self._deaths.active:
            self._deaths.ok()
        if self._taps.all:
            self._taps(True, msg)
        try:
            self._on_frame(msg)
        except Exception:  # a handler bug must not flood the log at bus speed
            counters.handler_errors += 1
            self._handler_failures.failed(msg, traceback=True, level=logging.ERROR)
            return
        if self._handler_failures.active:
            self._handler_failures.ok()

    def send(
        self,
        arbitration_id: int,
        data: bytes | bytearray,
        priority: Priority = Priority.SETPOINT,
        owner: int | None = None,
        slot: Hashable | None = None,
    ) -> bool:
        """Queue one extended data frame; False if it was refused.

        Never blocks and never raises. Refused (and counted as dropped) when
        the bus is down or the frame's class is full; queued frames go out
        in priority order at the bus's pace (:mod:`.scheduler`). ``owner``
        (a module address) is told through ``on_stuck`` if an off cannot go
        out; ``slot`` (the register a setpoint writes) lets a newer setpoint
        replace one still waiting.
        """
        if self._bus is None:
            self.scheduler.counters.dropped += 1
            return False
        msg = can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=True)
        return self.scheduler.submit(msg, priority, owner, slot)

    def _write(self, msg: can.Message) -> None:
        """Hand one frame to the bus now (the scheduler's writer)."""
        bus = self._bus
        if bus is None:
            raise can.CanOperationError("the bus is closed")
        bus.send(msg, timeout=0)
        self.counters.tx_bits += estimated_bits(msg.dlc)
        if self._taps.all:
            self._taps(False, msg)
        if self._deaths.active:
            self._deaths.ok()

    def stats(self) -> BusStats:
        """Counters and the estimated bus load (own frames and received ones) right now."""
        tx, counters = self.scheduler.counters, self.counters
        return BusStats(
            sent=tx.sent,
            retried=tx.retried,
            dropped=tx.dropped,
            superseded=tx.superseded,
            off_escalations=tx.off_escalations,
            error_episodes=tx.error_episodes,
            deaths=counters.deaths,
            received=counters.rx_frames,
            queued=self.scheduler.queued,
            load_percent=self.load_percent(),
            open_failures=counters.open_failures,
        )

    def load_percent(self) -> float:
        """Estimated bus load over the last :data:`LOAD_WINDOW_S` (frames seen by this node)."""
        if self._loop is None:
            return 0.0  # never opened
        now = self._loop.time()  # the loop's clock, read from any thread
        bits = self.counters.tx_bits + self.counters.rx_bits
        elapsed = now - self._window_at
        if elapsed >= LOAD_WINDOW_S:
            self._load = 100.0 * (bits - self._window_bits) / elapsed / self.config.bitrate
            self._window_at, self._window_bits = now, bits
        elif self.counters.opens == 1 and self._load == 0.0 and elapsed > 0:
            return 100.0 * (bits - self._window_bits) / elapsed / self.config.bitrate  # the first second
        return self._load
