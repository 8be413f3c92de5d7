"""The cross-process CAN bus (python-can interface ``unixcan``): frames as sent, to every other node."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import can
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.testing import eventually
from pecc_plugins.canbus import unixbus
from pecc_plugins.canbus.unixbus import BusHub, decode, encode


@given(
    arbitration_id=st.integers(0, 0x1FFFFFFF),
    data=st.binary(max_size=8),
    extended=st.booleans(),
)
def test_a_record_decodes_to_the_frame_that_was_encoded(arbitration_id: int, data: bytes, extended: bool) -> None:
    if not extended:
        arbitration_id &= 0x7FF
    msg = can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=extended)
    back = decode(encode(msg), "x")
    assert (back.arbitration_id, bytes(back.data), back.is_extended_id, back.dlc) == (
        arbitration_id, data, extended, len(data)
    )


async def test_every_other_node_gets_each_frame_and_the_sender_does_not(tmp_path: Path) -> None:
    channel = str(tmp_path / "bus.sock")
    hub = BusHub(channel)
    await hub.start()
    nodes = [can.Bus(interface="unixcan", channel=channel) for _ in range(3)]
    try:
        await eventually(lambda: len(hub._nodes) == 3, 1.0, "the hub accepted the three nodes")
        sent = [can.Message(arbitration_id=0x1800_0000 + i, data=bytes([i] * 8)) for i in range(200)]
        for msg in sent:
            nodes[0].send(msg)
        for node in nodes[1:]:
            got = []
            while len(got) < len(sent):
                msg = await asyncio.to_thread(node.recv, 10.0)
                assert msg is not None, f"only {len(got)} frames arrived"
                got.append(msg)
            assert [(m.arbitration_id, bytes(m.data)) for m in got] == [
                (m.arbitration_id, bytes(m.data)) for m in sent
            ]
        assert nodes[0].recv(0.2) is None
    finally:
        for node in nodes:
            node.shutdown()
        await hub.stop()


def test_opening_without_a_hub_is_an_initialization_error(tmp_path: Path) -> None:
    try:
        can.Bus(interface="unixcan", channel=str(tmp_path / "nobody.sock"))
    except can.CanInitializationError as exc:
        assert "no CAN hub" in str(exc)
    else:
        raise AssertionError("opened a bus without a hub")


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[can.BusABC, socket.socket]]:
    """A node and the far end of its connection (a bare socket standing in for the hub)."""
    path = str(tmp_path / "hub.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    node = can.Bus(interface="unixcan", channel=path)
    far, _ = server.accept()
    server.close()
    try:
        yield node, far
    finally:
        node.shutdown()
        far.close()


def test_nothing_waiting_reads_as_none_at_once(wired: tuple[can.BusABC, socket.socket]) -> None:
    node, _ = wired
    assert node.recv(0) is None


def test_a_frame_that_arrives_in_two_parts_is_read_whole(
    wired: tuple[can.BusABC, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, far = wired
    monkeypatch.setattr(unixbus, "RECEIVE_TIMEOUT_S", 60.0)  # the outcome must not hang on the machine's speed
    # 80 bytes: little-endian double timestamp, uint32 identifier, flags (1: extended), length, 2 pad, 64 data
    record = bytes(8) + (0x18FF50E5).to_bytes(4, "little") + bytes([1, 3, 0, 0]) + b"abc" + bytes(61)
    far.sendall(record[:30])
    rest = threading.Timer(0.05, far.sendall, (record[30:],))
    rest.start()
    msg = node.recv(0)
    rest.join()
    assert msg is not None
    assert (msg.arbitration_id, msg.is_extended_id, bytes(msg.data)) == (0x18FF50E5, True, b"abc")
    assert node.recv(0) is None


def test_the_hub_closing_the_bus_is_an_operation_error(wired: tuple[can.BusABC, socket.socket]) -> None:
    node, far = wired
    far.close()
    with pytest.raises(can.CanOperationError, match="closed the bus"):
        node.recv(0)


def test_a_full_transmit_buffer_is_enobufs_without_blocking(wired: tuple[can.BusABC, socket.socket]) -> None:
    node, _ = wired  # the far end never reads
    msg = can.Message(arbitration_id=0x123, data=bytes(8), is_extended_id=False)
    with pytest.raises(can.CanOperationError) as refused:
        for _ in range(1_000_000):
            node.send(msg)
    assert refused.value.error_code == errno.ENOBUFS
