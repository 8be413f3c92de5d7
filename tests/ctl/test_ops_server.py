"""The ops server beside the station: its own thread, bounded work, a snapshot, writes as commands.

docs/control-api.md, "Load and bounds": at most ``max_scrapes`` scrapes,
``max_streams`` dashboard streams, ``max_history_reads`` history reads and
``max_commands`` commands at once, 503 with ``Retry-After`` beyond and a
log line once per run of refusals; a dashboard client that went away is
no error; one that does not read is dropped; reads answer from a
snapshot never older than a status period, and the saved limits are in
place before anything serves. Real HTTP against a sim station on the
test's loop; the expected values are written from the documents.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pecc_core.asyncutil import poll_until
from pecc_core.runtime import Runtime
from pecc_core.testing import running, sim_overrides
from pecc_plugins.ctl import snapshot
from pecc_plugins.ctl.dashboard import FEED
from pecc_plugins.ctl.gate import Gate
from pecc_plugins.ctl.keys import PUBLISHER
from pecc_plugins.ctl.opsthread import PacedSelector
from pecc_plugins.ctl.snapshot import views_of

from .conftest import FAST, Ctl, ctl_of, first_snapshot

#: docs/control-api.md: the seconds a refused client is told to wait, and how long a run of refusals lasts.
RETRY_AFTER = "1"
QUIET_S = 10.0
#: Linux TCP states (include/net/tcp_states.h).
TCP_CLOSE = 7


def bounded(**bounds: int) -> dict[str, Any]:
    return {f"services.1.params.{name}": value for name, value in bounds.items()}


@pytest.fixture
async def small(make_profile: Any, can_channel: str) -> AsyncIterator[Ctl]:
    """A sim station whose ops server takes 2 streams, 1 scrape, 1 history read and 1 command at once.

    Its SECC requests wait 5 s for an answer: a command is held under way by an SECC that takes its time.
    """
    overrides = {**sim_overrides(can_channel), **FAST, "timings.request_timeout_ms": 5000,
                 **bounded(max_streams=2, max_scrapes=1, max_history_reads=1, max_commands=1)}
    async with running(make_profile("sim", overrides)) as runtime:
        yield Ctl(runtime, ctl_of(runtime).port)


def open_stream(port: int, receive_buffer: int | None = None) -> tuple[socket.socket, int, dict[str, str]]:
    """``GET /api/live`` on a raw socket; its status and headers (nothing more is read)."""
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
    return sock, int(status_line.split()[1]), headers


def tcp_state(sock: socket.socket) -> int:
    return int(struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0])


async def wait_until_reset(sock: socket.socket, timeout: float = 30.0) -> bool:
    """Whether the server resets the (never read) connection within ``timeout`` s."""
    return await poll_until(lambda: tcp_state(sock) == TCP_CLOSE, timeout, 0.05)


# -- bounds ----------------------------------------------------------------------------


async def test_a_gate_refuses_beyond_its_limit_with_503_and_logs_once_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate("things", 2)
    caplog.set_level(logging.INFO, logger="pecc_plugins.ctl.gate")
    with gate.admit(), gate.admit():
        refusals = []
        for _ in range(5):
            with pytest.raises(web.HTTPServiceUnavailable) as refused, gate.admit():
                pass
            refusals.append(refused.value)
    assert all(r.headers["Retry-After"] == RETRY_AFTER for r in refusals)
    assert json.loads(refusals[0].text or "")["error"].startswith("things: 2 at once already")
    assert [r.levelname for r in caplog.records] == ["WARNING"]  # one line for five refusals
    with gate.admit():  # there is room again, but the run lasts until it has been quiet for a while
        pass
    assert len(caplog.records) == 1
    await asyncio.sleep(QUIET_S)
    with gate.admit():
        pass
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "after 5 failures" in caplog.records[1].getMessage()


async def test_streams_beyond_the_limit_are_503(small: Ctl) -> None:
    first = await asyncio.to_thread(open_stream, small.api_port)
    second = await asyncio.to_thread(open_stream, small.api_port)
    third = await asyncio.to_thread(open_stream, small.api_port)
    try:
        assert (first[1], second[1]) == (200, 200)
        assert third[1] == 503 and third[2]["Retry-After"] == RETRY_AFTER
    finally:
        for sock, _, _ in (first, second, third):
            sock.close()


async def test_a_command_beyond_the_queue_is_503_and_runs_nothing(small: Ctl) -> None:
    secc = await small.secc()
    station = small.runtime.station
    before = station.allocator.pool.site_power_max
    waiting = asyncio.create_task(small.http("POST", "/api/guns/1-1/stop-charging"))
    request = await secc.pecc_request()  # the one command is under way: it waits for the SECC
    status, body = await small.http("PUT", "/api/limits", {"site_max_power_w": 42_000})
    assert status == 503 and "1 at once already" in body["error"]
    assert station.allocator.pool.site_power_max == before  # refused: nothing applied
    await secc.answer(request)
    assert (await waiting)[0] == 200
    assert (await small.http("PUT", "/api/limits", {"site_max_power_w": 42_000}))[0] == 200
    assert (await small.http("GET", "/api/limits"))[1]["site_max_power_w"] == 42_000  # the GET after sees it
    await secc.close()


# -- streams ----------------------------------------------------------------------------


async def test_a_stream_whose_client_went_away_ends_without_an_error(
    ctl: Ctl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pecc_plugins.ctl")
    feed = ctl_of(ctl.runtime).app[FEED]
    for _ in range(3):
        async with aiohttp.ClientSession() as session, session.get(f"{ctl.url}/api/live") as response:
            assert response.status == 200
            await first_snapshot(response, 10)
    async with asyncio.timeout(10):
        while feed.gate.inside:  # each stream notices its client gone at its next message
            await asyncio.sleep(0.05)
    ours = [r for r in caplog.records if r.name.startswith(("pecc_plugins.ctl", "aiohttp"))]
    assert not [r for r in ours if r.levelno >= logging.WARNING or r.exc_info], caplog.text


async def test_a_client_that_does_not_read_is_dropped(
    make_profile: Any, can_channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """72 guns: a snapshot message of ~50 kB twice a second, a stuck client's buffer fills in seconds."""
    caplog.set_level(logging.INFO, logger="pecc_plugins.ctl")
    async with running(make_profile("sim-full", sim_overrides(can_channel, source="sim-full"))) as runtime:
        feed = ctl_of(runtime).app[FEED]
        sock, status, _ = await asyncio.to_thread(open_stream, ctl_of(runtime).port, 4096)
        try:
            assert status == 200
            assert await wait_until_reset(sock)
        finally:
            sock.close()
        assert feed.gate.inside == 0
    (line,) = [r.getMessage() for r in caplog.records if "does not read" in r.getMessage()]
    assert "dropped" in line and "KiB waiting" in line


# -- the snapshot -----------------------------------------------------------------------


async def test_a_read_never_shows_the_station_older_than_a_status_period(ctl: Ctl) -> None:
    publisher = ctl_of(ctl.runtime).app[PUBLISHER]
    period = ctl.runtime.profile.timings.status_interval_ms / 1000
    loop = asyncio.get_running_loop()
    ages = []
    for pause in (0.01,) * 300 + (7.0, 0.01, 30.0, 0.2):  # steady reads, then after quiet spells
        await asyncio.sleep(pause)
        snapshot = await publisher.current()
        assert snapshot is not None
        ages.append(loop.time() - snapshot.at)
    assert max(ages) <= period + 1e-6


@pytest.fixture
async def captured(ctl: Ctl, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The loop times of the station's snapshot captures, from the sim station settled on."""
    await ctl.settled()
    loop = asyncio.get_running_loop()
    captured: list[float] = []
    real = snapshot.capture

    def counted(*args: Any) -> Any:
        captured.append(loop.time())
        return real(*args)

    monkeypatch.setattr(snapshot, "capture", counted)
    return captured


async def test_nobody_reading_costs_no_capture_and_the_next_read_is_fresh(ctl: Ctl, captured: list[float]) -> None:
    # docs/control-api.md: without a read for 25 status periods (5 s) the station stops capturing
    publisher = ctl_of(ctl.runtime).app[PUBLISHER]
    loop = asyncio.get_running_loop()
    await asyncio.sleep(5.2)  # the lease of the last read runs out
    quiet = loop.time()
    secc = await ctl.secc()
    await secc.ok("cableCheck", {"voltage": 500})  # a transition and a connection nobody reads
    await asyncio.sleep(10.0)  # the cable check runs and ends meanwhile
    assert [t for t in captured if t >= quiet] == []
    assert publisher.latest is not None and views_of(publisher.latest)["1-1"]["state"] == "standby"
    assert (await ctl.http("GET", "/api/guns/1-1"))[1]["state"] == "ready"
    assert len(captured) == 1
    await asyncio.sleep(1.0)  # read lately: a capture every status period again
    assert len(captured) == 6
    await secc.close()


async def test_a_read_while_the_station_loop_is_gone_answers_with_the_last_snapshot(ctl: Ctl) -> None:
    publisher = ctl_of(ctl.runtime).app[PUBLISHER]
    last = await publisher.current()
    gone = asyncio.new_event_loop()
    gone.close()
    publisher.watched, publisher._loop = False, gone  # as a read on the ops thread during the shutdown sees it
    assert await publisher.current() is last


async def test_a_transition_is_in_the_snapshot_before_the_secc_hears_its_reply(ctl: Ctl) -> None:
    await ctl.settled()
    publisher = ctl_of(ctl.runtime).app[PUBLISHER]
    await publisher.current()  # read lately: the station captures
    secc = await ctl.secc()
    await secc.ok("cableCheck", {"voltage": 500})
    assert publisher.latest is not None and views_of(publisher.latest)["1-1"]["state"] == "cableCheck"
    assert (await ctl.http("GET", "/api/guns/1-1"))[1]["state"] == "cableCheck"
    await secc.close()


async def test_secc_connections_at_once_cost_one_capture_per_half_status_period(
    ctl: Ctl, captured: list[float]
) -> None:
    # docs/control-api.md: SECCs connecting or leaving are published at most every half status period
    publisher = ctl_of(ctl.runtime).app[PUBLISHER]
    loop = asyncio.get_running_loop()
    await publisher.current()  # read lately: the station captures
    await asyncio.sleep(0)
    start = loop.time()
    seccs = []
    for gun_id in ("1-1", "1-2", "2-1", "2-2"):  # one after the other, a few milliseconds apart
        seccs.append(await ctl.secc(gun_id))
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.1)
    assert publisher.latest is not None
    assert all(view["secc_connected"] for view in views_of(publisher.latest).values())
    burst = [t - start for t in captured if t - start < 0.1]
    assert len(burst) <= 2, burst  # the first connection's, then the others' 0.1 s after it
    for secc in seccs:
        await secc.close()


# -- start order ------------------------------------------------------------------------


def get(port: int, path: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def put(port: int, path: str, body: Any) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("PUT", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


async def test_saved_limits_are_in_place_before_anything_serves_and_readyz_waits_for_the_station(
    make_profile: Any, can_channel: str
) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST})
    async with running(profile) as runtime:
        assert await asyncio.to_thread(put, ctl_of(runtime).port, "/api/limits", {"site_max_power_w": 50_000}) == 200
    runtime = Runtime(profile, runtime.plugins)
    runtime.build()
    service = ctl_of(runtime)
    for part in runtime.services:  # services start first (pecc_core.runtime): the station is not started yet
        await part.start()
    try:
        port = service.port
        status, limits = await asyncio.to_thread(get, port, "/api/limits")
        assert status == 200 and limits["site_max_power_w"] == 50_000  # the saved cap, not the profile's
        status, ready = await asyncio.to_thread(get, port, "/readyz")
        assert status == 503 and ready["ready"] is False and ready["status"] == "not ready"
        # a change made now is not overwritten when the station comes up
        assert await asyncio.to_thread(put, port, "/api/limits", {"site_max_power_w": 60_000}) == 200
        await runtime.station.start()
        await runtime.transport.start()
        runtime.plugins.station_started(runtime.station)
        await asyncio.sleep(runtime.profile.timings.status_interval_ms / 1000)
        assert (await asyncio.to_thread(get, port, "/api/limits"))[1]["site_max_power_w"] == 60_000
        assert runtime.station.allocator.pool.site_power_max == 60_000
        status, ready = await asyncio.to_thread(get, port, "/readyz")
        assert status == 200 and ready["status"] == "ready"
    finally:
        runtime.plugins.station_stopping(runtime.station)
        await runtime.transport.stop()
        await runtime.station.stop()
        for part in reversed(runtime.services):
            await part.stop()


# -- the ops thread's share of the time --------------------------------------------------


@pytest.mark.system("measures the real time a busy loop rests")
def test_a_paced_selector_keeps_its_loop_busy_at_most_its_share() -> None:
    share, busy_s, turns = 0.25, 0.01, 20
    selector = PacedSelector(share)
    started = time.perf_counter()
    for _ in range(turns):
        until = time.perf_counter() + busy_s
        while time.perf_counter() < until:  # a loop turn that keeps the thread busy
            pass
        selector.select(0)
    took = time.perf_counter() - started
    selector.close()
    assert took >= turns * busy_s / share * 0.95  # busy a quarter of the time at most
    print(f"{turns} busy turns of {busy_s * 1000:.0f} ms took {took:.2f} s (share {share})")
