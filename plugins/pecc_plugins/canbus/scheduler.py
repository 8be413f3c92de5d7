"""The transmit scheduler of a bus: priority classes, pacing, retries.

A Linux CAN device queues 10 frames; a driver that writes a burst loses
its tail with ``ENOBUFS`` (always the same modules, which then look
silent) and the kernel's queue is first in, first out, so an "off" behind
nine polls waits for them. The scheduler keeps frames in its own queues
and hands them to the bus at the pace the wire drains them:

- three classes, served in this order: :attr:`Priority.OFF` (off and
  emergency commands) always first, then :attr:`Priority.SETPOINT`, then
  :attr:`Priority.POLL`, except that while polls wait at least one frame
  in ``poll_every`` is a poll: setpoints that kept the wire busy would
  otherwise leave every reading stale, and the guns would lose their
  power stage (a setpoint that waits meanwhile is replaced by newer ones
  for its register, not piled up); first in, first out within a class; a poll identical to one still
  queued (same identifier and data) is not queued twice: its answer would
  be the same, and a backlog of repeats only delays the answers; a
  setpoint for a register (``slot``, the driver's: a module's voltage
  reference, say) that still has one waiting replaces that one's frame in
  its place: the module gets the newest value, no sooner and no later, and
  a setpoint class never holds more than one frame per register; an off
  takes its module's waiting setpoints and refreshes out of the queues:
  sent after the off, an older "output on" would switch the module on
  again;
- pacing: a frame costs its wire time at the bitrate (with half the
  worst-case stuff bits: :func:`~pecc_plugins.canbus.load.estimated_bits`;
  or a fixed gap), a poll twice that (``poll_cost``: its reply takes the wire
  too, and the controller's frames win arbitration, so polls paced at
  the wire's own rate would fill the device queue, first in first out,
  in front of the next setpoint); a small credit (``burst`` frames) lets
  a few frames go out back to back after a quiet spell, never more than
  the device queue absorbs; when the scheduler fell behind (its loop
  woke late while frames waited, as on a busy CPU), the wire drained the
  device queue meanwhile and up to ``catch_up`` frames go at once: paced
  one wake-up at a time, a late loop would otherwise send ``burst`` frames
  per wake-up and fall further behind until its queues overflow;
- a transient refusal (``ENOBUFS``, a transmit timeout: :func:`is_transient`)
  keeps the frame at the head of its class and retries after a short
  backoff (doubling up to ``retry_max_s``, a few frame times: a full
  device queue drains one frame per wire time, and a frame waiting for the
  next retry waits longer than one waiting in the queue); polls and setpoints that
  cannot go out for ``give_up_s`` are dropped and counted;
- an off is never dropped: it is retried until it goes out, and if it
  has not after ``off_escalate_s`` the owner is told (the module driver
  then treats the module as unreachable, a fault);
- any other error means the bus is unusable: ``on_dead`` is called and
  the link closes the bus (and :meth:`TxScheduler.clear` the queues; the
  link then reports the bus down, which takes every module out of service).

Everything runs on the event loop, never blocks (the bus is written with
``timeout=0``) and allocates one small entry per frame.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import IntEnum

import can

from pecc_core.episode import Episode
from pecc_plugins.canbus.load import estimated_bits

log = logging.getLogger(__name__)

#: A credit short of a frame's cost by less than this is enough: the shortfall is the
#: rounding of the credit sums (less than one bit at 500 kbit/s). Waiting for it would
#: ask for a timer at ``now`` again and again on a clock that only moves when the loop
#: idles (virtual time in the tests): the pump would spin without ever sending.
CREDIT_SLACK_S = 1e-6

#: The soonest a pump asks to be woken again (s): the event loops' timers have a
#: millisecond's resolution (epoll's, libuv's). uvloop rounds a shorter wait to none
#: and wakes the pump at once, again and again until the frame's wire time has passed:
#: at 1 Mbit/s (0.13 ms a frame) that spun at 187 us of CPU a frame, against 14 on the
#: standard loop, which waits at least a millisecond anyway. Woken a millisecond later,
#: the pump sends what the wire drained meanwhile (its catch-up credit).
MIN_WAKE_S = 0.001

#: errno values of a send that means "the queue is full, try again", not "the bus is gone".
TRANSIENT_ERRNOS = frozenset({errno.ENOBUFS, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})


class Priority(IntEnum):
    """Transmit classes, most urgent first."""

    OFF = 0  #: off and emergency commands: never dropped
    SETPOINT = 1  #: setpoints and other commands
    POLL = 2  #: read requests


def is_transient(exc: BaseException) -> bool:
    """True if a failed send may succeed later: a full queue, not a dead bus.

    Decided by type and errno: an :class:`OSError` or
    :class:`can.CanOperationError` whose errno (``error_code``) is one of
    :data:`TRANSIENT_ERRNOS`, or a :class:`can.CanOperationError` without
    one, which python-can's socketcan raises when the socket did not become
    writable within the send timeout ("transmit buffer full").
    """
    if isinstance(exc, can.CanOperationError):
        return exc.error_code is None or exc.error_code in TRANSIENT_ERRNOS
    if isinstance(exc, OSError):
        return exc.errno in TRANSIENT_ERRNOS
    return False


@dataclass(frozen=True, slots=True)
class TxConfig:
    """How a scheduler paces and retries.

    :attr gap_s: fixed time per frame; None: each frame's estimated wire time.
    :attr burst: frames that may go out back to back after a quiet spell.
    :attr catch_up: frames that may go out back to back when the scheduler fell
        behind (below the device's transmit queue: socketcan's holds 10).
    :attr poll_cost: wire times a poll is given (itself and its reply).
    :attr poll_every: while polls wait, at least one frame in this many is a
        poll (0: setpoints always before polls).
    :attr retry_min_s, retry_max_s: backoff after a transient refusal.
    :attr give_up_s: a poll or setpoint refused this long is dropped.
    :attr off_escalate_s: an off refused this long is reported to its owner.
    :attr max_queued: frames waiting per class (offs excepted) before new ones are dropped.
    """

    gap_s: float | None = None
    burst: int = 2
    catch_up: int = 8
    poll_cost: float = 2.0
    poll_every: int = 4
    retry_min_s: float = 0.001
    retry_max_s: float = 0.004
    give_up_s: float = 1.0
    off_escalate_s: float = 0.5
    max_queued: int = 256


@dataclass(slots=True)
class TxCounters:
    """What a scheduler did since its link was created."""

    sent: int = 0
    retried: int = 0  # transient refusals (each retried later)
    dropped: int = 0  # polls and setpoints given up, refused for a full queue, or lost with the bus
    superseded: int = 0  # not sent: a poll already waiting, a setpoint replaced, a module's setpoints behind its off
    off_escalations: int = 0  # offs that could not go out in time (owner told)
    error_episodes: int = 0  # runs of transient refusals


class Pending:
    """A frame waiting in a scheduler queue."""

    __slots__ = ("escalated", "msg", "owner", "priority", "queued_at", "slot")

    def __init__(
        self, msg: can.Message, priority: Priority, owner: int | None, queued_at: float, slot: Hashable | None = None
    ) -> None:
        self.msg = msg
        self.priority = priority
        #: who sent it (a module address), told if an off cannot go out
        self.owner = owner
        self.queued_at = queued_at
        #: the register a setpoint writes (a newer setpoint for it replaces this one)
        self.slot = slot
        self.escalated = False


Write = Callable[[can.Message], None]
StuckHandler = Callable[[Pending], None]


class TxScheduler:
    """Queues, paces and retries the frames of one bus (see the module docstring).

    :param bitrate: bits per second of the bus (pacing).
    :param write: sends one frame now (``bus.send(msg, timeout=0)``); raises
        on failure.
    :param on_dead: a non-transient error: the bus is unusable.
    :param on_stuck: an off that could not go out within ``off_escalate_s``.
    """

    def __init__(
        self,
        write: Write,
        config: TxConfig,
        bitrate: int,
        on_dead: Callable[[BaseException], None],
        on_stuck: StuckHandler | None = None,
        name: str = "can",
    ) -> None:
        self.config = config
        self.counters = TxCounters()
        self._write = write
        self._on_dead = on_dead
        self._on_stuck = on_stuck
        self._queues: tuple[deque[Pending], ...] = tuple(deque() for _ in Priority)
        #: (identifier, data) of every queued poll, so that a repeat is not queued twice
        self._polls: set[tuple[int, bytes]] = set()
        #: the queued setpoint of every register that has one
        self._slots: dict[Hashable, Pending] = {}
        gaps = [config.gap_s if config.gap_s is not None else estimated_bits(n) / bitrate for n in range(9)]
        #: wire time given to a frame, by class and data length
        self._costs = tuple(
            tuple(gap * (config.poll_cost if priority is Priority.POLL else 1.0) for gap in gaps)
            for priority in Priority
        )
        largest = max(max(c) for c in self._costs)
        self._max_credit = max(config.burst * gaps[8], largest)
        self._catch_up_credit = max(config.catch_up * gaps[8], self._max_credit)
        self._credit = self._max_credit
        self._credit_at = 0.0
        #: setpoints sent in a row while polls waited; at this many a poll goes first
        self._setpoints_in_row = 0
        self._poll_after = config.poll_every - 1 if config.poll_every else None
        self._blocked_until = 0.0
        self._backoff = config.retry_min_s
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # refusals are routine on a busy bus (counted); drops and escalations are not
        self._refusals = Episode(log, f"{name}: sending refused", ok_level=logging.DEBUG)
        self._drops = Episode(log, f"{name}: frames dropped")

    @property
    def queued(self) -> int:
        """Frames waiting, all classes."""
        return sum(len(q) for q in self._queues)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Accept frames from now on (the bus is open)."""
        self._loop = loop
        self._credit_at = loop.time()
        self._blocked_until = 0.0
        self._backoff = self.config.retry_min_s

    def submit(
        self, msg: can.Message, priority: Priority, owner: int | None = None, slot: Hashable | None = None
    ) -> bool:
        """Queue ``msg``; False if it was refused (not started, or its class is full).

        ``slot``: the register a ``SETPOINT`` writes; a setpoint for it still
        waiting takes ``msg``'s place instead (see the module docstring).
        """
        loop = self._loop
        if loop is None:
            self.counters.dropped += 1
            return False
        queue = self._queues[priority]
        if priority is Priority.POLL:
            key = (msg.arbitration_id, bytes(msg.data))
            if key in self._polls:
                self.counters.superseded += 1
                return True
        elif priority is Priority.SETPOINT and slot is not None and (waiting := self._slots.get(slot)) is not None:
            waiting.msg, waiting.owner, waiting.queued_at = msg, owner, loop.time()
            self.counters.superseded += 1
            return True
        if priority is not Priority.OFF and len(queue) >= self.config.max_queued:
            self._dropped(f"{priority.name.lower()} queue full ({len(queue)} frames)")
            return False
        entry = Pending(msg, priority, owner, loop.time(), slot if priority is Priority.SETPOINT else None)
        if priority is Priority.POLL:
            self._polls.add(key)
        elif priority is Priority.OFF and owner is not None:
            self._supersede(owner)
        elif entry.slot is not None:
            self._slots[entry.slot] = entry
        queue.append(entry)
        if self._timer is None:
            self._pump()
        return True

    def clear(self) -> None:
        """The bus is closed: forget every queued frame (counted as dropped).

        Not escalated: the link reports the bus down, which takes every
        module out of service anyway.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None
        offs = len(self._queues[Priority.OFF])
        for queue in self._queues:
            self.counters.dropped += len(queue)
            queue.clear()
        self._polls.clear()
        self._slots.clear()
        if offs:
            log.warning("%d off frames not sent: the bus closed", offs)

    # -- the pump -------------------------------------------------------------------

    def _head(self) -> deque[Pending] | None:
        off, setpoints, polls = self._queues
        if off:
            return off
        if setpoints:
            due = self._poll_after is not None and self._setpoints_in_row >= self._poll_after
            return polls if polls and due else setpoints
        return polls or None

    def _pump(self, behind: bool = False) -> None:
        """Send what the credit allows; ``behind``: woken for frames that were waiting."""
        self._timer = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        if now < self._blocked_until:
            self._wake_at(loop, self._blocked_until)
            return
        credit = min(self._credit + now - self._credit_at, self._catch_up_credit if behind else self._max_credit)
        self._credit_at = now
        counters, costs = self.counters, self._costs
        while (queue := self._head()) is not None:
            entry = queue[0]
            cost = costs[entry.priority][min(entry.msg.dlc, 8)]
            if credit < cost - CREDIT_SLACK_S:
                self._credit = credit
                self._wake_at(loop, now + cost - credit)
                return
            try:
                self._write(entry.msg)
            except Exception as exc:  # an interface may raise anything; classified below
                # a refusal means the device queue is full: credit counts its draining from here
                self._credit = 0.0 if is_transient(exc) else credit
                if is_transient(exc):
                    self._refused(loop, now, exc)
                else:
                    self._on_dead(exc)
                return
            self._taken(queue)
            credit -= cost
            counters.sent += 1
            if entry.priority is Priority.SETPOINT:
                self._setpoints_in_row += 1
            elif entry.priority is Priority.POLL:
                self._setpoints_in_row = 0
            if self._refusals.active:
                self._refusals.ok()
                self._backoff = self.config.retry_min_s
            if self._drops.active:
                self._drops.ok()
        self._credit = credit

    def _supersede(self, owner: int) -> None:
        """An off for ``owner``: its setpoints and refreshes still waiting must not follow it."""
        for priority in (Priority.SETPOINT, Priority.POLL):
            queue = self._queues[priority]
            if any(entry.owner == owner for entry in queue):
                kept = []
                for entry in queue:
                    if entry.owner != owner:
                        kept.append(entry)
                    else:
                        self._forget(entry)  # a refresh may be queued again
                self.counters.superseded += len(queue) - len(kept)
                queue.clear()
                queue.extend(kept)

    def _taken(self, queue: deque[Pending]) -> None:
        """Remove the head of ``queue`` (sent or given up)."""
        self._forget(queue.popleft())

    def _forget(self, entry: Pending) -> None:
        """``entry`` left its queue: a poll like it, a setpoint for its register, is queued anew."""
        if entry.priority is Priority.POLL:
            self._polls.discard((entry.msg.arbitration_id, bytes(entry.msg.data)))
        elif entry.slot is not None:
            del self._slots[entry.slot]

    def _wake_at(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Pump again at ``when`` on ``loop`` (the pump's: while it runs, the bus is open)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(max(when, loop.time() + MIN_WAKE_S), self._pump, True)

    def _refused(self, loop: asyncio.AbstractEventLoop, now: float, exc: BaseException) -> None:
        """A transient refusal: back off, give up on stale frames, escalate stuck offs."""
        counters, config = self.counters, self.config
        counters.retried += 1
        if not self._refusals.active:
            counters.error_episodes += 1
        self._refusals.failed(f"{exc}; retrying", level=logging.DEBUG)
        self._blocked_until = now + self._backoff
        self._backoff = min(self._backoff * 2, config.retry_max_s)
        self._wake_at(loop, self._blocked_until)  # before the owners are told: they may send again
        for priority in (Priority.SETPOINT, Priority.POLL):
            queue = self._queues[priority]
            while queue and now - queue[0].queued_at >= config.give_up_s:
                self._taken(queue)
                self._dropped(f"a {priority.name.lower()} frame refused for {config.give_up_s:.1f} s")
        stuck = [
            entry
            for entry in self._queues[Priority.OFF]
            if not entry.escalated and now - entry.queued_at >= config.off_escalate_s
        ]
        for entry in stuck:
            self._escalate(entry, f"refused for {1000 * (now - entry.queued_at):.0f} ms ({exc})")

    def _escalate(self, entry: Pending, why: str) -> None:
        if entry.escalated:
            return
        entry.escalated = True
        self.counters.off_escalations += 1
        log.error("off frame %08X (owner %s) could not be sent: %s", entry.msg.arbitration_id, entry.owner, why)
        if self._on_stuck is not None:
            self._on_stuck(entry)

    def _dropped(self, why: str) -> None:
        self.counters.dropped += 1
        self._drops.failed(why)
