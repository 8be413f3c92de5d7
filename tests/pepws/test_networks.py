"""Source networks as an SECC's identity, for deployments without TLS (``ws://``).

Real sockets from different 127.0.0.x source addresses (Linux routes the
whole 127/8 to loopback).
"""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .conftest import StartPecc


@pytest.fixture(scope="module")
def scheme() -> str:
    return "ws"


async def test_a_source_address_outside_the_allow_list_is_refused(start_pecc: StartPecc) -> None:
    pecc = await start_pecc({"seccs.0.allow": {"networks": ["127.0.0.2/32", "10.0.0.0/8"]}})
    with pytest.raises(InvalidStatus) as refused:
        await connect(pecc.url("1-1"), subprotocols=["pep1.5"], local_addr=("127.0.0.3", 0))
    assert refused.value.response.status_code == 403
    assert b"outside the SECC's networks" in refused.value.response.body
    assert pecc.gun("1-1").secc is None
    inside = await pecc.connect("1-1", local_addr=("127.0.0.2", 0))
    assert (await inside.call("configuration"))["type"] == "response"


async def test_another_address_cannot_take_a_held_gun_the_same_one_can(start_pecc: StartPecc) -> None:
    pecc = await start_pecc()
    holder = await pecc.connect("2-1", local_addr=("127.0.0.4", 0))
    link = pecc.gun("2-1").secc
    with pytest.raises(InvalidStatus) as refused:
        await connect(pecc.url("2-1"), subprotocols=["pep1.5"], local_addr=("127.0.0.5", 0))
    assert refused.value.response.status_code == 403
    assert pecc.gun("2-1").secc is link
    assert (await holder.call("configuration"))["type"] == "response"
    again = await pecc.connect("2-1", local_addr=("127.0.0.4", 0))  # the SECC reconnecting
    assert pecc.gun("2-1").secc is not link
    assert (await again.call("configuration"))["type"] == "response"


async def test_a_gun_whose_secc_left_is_free_for_another_address(start_pecc: StartPecc) -> None:
    pecc = await start_pecc()
    holder = await pecc.connect("2-2", local_addr=("127.0.0.6", 0))
    await holder.close()
    other = await pecc.connect("2-2", local_addr=("127.0.0.7", 0))  # no wait for anything to time out
    assert (await other.call("configuration"))["type"] == "response"
