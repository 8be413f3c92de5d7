"""The timed virtual bus, and the transmit scheduler on it: what a real cabinet's bus punishes.

Facts from the protocol notes (CAN-PROTOCOLS.md), written here and not
imported: a Linux CAN device queues 10 frames and refuses more with ENOBUFS
(python-can's socketcan raises ``CanOperationError`` with the errno as
``error_code``); an 8-byte extended frame at 125 kbit/s takes about 1 ms.
The exact bit count of a frame is the CAN frame format's (ISO 11898-1),
computed by the tests' own :func:`~tests.can.can_rig.wire_bits`, stuff bits included.

Every test sends from the loop (a timed bus refuses anything else) and
runs on virtual time, so a frame's arrival is asserted to the microsecond.
"""

from __future__ import annotations

import asyncio
import errno
import itertools

import can
import looptime
import pytest

from pecc_core.testing import eventually
from pecc_plugins.canbus.link import BusConfig, CanLink
from pecc_plugins.canbus.scheduler import Pending, Priority, TxConfig, TxScheduler, is_transient

from .can_rig import spied, wire_bits

KERNEL_QUEUE = 10  # txqueuelen of a CAN device (CAN-PROTOCOLS.md)
EXACT = 1e-9  # the loop clock counts whole microseconds; wire times here are sums of exact fractions


def wire_time(msg: can.Message, bitrate: int) -> float:
    return wire_bits(msg.arbitration_id, bytes(msg.data)) / bitrate


def frame(ident: int, n: int = 0) -> can.Message:
    return can.Message(arbitration_id=ident, data=bytes((n,)) + bytes(7), is_extended_id=True)


class Heard:
    """What a timed node receives, with the loop time of each arrival (it listens as a BusReader does)."""

    def __init__(self, bus: can.BusABC) -> None:
        self.loop = asyncio.get_running_loop()
        self.frames: list[can.Message] = []
        self.times: list[float] = []
        self._arrived = asyncio.Event()
        bus.listen(self._on_frame)  # type: ignore[attr-defined]

    def _on_frame(self, msg: can.Message) -> None:
        self.frames.append(msg)
        self.times.append(self.loop.time())
        self._arrived.set()

    async def take(self, n: int, timeout: float = 3.0) -> list[can.Message]:
        """The first ``n`` frames, once they have arrived (failing after ``timeout`` s)."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.frames) < n:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{n} frames expected, got {len(self.frames)}") from None
        return self.frames[:n]

    @property
    def ids(self) -> list[int]:
        return [m.arbitration_id for m in self.frames]


@pytest.fixture
def timed(can_channel: str):
    buses: list[can.BusABC] = []

    def open_bus(bitrate: int = 125_000, **kw: object) -> can.BusABC:
        bus = can.Bus(interface="timedvirtual", channel=can_channel, bitrate=bitrate, **kw)
        buses.append(bus)
        return bus

    yield open_bus
    for bus in buses:
        bus.shutdown()


def ends(start: float, frames: list[can.Message], bitrate: int) -> list[float]:
    """When each of ``frames``, sent back to back from ``start``, has crossed the wire."""
    out, at = [], start
    for msg in frames:
        at += wire_time(msg, bitrate)
        out.append(at)
    return out


async def test_a_burst_overflows_the_transmit_queue_like_socketcan(timed) -> None:
    sender, receiver = timed(), timed()
    heard = Heard(receiver)
    loop = asyncio.get_running_loop()
    start = loop.time()
    burst = [frame(0x02204000, n) for n in range(36)]  # the burst of issue 11
    accepted = 0
    with pytest.raises(can.CanOperationError) as refused:
        for msg in burst:
            sender.send(msg)
            accepted += 1
    assert accepted == KERNEL_QUEUE  # the head went in, the tail was refused at once
    assert refused.value.error_code == errno.ENOBUFS
    assert is_transient(refused.value)
    await heard.take(KERNEL_QUEUE)
    assert [m.data[0] for m in heard.frames] == list(range(KERNEL_QUEUE))
    assert heard.times == pytest.approx(ends(start, burst[:KERNEL_QUEUE], 125_000), abs=EXACT)
    await asyncio.sleep(1.0)
    assert len(heard.frames) == KERNEL_QUEUE  # the refused tail never went out


async def test_the_transmit_queue_has_room_again_when_its_head_has_crossed_the_wire(timed) -> None:
    sender, receiver = timed(), timed()
    heard = Heard(receiver)
    loop = asyncio.get_running_loop()
    start = loop.time()
    burst = [frame(0x02204000, n) for n in range(KERNEL_QUEUE)]
    for msg in burst:
        sender.send(msg)
    first_end = start + wire_time(burst[0], 125_000)
    await asyncio.sleep(first_end - start - 1e-6)
    assert loop.time() == pytest.approx(first_end - 1e-6, abs=EXACT)  # a microsecond before the head's last bit
    with pytest.raises(can.CanOperationError):
        sender.send(frame(0x02204000, 10))
    await asyncio.sleep(first_end - loop.time())
    assert loop.time() == pytest.approx(first_end, abs=EXACT)
    sender.send(frame(0x02204000, 11))  # the head is out: one place free
    await heard.take(KERNEL_QUEUE + 1)
    assert [m.data[0] for m in heard.frames] == [*range(KERNEL_QUEUE), 11]
    assert heard.times[-1] == pytest.approx(ends(start, [*burst, frame(0x02204000, 11)], 125_000)[-1], abs=EXACT)


async def test_frames_take_their_wire_time_and_are_stamped_with_their_end(timed) -> None:
    sender, receiver = timed(bitrate=125_000), timed(bitrate=125_000)
    heard = Heard(receiver)
    start = asyncio.get_running_loop().time()
    burst = [frame(0x02204000, n) for n in range(KERNEL_QUEUE)]
    for msg in burst:
        sender.send(msg)
    await heard.take(KERNEL_QUEUE)
    expected = ends(start, burst, 125_000)
    assert heard.times == pytest.approx(expected, abs=EXACT)
    # about 1 ms per 8-byte frame at 125 kbit/s, as the notes say (146 to 148 bits with stuffing here)
    assert expected[-1] - start == pytest.approx(KERNEL_QUEUE * 1e-3, rel=0.2)
    # a frame's timestamp is its last bit, on the wall clock: the gaps are the wire times
    stamps = [m.timestamp for m in heard.frames]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps == pytest.approx([wire_time(m, 125_000) for m in burst[1:]], abs=1e-6)


async def test_a_plain_virtual_bus_on_the_channel_sees_the_timed_traffic(timed, can_channel: str) -> None:
    sender = timed()
    spy = can.Bus(interface="virtual", channel=can_channel)
    try:
        sender.send(frame(0x123))
        assert spy.recv(0) is None  # still on the wire
        await asyncio.sleep(wire_time(frame(0x123), 125_000))
        assert spy.recv(0).arbitration_id == 0x123
    finally:
        spy.shutdown()


async def test_a_plain_virtual_buss_frames_reach_a_listening_timed_node_on_its_loop(timed, can_channel: str) -> None:
    """A spy's own frames skip the wire; a node that a BusReader reads still gets them, on the loop."""
    heard = Heard(timed())
    spy = can.Bus(interface="virtual", channel=can_channel)
    try:
        start = asyncio.get_running_loop().time()
        spy.send(frame(0x42))
        assert heard.frames == []  # not from inside the sender's call
        await heard.take(1)
        assert heard.ids == [0x42] and heard.times == [start]
        await asyncio.to_thread(spy.send, frame(0x43))  # from another thread too
        await heard.take(2)
        assert heard.ids == [0x42, 0x43]
    finally:
        spy.shutdown()


async def test_the_lowest_identifier_wins_the_wire(timed) -> None:
    # 1 kbit/s: a frame takes about 0.15 s
    a, b, receiver = timed(bitrate=1000), timed(bitrate=1000), timed(bitrate=1000)
    heard = Heard(receiver)
    start = asyncio.get_running_loop().time()
    for ident in (0x500, 0x300, 0x301):
        a.send(frame(ident))
    b.send(frame(0x100))  # at the same instant: it wins the arbitration against a's head
    order = [frame(i) for i in (0x100, 0x500, 0x300, 0x301)]
    await heard.take(4)
    assert heard.ids == [0x100, 0x500, 0x300, 0x301]  # and each node sends its own in order
    assert heard.times == pytest.approx(ends(start, order, 1000), abs=EXACT)


async def test_a_frame_on_the_wire_is_not_interrupted_by_a_lower_identifier(timed) -> None:
    a, b, receiver = timed(bitrate=1000), timed(bitrate=1000), timed(bitrate=1000)
    heard = Heard(receiver)
    start = asyncio.get_running_loop().time()
    for ident in (0x500, 0x300, 0x301):
        a.send(frame(ident))
    await asyncio.sleep(0.05)  # 0x500 is on the wire
    b.send(frame(0x100))  # waits for it, then beats a's 0x300
    order = [frame(i) for i in (0x500, 0x100, 0x300, 0x301)]
    await heard.take(4)
    assert heard.ids == [0x500, 0x100, 0x300, 0x301]
    assert heard.times == pytest.approx(ends(start, order, 1000), abs=EXACT)


async def test_a_frame_queued_on_an_idle_wire_starts_when_it_is_queued(timed) -> None:
    sender, receiver = timed(), timed()
    heard = Heard(receiver)
    loop = asyncio.get_running_loop()
    sender.send(frame(0x10))
    await asyncio.sleep(0.5)  # the wire is idle long before this
    queued = loop.time()
    sender.send(frame(0x11))
    await heard.take(2)
    assert heard.times[1] == pytest.approx(queued + wire_time(frame(0x11), 125_000), abs=EXACT)


async def test_wire_times_that_are_no_whole_microseconds_still_end(timed) -> None:
    """At 7 bit/s no frame ends on a microsecond: the clock is a hair short of each frame's timer."""
    sender, receiver = timed(bitrate=7), timed(bitrate=7)
    heard = Heard(receiver)
    start = asyncio.get_running_loop().time()
    burst = [frame(0x02204000, n) for n in range(KERNEL_QUEUE)]
    for msg in burst:
        sender.send(msg)
    await heard.take(KERNEL_QUEUE, timeout=KERNEL_QUEUE * 200 / 7)
    assert heard.times == pytest.approx(ends(start, burst, 7), abs=1e-6)  # the loop's whole microseconds


def test_sending_from_a_thread_without_a_running_loop_is_refused(timed) -> None:
    sender = timed()
    with pytest.raises(can.CanOperationError, match="from a coroutine or callback of the loop"):
        sender.send(frame(0x10))


def test_a_wire_is_taken_over_by_the_next_loop_once_its_own_has_closed(timed) -> None:
    """Frames left in a node's queue start on the new loop's clock (not at the old clock's time)."""
    sender, receiver = timed(), timed()
    burst = [frame(0x02204000, n) for n in range(KERNEL_QUEUE)]

    async def fill() -> None:
        for msg in burst:
            sender.send(msg)

    first = looptime.new_event_loop(start=1000.0)
    try:
        first.run_until_complete(fill())  # nothing has crossed the wire: no time passed
        other = looptime.new_event_loop(start=5.0)
        try:
            with pytest.raises(can.CanOperationError, match="another event loop"):
                other.run_until_complete(fill())  # the first loop still lives
        finally:
            other.close()
    finally:
        first.close()

    async def drain() -> tuple[list[float], float]:
        heard = Heard(receiver)
        start = asyncio.get_running_loop().time()
        with pytest.raises(can.CanOperationError) as full:
            sender.send(frame(0x02204000, 99))  # the queue is still full of the old frames
        assert full.value.error_code == errno.ENOBUFS
        await heard.take(KERNEL_QUEUE)
        return heard.times, start

    second = looptime.new_event_loop(start=10.0)
    try:
        times, start = second.run_until_complete(drain())
    finally:
        second.close()
    assert start == 10.0
    assert times == pytest.approx(ends(start, burst, 125_000), abs=EXACT)


async def test_nodes_must_agree_on_the_bitrate_until_the_last_one_has_gone(timed, can_channel: str) -> None:
    first = timed(bitrate=125_000)
    first.send(frame(0x10))  # a frame on the wire: its timer is pending
    with pytest.raises(can.CanInitializationError, match="125000"):
        timed(bitrate=250_000)
    first.shutdown()
    faster = timed(bitrate=250_000)  # a new wire
    heard = Heard(timed(bitrate=250_000))
    start = asyncio.get_running_loop().time()
    faster.send(frame(0x20))
    await heard.take(1)
    assert heard.ids == [0x20]  # the old wire's frame was lost with its node
    assert heard.times == pytest.approx([start + wire_time(frame(0x20), 250_000)], abs=EXACT)


async def test_a_node_that_shuts_down_loses_its_queued_frames_the_others_go_on(timed) -> None:
    a, b = timed(), timed()
    heard = Heard(timed())
    start = asyncio.get_running_loop().time()
    for n in range(3):
        a.send(frame(0x100, n))
    b.send(frame(0x200))
    a.shutdown()  # 0x100 #0 was on the wire: it is cut off, and a's queue goes with it
    await heard.take(1)
    await asyncio.sleep(0.1)
    assert heard.ids == [0x200]
    assert heard.times == pytest.approx([start + wire_time(frame(0x200), 125_000)], abs=EXACT)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (can.CanOperationError("Failed to transmit: No buffer space available", errno.ENOBUFS), True),
        (can.CanOperationError("Transmit buffer full"), True),  # socketcan: socket not writable in time
        (OSError(errno.EAGAIN, "again"), True),
        (can.CanOperationError("Failed to transmit: Network is down", errno.ENETDOWN), False),
        (can.CanOperationError("Failed to transmit: No such device", errno.ENODEV), False),
        (ValueError("anything else"), False),
    ],
)
def test_transient_send_errors_are_told_by_errno_and_type(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


# -- the scheduler on the timed bus ------------------------------------------------


async def started(channel: str, tx: TxConfig, **kw: object) -> CanLink:
    link = CanLink(BusConfig(interface="timedvirtual", channel=channel, tx=tx), lambda msg: None, **kw)
    await link.start()
    return link


async def test_a_burst_through_the_scheduler_loses_nothing(timed, can_channel: str) -> None:
    receiver = timed()
    link = await started(can_channel, TxConfig())
    try:
        for n in range(36):
            assert link.send(0x02204000, bytes((n,)) + bytes(7), Priority.POLL)
        got = await spied(receiver, 36)
        assert [m.data[0] for m in got] == list(range(36))
        stats = link.stats()
        assert (stats.sent, stats.dropped) == (36, 0)
    finally:
        await link.stop()


async def test_an_off_gets_through_a_saturated_queue_first(timed, can_channel: str) -> None:
    """Polls fill the scheduler and the device queue (ENOBUFS); an off submitted then is next on the wire."""
    receiver = timed()
    flood = TxConfig(gap_s=1e-6, burst=64)  # no pacing: the device queue overflows
    link = await started(can_channel, flood)
    try:
        for n in range(200):
            link.send(0x02208000, bytes((n % 256,)) + bytes(7), Priority.POLL)
        await eventually(lambda: link.stats().retried > 0, what="the device queue to overflow")
        sent_before = link.stats().sent
        link.send(0x02204000, bytes(7) + b"\x01", Priority.OFF, owner=1)
        got = await spied(receiver, 201)
        ids = [m.arbitration_id for m in got]
        assert ids.index(0x02204000) == sent_before < 200  # only frames already in the device were ahead
        stats = link.stats()
        assert (stats.sent, stats.dropped) == (201, 0)
        assert stats.retried > 0 and stats.error_episodes >= 1
    finally:
        await link.stop()


async def test_classes_go_out_offs_first_then_setpoints_then_polls(timed, can_channel: str) -> None:
    receiver = timed()
    link = await started(can_channel, TxConfig(burst=1))
    try:
        link.send(0x10, bytes(8), Priority.POLL)  # goes out at once: the wire is idle
        for n in range(3):
            for ident, priority in ((0x30, Priority.POLL), (0x20, Priority.SETPOINT), (0x40, Priority.OFF)):
                link.send(ident, bytes((n,)) + bytes(7), priority)
        ids = [m.arbitration_id for m in await spied(receiver, 10)]
        assert ids == [0x10] + [0x40] * 3 + [0x20] * 3 + [0x30] * 3
    finally:
        await link.stop()


async def test_polls_keep_one_frame_in_four_while_setpoints_wait(timed, can_channel: str) -> None:
    """Setpoints that kept the wire busy would leave every reading stale; offs still go first."""
    receiver = timed()
    link = await started(can_channel, TxConfig(burst=1))
    try:
        link.send(0x10, bytes(8), Priority.POLL)  # on the wire: the rest waits behind it
        for n in range(9):
            link.send(0x20 + n, bytes(8), Priority.SETPOINT)
            link.send(0x30 + n, bytes(8), Priority.POLL)
        link.send(0x40, bytes(8), Priority.OFF)
        classes = [m.arbitration_id >> 4 for m in await spied(receiver, 20)]
        assert classes == [1, 4, 2, 2, 2, 3, 2, 2, 2, 3, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3]
    finally:
        await link.stop()
    strict = timed()
    link = await started(can_channel, TxConfig(burst=1, poll_every=0))  # tx_poll_every = 0: setpoints first
    try:
        link.send(0x10, bytes(8), Priority.POLL)
        for n in range(3):
            link.send(0x30 + n, bytes(8), Priority.POLL)
            link.send(0x20 + n, bytes(8), Priority.SETPOINT)
        assert [m.arbitration_id >> 4 for m in await spied(strict, 7)] == [1, 2, 2, 2, 3, 3, 3]
    finally:
        await link.stop()


async def test_a_poll_still_waiting_is_not_queued_again(timed, can_channel: str) -> None:
    """Polls asked again before they went out (a late loop, a busy bus) go out once; setpoints all go."""
    receiver = timed()
    link = await started(can_channel, TxConfig(burst=1))
    try:
        link.send(0x10, bytes(8), Priority.POLL)  # on the wire: the rest waits behind it
        for _ in range(5):
            link.send(0x30, bytes(8), Priority.POLL)
            link.send(0x31, bytes(8), Priority.POLL)
            link.send(0x20, bytes(8), Priority.SETPOINT)
        ids = [m.arbitration_id for m in await spied(receiver, 8)]
        assert ids == [0x10, 0x20, 0x20, 0x20, 0x30, 0x20, 0x20, 0x31]  # a poll after 3 setpoints
        stats = link.stats()
        assert (stats.sent, stats.superseded, stats.dropped) == (8, 8, 0)
        link.send(0x30, bytes(8), Priority.POLL)  # sent: it may be asked again
        assert [m.arbitration_id for m in await spied(receiver, 1)] == [0x30]
    finally:
        await link.stop()


async def test_a_setpoint_replaces_the_one_still_waiting_for_its_register_in_its_place(
    timed, can_channel: str
) -> None:
    """The module gets the newest value at the place the first one had: no sooner (a register
    written before the output switch stays before it), no later, and once."""
    receiver = timed()
    link = await started(can_channel, TxConfig(burst=1))
    try:
        link.send(0x10, bytes(8), Priority.POLL)  # on the wire: the rest waits behind it
        for volts in (100, 200, 300):
            link.send(0x25, bytes((1, volts // 10)) + bytes(6), Priority.SETPOINT, owner=5, slot=(0x25, 1))
            link.send(0x25, b"\x02on" + bytes(5), Priority.SETPOINT, owner=5)  # no slot: every one goes
        got = await spied(receiver, 5)
        assert [bytes(m.data[:3]) for m in got[1:]] == [bytes((1, 30, 0))] + [b"\x02on"] * 3
        stats = link.stats()
        assert (stats.sent, stats.superseded, stats.queued) == (5, 2, 0)
        link.send(0x25, bytes((1, 40)) + bytes(6), Priority.SETPOINT, owner=5, slot=(0x25, 1))  # sent: queued anew
        assert [bytes(m.data[:2]) for m in await spied(receiver, 1)] == [bytes((1, 40))]
    finally:
        await link.stop()


async def test_an_off_takes_its_modules_waiting_setpoints_out_of_the_queue(timed, can_channel: str) -> None:
    """Sent after the off, an older "output on" would switch the module on again."""
    receiver = timed()
    link = await started(can_channel, TxConfig(burst=1))
    try:
        link.send(0x10, bytes(8), Priority.POLL)  # on the wire: the rest waits behind it
        link.send(0x25, b"on" + bytes(6), Priority.SETPOINT, owner=5)
        link.send(0x26, b"on" + bytes(6), Priority.SETPOINT, owner=6)
        link.send(0x35, b"refresh" + bytes(1), Priority.POLL, owner=5)
        link.send(0x45, b"off" + bytes(5), Priority.OFF, owner=5)
        got = await spied(receiver, 3)
        assert [(m.arbitration_id, bytes(m.data[:3])) for m in got] == [(0x10, bytes(3)), (0x45, b"off"), (0x26, b"on\x00")]
        stats = link.stats()
        assert (stats.sent, stats.superseded, stats.queued) == (3, 2, 0)
        link.send(0x35, b"refresh" + bytes(1), Priority.POLL, owner=5)  # the taken refresh may come again
        assert [m.arbitration_id for m in await spied(receiver, 1)] == [0x35]
    finally:
        await link.stop()


async def test_a_stuck_off_is_escalated_to_its_owner_and_kept(timed, can_channel: str) -> None:
    """A bus that never drains (10 bit/s: a frame takes seconds): polls are dropped, the off is escalated."""
    timed(bitrate=10)  # the wire's bitrate is the first node's
    loop = asyncio.get_running_loop()
    stuck: list[tuple[float, Pending]] = []
    link = CanLink(
        BusConfig(interface="timedvirtual", channel=can_channel, bitrate=10,
                  tx=TxConfig(gap_s=1e-6, burst=64, give_up_s=0.05, off_escalate_s=0.05, retry_max_s=0.004)),
        lambda msg: None,
        on_stuck=lambda entry: stuck.append((loop.time(), entry)),
    )
    await link.start()
    try:
        for n in range(KERNEL_QUEUE + 3):
            link.send(0x30, bytes((n,)) + bytes(7), Priority.POLL)
        asked = loop.time()
        link.send(0x40, bytes(8), Priority.OFF, owner=7)
        await eventually(lambda: len(stuck) == 1, what="the off to be escalated")
        at, entry = stuck[0]
        assert entry.owner == 7 and entry.msg.arbitration_id == 0x40
        # told at the first retry once it has waited off_escalate_s; retries come every retry_max_s at most
        assert asked + 0.05 <= at < asked + 0.05 + 0.004
        await eventually(lambda: link.stats().dropped == 3, what="the stale polls to be dropped")
        stats = link.stats()
        assert stats.off_escalations == 1 and stats.queued == 1  # the off is still retried
    finally:
        await link.stop(drain_s=0)
    assert link.stats().dropped == 4  # closing the bus counts the off it never sent


async def test_bus_load_is_estimated(timed, can_channel: str) -> None:
    """100 frames/s of 8 bytes: the link's estimate counts each at its length with half the worst stuffing."""
    timed()
    link = await started(can_channel, TxConfig())
    try:
        await asyncio.sleep(1.0)
        assert link.load_percent() == 0.0  # a quiet second: a new window starts now
        for _ in range(100):
            link.send(0x30, bytes(8), Priority.POLL)
            await asyncio.sleep(0.01)
        # 8 data bytes: 67 + 64 bits unstuffed, at most (54 + 64 - 1) // 4 = 29 stuff bits; half: 14
        estimated_bits = 67 + 64 + 29 // 2
        assert link.load_percent() == pytest.approx(100 * 100 * estimated_bits / 125_000, abs=1e-9)  # 11.6 %
    finally:
        await link.stop()


async def test_the_pump_waits_a_millisecond_at_least_for_its_next_frame() -> None:
    """At 1 Mbit/s a frame's wire time is 0.13 ms; the loops' timers have a millisecond's.

    uvloop takes a shorter timer for none and would wake the pump again and
    again until the frame's time had passed. The pump's credit here is two
    frames (a poll's cost: itself and its reply), so two go at once, then two
    a millisecond later, and so on.
    """
    loop = asyncio.get_running_loop()
    sent_at: list[float] = []
    scheduler = TxScheduler(
        lambda msg: sent_at.append(loop.time()), TxConfig(burst=1, catch_up=1), 1_000_000, lambda exc: None
    )
    scheduler.start(loop)
    start = loop.time()
    for identifier in range(5):
        scheduler.submit(can.Message(arbitration_id=identifier, data=bytes(8)), Priority.SETPOINT)
    await asyncio.sleep(0.01)
    assert [round(t - start, 9) for t in sent_at] == [0.0, 0.0, 0.001, 0.001, 0.002]
