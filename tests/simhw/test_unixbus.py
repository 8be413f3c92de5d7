"""The cross-process CAN bus (python-can interface ``unixcan``): frames as sent, to every other node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import can
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.testing import eventually
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
