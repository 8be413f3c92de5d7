"""What the descriptor margin rests on: how many sockets each loop accepts before the protocol sees one."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pecc_core.asyncutil import run
from pecc_plugins.pepws.accept_burst import unseen_sockets


@pytest.mark.system("a loop of its own on real time, connections queued in the kernel before it runs")
@pytest.mark.parametrize(("loop", "burst"), [("asyncio", 64), ("uvloop", 1)])
def test_a_full_listen_queue_is_accepted_in_bursts_the_margin_covers(loop: str, burst: int) -> None:
    """asyncio takes up to its backlog per readiness event; uvloop (libuv 1.45 and later) one socket.

    65 connections wait in the kernel (a backlog of 64 queues 65 on Linux)
    before the loop runs; then the protocols count the sockets accepted
    before the first ``connection_made``, where the gate would close them.
    """
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    made: list[int] = []
    seen: list[int] = []

    class Refuse(asyncio.Protocol):
        def __init__(self) -> None:
            made.append(1)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            seen.append(len(made))
            transport.abort()

    async def flood() -> int:
        running = asyncio.get_running_loop()
        server = await running.create_server(Refuse, "127.0.0.1", 0, backlog=64)
        port = server.sockets[0].getsockname()[1]
        clients = []
        for _ in range(65):  # the loop does not run meanwhile: each waits in the listen queue
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            clients.append(client)
        async with asyncio.timeout(5):
            while len(seen) < 65:
                await asyncio.sleep(0.01)
        for client in clients:
            client.close()
        server.close()
        await server.wait_closed()
        return unseen_sockets(running, 64)

    margin = run(flood(), loop)
    assert seen[0] == burst
    assert burst <= margin
