"""Handshakes are bounded: half-open connections cannot starve the SECCs of descriptors.

Real sockets on 127.0.0.1, from different 127.0.0.x source addresses for
the per-address bounds; the open-file limit is lowered in a ``pecc run``
subprocess.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from pecc_core.testing import sim_overrides, write_profile
from pecc_plugins.pepws.admission import Gate

from .conftest import StartPecc
from .process_rig import PeccProcess


@pytest.fixture(scope="module")
def scheme() -> str:
    return "ws"


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]  # the writer keeps the socket open


async def half_open(port: int, source: str, n: int) -> list[Stream]:
    """``n`` TCP connections from ``source`` that never start a handshake."""
    return [await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)) for _ in range(n)]


async def closed(streams: list[Stream], wait: float) -> int:
    """How many of ``streams`` the server has closed within ``wait`` s."""
    async def eof(reader: asyncio.StreamReader) -> bool:
        try:
            return await asyncio.wait_for(reader.read(1), wait) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    return sum(await asyncio.gather(*(eof(reader) for reader, _ in streams)))


async def test_per_address_bound_closes_the_excess_and_the_timeout_the_rest(start_pecc: StartPecc) -> None:
    pecc = await start_pecc({"server.max_handshakes_per_peer": 3, "server.handshake_timeout_ms": 600})
    port = pecc.server.port
    flood = await half_open(port, "127.0.0.9", 8)
    assert await closed(flood, 0.3) == 5  # beyond 3 pending: closed at once
    other = await half_open(port, "127.0.0.10", 1)
    assert await closed(other, 0.2) == 0  # another address has its own bound
    client = await pecc.connect("1-1", local_addr=("127.0.0.11", 0))
    assert (await client.call("configuration"))["type"] == "response"
    assert await closed(flood + other, 3.0) == 9  # the handshake timeout ends the rest


@pytest.mark.system("`pecc run` in a process with a lowered open-file limit")
async def test_under_a_256_file_limit_a_flood_leaves_room_for_a_known_secc(tmp_path: Path, can_channel: str) -> None:
    path = write_profile("sim", tmp_path, {
        **sim_overrides(can_channel),
        "server.max_handshakes_per_peer": 64,
        "server.handshake_timeout_ms": 10_000,
    })
    pecc = await PeccProcess(path, tmp_path / "pecc.log", nofile=(200, 256)).started()
    try:
        assert "open-file limit: 256" in pecc.text()  # the soft limit raised to the hard one
        url = f"ws://127.0.0.1:{pecc.port}/secc1/gun1"
        async with connect(url, subprotocols=["pep1.5"]) as ws:  # the SECC, once
            await ws.recv()
        flood = []
        for i in range(6):  # 300 half-open connections, more than the process has descriptors
            flood += await half_open(pecc.port, f"127.0.0.{20 + i}", 50)
        refused = await closed(flood, 1.0)
        began = time.perf_counter()
        async with connect(url, subprotocols=["pep1.5"], open_timeout=10) as ws:
            took = time.perf_counter() - began
            await ws.recv()
        print(f"SECC handshake under a flood of 300: {1000 * took:.1f} ms; {refused} flood sockets closed at once")
        assert 100 <= refused < 300
    finally:
        code = pecc.stop()  # with the flood still there: the pending handshakes are cut
    text = pecc.text()
    assert "Traceback" not in text and "accept(): fails" not in text, text
    assert text.count("closed a connection from") <= 40  # throttled, not one line per socket
    assert code == 0, text


def test_accept_failures_are_logged_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    """asyncio reports every failing accept(); the gate logs the first and the recovery."""
    loop = asyncio.new_event_loop()
    try:
        gate = Gate(16, 4, 4, (), 1.0, None)
        gate.install(loop)
        with caplog.at_level(logging.WARNING, logger="pecc_plugins.pepws.admission"):
            for _ in range(100):
                loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": OSError(24, "Too many open files")}
                )
            assert gate.admit(None) is None
        gate.uninstall(loop)
    finally:
        loop.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "accept(): fails" in lines[0] and "Too many open files" in lines[0]
    assert "accept(): works again after 100 failures" in lines[1]
