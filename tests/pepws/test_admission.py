"""Handshakes are bounded: half-open connections cannot starve the SECCs of descriptors.

Real sockets on 127.0.0.1, from different 127.0.0.x source addresses for
the per-address bounds; the open-file limit is lowered in a ``pecc run``
subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from pecc_core.asyncutil import run
from pecc_core.testing import sim_overrides, write_profile
from pecc_plugins.pepws.admission import Gate

from .conftest import StartPecc
from .process_rig import PeccProcess
from .tls_rig import LabCa


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
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_under_a_256_file_limit_a_flood_leaves_room_for_a_known_secc(
    tmp_path: Path, can_channel: str, loop: str
) -> None:
    """On either loop: uvloop holds more descriptors of its own, and accepts in smaller bursts."""
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    path = write_profile("sim", tmp_path, {
        **sim_overrides(can_channel),
        "server.max_handshakes_per_peer": 64,
        "server.handshake_timeout_ms": 10_000,
    })
    pecc = await PeccProcess(path, tmp_path / "pecc.log", nofile=(200, 256), loop=loop).started()
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


@pytest.mark.system("a loop of its own (uvloop or asyncio) on real time, and a blocking connect before it accepts")
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_client_hello_sent_before_the_accept_reaches_the_tls_handshake(tmp_path: Path, loop: str) -> None:
    """uvloop reads a socket once ``connection_made`` returns, paused or not: the gate hands those bytes to TLS.

    The client's first TLS flight is in the socket before the server's loop
    accepts it, so uvloop reads it before the TLS protocol is on the socket.
    """
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    ca = LabCa(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    gate = Gate(16, 4, 1, (), 10.0, server_side)

    async def never_called(ws: ServerConnection) -> None:  # the test ends after the TLS handshake
        raise AssertionError("no WebSocket handshake in this test")

    async def handshake() -> str | None:
        running = asyncio.get_running_loop()
        async with serve(never_called, "127.0.0.1", 0, create_connection=gate.connection_class()) as server:
            port = server.sockets[0].getsockname()[1]
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = ca.client(None).wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
            with socket.create_connection(("127.0.0.1", port)) as sock:  # blocking: the loop has not accepted yet
                with contextlib.suppress(ssl.SSLWantReadError):
                    tls.do_handshake()
                sock.sendall(outgoing.read())  # the ClientHello
                sock.setblocking(False)
                async with asyncio.timeout(5):
                    while True:
                        incoming.write(await running.sock_recv(sock, 65536))
                        try:
                            tls.do_handshake()
                        except ssl.SSLWantReadError:
                            await running.sock_sendall(sock, outgoing.read())
                            continue
                        await running.sock_sendall(sock, outgoing.read())
                        return tls.version()

    assert run(handshake(), loop) is not None
