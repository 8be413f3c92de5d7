"""CanLink on a timed virtual bus: counting, failure episodes, death and reopening; bus time.

The link's bus is ``timedvirtual`` (read on the loop, so these tests run on
virtual time); the spy is a plain ``virtual`` bus the test reads itself.
"""

from __future__ import annotations

import asyncio
import errno
import logging

import can
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.testing import eventually
from pecc_plugins.canbus.link import BusConfig, CanLink
from pecc_plugins.canbus.load import (
    load_of,
    nominal_bits,
    stuffed_bits,
    worst_case_bits,
)

from .can_rig import spied, wire_bits


async def test_frames_are_counted_both_ways(can_channel: str, spy_bus: can.BusABC) -> None:
    received: list[can.Message] = []
    link = CanLink(BusConfig(interface="timedvirtual", channel=can_channel), received.append)
    await link.start()
    try:
        assert link.send(0x123456, b"\x01\x02\x03")
        assert spy_bus.recv(0) is None  # on the wire
        await asyncio.sleep(wire_bits(0x123456, b"\x01\x02\x03") / 125_000)
        assert spy_bus.recv(0).data == b"\x01\x02\x03"
        spy_bus.send(can.Message(arbitration_id=0x42, data=bytes(8), is_extended_id=True))
        assert received == []  # handed over on the loop, not inside the spy's send
        await asyncio.sleep(0)
        assert len(received) == 1
        c, stats = link.counters, link.stats()
        assert (stats.sent, stats.received, c.rx_bytes, c.opens) == (1, 1, 8, 1)
        assert (stats.retried, stats.dropped, stats.queued) == (0, 0, 0)
    finally:
        await link.stop()
    assert not link.up
    assert not link.send(1, b"")  # after stop: refused and counted, never raised
    assert link.stats().dropped == 1


async def test_a_full_transmit_queue_is_retried_and_logged_once(
    can_channel: str, spy_bus: can.BusABC, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """socketcan's ENOBUFS (errno in error_code): the frames wait and go out in order, none lost."""
    link = CanLink(BusConfig(interface="timedvirtual", channel=can_channel), lambda msg: None, name="t")
    await link.start()
    try:
        real_send = link.bus.send
        refusals = 0

        def full_then_free(msg: can.Message, timeout: float | None = None) -> None:
            nonlocal refusals
            if refusals < 5:
                refusals += 1
                raise can.CanOperationError("Failed to transmit: No buffer space available", errno.ENOBUFS)
            real_send(msg, timeout)

        monkeypatch.setattr(link.bus, "send", full_then_free)
        with caplog.at_level(logging.DEBUG, logger="pecc_plugins.canbus.scheduler"):
            for n in range(20):
                assert link.send(1, bytes((n,)))
            await eventually(lambda: link.stats().sent == 20)
        assert link.up  # a full queue is not a dead bus
        assert [m.data[0] for m in await spied(spy_bus, 20)] == list(range(20))
        stats = link.stats()
        assert (stats.retried, stats.dropped, stats.error_episodes) == (5, 0, 1)
        lines = [r.getMessage() for r in caplog.records if r.name == "pecc_plugins.canbus.scheduler"]
        assert len(lines) == 2 and "after 5 failures" in lines[1], lines
    finally:
        await link.stop()


async def test_a_dead_bus_is_reported_and_reopened(can_channel: str) -> None:
    states: list[bool] = []
    config = BusConfig(interface="timedvirtual", channel=can_channel, reopen_min_s=0.01, reopen_max_s=0.05)
    link = CanLink(config, lambda msg: None, states.append)
    await link.start()
    try:
        link.bus.shutdown()
        link.send(1, bytes(8))  # refused: the closed bus is found by the send or the reader
        await eventually(lambda: states[1:] == [False], what="reported down")
        await eventually(lambda: link.up, what="reopened")
        assert states == [True, False, True]
        assert link.send(1, bytes(8))
        assert (link.counters.deaths, link.counters.opens) == (1, 2)
    finally:
        await link.stop()


async def test_a_handler_bug_does_not_stop_reception(can_channel: str, spy_bus: can.BusABC) -> None:
    good: list[int] = []

    def handler(msg: can.Message) -> None:
        if msg.data[0] == 0xFF:
            raise ValueError("bad frame")
        good.append(msg.data[0])

    link = CanLink(BusConfig(interface="timedvirtual", channel=can_channel), handler)
    await link.start()
    try:
        for first in (0xFF, 0xFF, 1):
            spy_bus.send(can.Message(arbitration_id=7, data=bytes((first,)), is_extended_id=True))
        await eventually(lambda: good == [1])
        assert link.counters.handler_errors == 2
    finally:
        await link.stop()


def test_bus_time_of_an_8_byte_extended_frame() -> None:
    assert nominal_bits(8) == 131
    assert worst_case_bits(8) == 160
    # 125 kbit/s: about 1 ms per frame, as the protocol notes say
    assert 1.0 < nominal_bits(8) / 125 < worst_case_bits(8) / 125 < 1.3


def test_stuffing_of_a_known_frame() -> None:
    # all-zero payload: long runs, so stuffing is heavy but never above the bound
    bits = stuffed_bits(0x02204000, bytes(8))
    assert nominal_bits(8) + 10 < bits <= worst_case_bits(8)


@given(st.integers(0, 2**29 - 1), st.binary(min_size=0, max_size=8))
def test_stuffed_bits_lie_between_the_bounds(arbitration_id: int, data: bytes) -> None:
    assert nominal_bits(len(data)) <= stuffed_bits(arbitration_id, data) <= worst_case_bits(len(data))


def test_load_of_a_frame_rate() -> None:
    load = load_of(frames=1000, data_bytes=8000, seconds=1.0, bitrate=125_000)
    assert load.frames_per_s == 1000
    assert load.percent == pytest.approx(100 * 160 * 1000 / 125_000, rel=0.01)
    assert load_of(0, 0, 1.0, 125_000).percent == 0


async def test_a_bus_that_dies_on_every_reopen_backs_off_and_logs_once(
    can_channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Like an interface that is down: it opens, then the first send fails with ENETDOWN."""
    config = BusConfig(interface="timedvirtual", channel=can_channel, reopen_min_s=0.01, reopen_max_s=1.0)
    link: CanLink

    def network_down(msg: can.Message, timeout: float | None = None) -> None:
        # what python-can's socketcan raises for a write on an interface that is down
        raise can.CanOperationError("Failed to transmit: Network is down", errno.ENETDOWN)

    def on_state(up: bool) -> None:
        if up and link.counters.opens > 1 and broken:
            link.bus.send = network_down
            link.send(1, bytes(8))  # fails: the link closes and keeps reopening

    broken = True
    link = CanLink(config, lambda msg: None, on_state)
    await link.start()
    try:
        with caplog.at_level(logging.INFO, logger="pecc_plugins.canbus.link"):
            link.bus.shutdown()
            link.send(1, bytes(8))
            # reopens after 10, 20, 40, 80, 160 ms (then 320): at 0.31 s, 0.63 s from the death.
            # Each open runs in an executor, and virtual time moves with real time while it does:
            # look in the middle of the gap, not at its edge.
            await asyncio.sleep(0.47)
            assert not link.up
            assert link.counters.opens == 1 + 5  # backoff, not a storm
            broken = False
            await eventually(lambda: link.up, what="reopened for good")
            assert link.send(1, bytes(8))
        lines = [r.getMessage() for r in caplog.records]
        assert sum("down" in line for line in lines) == 1, lines
        assert "works again" in lines[-1]
    finally:
        await link.stop()
