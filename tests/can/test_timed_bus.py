"""The timed virtual bus, and the transmit scheduler on it: what a real cabinet's bus punishes.

Facts from the protocol notes, written here and not imported: a Linux CAN
device queues 10 frames and refuses more with ENOBUFS (python-can's
socketcan raises ``CanOperationError`` with the errno as ``error_code``);
an 8-byte extended frame at 125 kbit/s takes about 1 ms.
"""

from __future__ import annotations

import asyncio
import errno
import time

import can
import pytest

from pecc_core.testing import eventually
from pecc_plugins.canbus.link import BusConfig, CanLink
from pecc_plugins.canbus.scheduler import Pending, Priority, TxConfig, is_transient

KERNEL_QUEUE = 10  # txqueuelen of a CAN device (CAN-PROTOCOLS.md)


def frame(ident: int, n: int = 0) -> can.Message:
    return can.Message(arbitration_id=ident, data=bytes((n,)) + bytes(7), is_extended_id=True)


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


def test_a_burst_overflows_the_transmit_queue_like_socketcan(timed) -> None:
    sender, receiver = timed(), timed()
    with pytest.raises(can.CanOperationError) as refused:
        for n in range(36):  # the burst of issue 11
            sender.send(frame(0x02204000, n))
    assert refused.value.error_code == errno.ENOBUFS
    assert is_transient(refused.value)
    got = [receiver.recv(2.0) for _ in range(KERNEL_QUEUE)]
    assert [m.data[0] for m in got] == list(range(KERNEL_QUEUE))  # the head went out, the tail was lost
    assert receiver.recv(0.05) is None


def test_frames_take_their_wire_time(timed) -> None:
    sender, receiver = timed(bitrate=125_000), timed(bitrate=125_000)
    start = time.time()
    for n in range(KERNEL_QUEUE):
        sender.send(frame(0x02204000, n))
    last = [receiver.recv(2.0) for _ in range(KERNEL_QUEUE)][-1]
    # 10 frames of at least 131 bits each (8 data bytes, no stuffing) at 125 kbit/s
    assert last.timestamp - start >= KERNEL_QUEUE * 131 / 125_000


def test_a_plain_virtual_bus_on_the_channel_sees_the_timed_traffic(timed, can_channel: str) -> None:
    sender = timed()
    spy = can.Bus(interface="virtual", channel=can_channel)
    try:
        sender.send(frame(0x123))
        assert spy.recv(2.0).arbitration_id == 0x123
    finally:
        spy.shutdown()


def test_the_lowest_identifier_wins_the_wire(timed) -> None:
    # 1 kbit/s: a frame takes ~0.15 s, so b's frame is queued before a's second one may start
    a, b, receiver = timed(bitrate=1000), timed(bitrate=1000), timed(bitrate=1000)
    a.send(frame(0x500))
    a.send(frame(0x300))
    a.send(frame(0x301))
    b.send(frame(0x100))
    order = [receiver.recv(5.0).arbitration_id for _ in range(4)]
    # each node sends in order; 0x100 beats a's frames still waiting (0x500 may already be on the wire)
    assert order in ([0x500, 0x100, 0x300, 0x301], [0x100, 0x500, 0x300, 0x301])


def test_nodes_must_agree_on_the_bitrate(timed) -> None:
    timed(bitrate=125_000)
    with pytest.raises(can.CanInitializationError, match="125000"):
        timed(bitrate=250_000)


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


async def receive(bus: can.BusABC, n: int) -> list[can.Message]:
    """``n`` frames from ``bus``, read off the loop (the scheduler runs on it meanwhile)."""

    def read() -> list[can.Message]:
        frames = []
        while len(frames) < n and (msg := bus.recv(5.0)) is not None:
            frames.append(msg)
        return frames

    return await asyncio.to_thread(read)


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
        got = await receive(receiver, 36)
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
        got = await receive(receiver, 201)
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
        ids = [m.arbitration_id for m in await receive(receiver, 10)]
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
        classes = [m.arbitration_id >> 4 for m in await receive(receiver, 20)]
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
        assert [m.arbitration_id >> 4 for m in await receive(strict, 7)] == [1, 2, 2, 2, 3, 3, 3]
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
        ids = [m.arbitration_id for m in await receive(receiver, 8)]
        assert ids == [0x10, 0x20, 0x20, 0x20, 0x30, 0x20, 0x20, 0x31]  # a poll after 3 setpoints
        stats = link.stats()
        assert (stats.sent, stats.superseded, stats.dropped) == (8, 8, 0)
        link.send(0x30, bytes(8), Priority.POLL)  # sent: it may be asked again
        assert [m.arbitration_id for m in await receive(receiver, 1)] == [0x30]
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
        got = await receive(receiver, 5)
        assert [bytes(m.data[:3]) for m in got[1:]] == [bytes((1, 30, 0))] + [b"\x02on"] * 3
        stats = link.stats()
        assert (stats.sent, stats.superseded, stats.queued) == (5, 2, 0)
        link.send(0x25, bytes((1, 40)) + bytes(6), Priority.SETPOINT, owner=5, slot=(0x25, 1))  # sent: queued anew
        assert [bytes(m.data[:2]) for m in await receive(receiver, 1)] == [bytes((1, 40))]
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
        got = await receive(receiver, 3)
        assert [(m.arbitration_id, bytes(m.data[:3])) for m in got] == [(0x10, bytes(3)), (0x45, b"off"), (0x26, b"on\x00")]
        stats = link.stats()
        assert (stats.sent, stats.superseded, stats.queued) == (3, 2, 0)
        link.send(0x35, b"refresh" + bytes(1), Priority.POLL, owner=5)  # the taken refresh may come again
        assert [m.arbitration_id for m in await receive(receiver, 1)] == [0x35]
    finally:
        await link.stop()


async def test_a_stuck_off_is_escalated_to_its_owner_and_kept(timed, can_channel: str) -> None:
    """A bus that never drains (10 bit/s: a frame takes seconds): polls are dropped, the off is escalated."""
    timed(bitrate=10)  # the wire's bitrate is the first node's
    stuck: list[Pending] = []
    link = CanLink(
        BusConfig(interface="timedvirtual", channel=can_channel, bitrate=10,
                  tx=TxConfig(gap_s=1e-6, burst=64, give_up_s=0.05, off_escalate_s=0.05)),
        lambda msg: None,
        on_stuck=stuck.append,
    )
    await link.start()
    try:
        for n in range(KERNEL_QUEUE + 3):
            link.send(0x30, bytes((n,)) + bytes(7), Priority.POLL)
        link.send(0x40, bytes(8), Priority.OFF, owner=7)
        await eventually(lambda: len(stuck) == 1, what="the off to be escalated")
        assert stuck[0].owner == 7 and stuck[0].msg.arbitration_id == 0x40
        await eventually(lambda: link.stats().dropped == 3, what="the stale polls to be dropped")
        stats = link.stats()
        assert stats.off_escalations == 1 and stats.queued == 1  # the off is still retried
    finally:
        await link.stop(drain_s=0)
    assert link.stats().dropped == 4  # closing the bus counts the off it never sent


async def test_bus_load_is_estimated(timed, can_channel: str) -> None:
    timed()
    link = await started(can_channel, TxConfig())
    try:
        loop = asyncio.get_running_loop()
        link.load_percent()  # starts a window
        end = loop.time() + 1.1
        while loop.time() < end:
            link.send(0x30, bytes(8), Priority.POLL)
            await asyncio.sleep(0.01)
        load = link.load_percent()
        # about 100 frames/s of ~145 bits at 125 kbit/s: ~12 %; loose bounds, the machine may be busy
        assert 2.0 < load < 20.0
    finally:
        await link.stop()
