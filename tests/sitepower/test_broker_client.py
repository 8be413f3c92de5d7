"""The site's MQTT client passes a stop on, even when it comes as the broker answers.

A cabinet's stop hung now and then (two runs in about sixteen of
``test_cabinet.py``): aiomqtt waits for a PUBACK with ``asyncio.wait_for``,
which on Python 3.11 returns the result when the ack completes in the same
loop step as the cancellation, and drops the cancellation. The publishing
loop carried on and its stopper waited forever. These tests make that step
happen on purpose.
"""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from pecc_plugins.site import broker


async def wait_then_cancel_as_it_completes(client: aiomqtt.Client) -> asyncio.Task[str]:
    """Start waiting for an ack with ``client``; in one loop step, the ack comes and the waiter is cancelled."""
    ack: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiter = asyncio.create_task(client._wait_for(ack, timeout=10))
    await asyncio.sleep(0)  # the waiter is now awaiting the ack

    def both() -> None:
        ack.set_result("PUBACK")
        waiter.cancel()

    asyncio.get_running_loop().call_soon(both)
    await asyncio.wait([waiter])
    return waiter


async def test_the_stop_is_kept_when_it_comes_as_the_broker_acknowledges() -> None:
    waiter = await wait_then_cancel_as_it_completes(broker.Client("127.0.0.1"))
    assert waiter.cancelled()


async def test_the_wait_still_times_out_as_an_mqtt_error() -> None:
    client = broker.Client("127.0.0.1")
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started = asyncio.get_running_loop().time()
    with pytest.raises(aiomqtt.MqttError, match="timed out"):
        await client._wait_for(never, timeout=2.5)
    assert asyncio.get_running_loop().time() - started == pytest.approx(2.5)


async def test_the_overridden_wait_is_still_aiomqtt_s() -> None:
    """The override replaces a private method: a release that renames it must fail here, not hang a cabinet."""
    assert "_wait_for" in vars(aiomqtt.Client)
    assert isinstance(broker.client({"host": "127.0.0.1", "port": 1883, "username": None, "password": None,
                                     "tls": None, "keepalive_s": 5}, "probe"), broker.Client)
