"""The transport: handshake, one connection per gun, status, liveness, isolation."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import tracemalloc
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pecc_core.asyncutil import poll_until
from pecc_core.gun import Gun, GunState
from pecc_core.model import Contactors, Isolation, Operational, Status
from pecc_core.testing import eventually
from pecc_plugins.pepws import codec, connection
from pecc_plugins.pepws.connection import Connection

from .conftest import Pecc, StartPecc
from .helpers import PepClient

#: PEP_STATUS_UPDATE_INTERVAL (PROTOCOL.md, "Timings").
STATUS_PERIOD_S = 0.200
#: PEP_REQUEST_TIMEOUT (PROTOCOL.md, "Timings").
REQUEST_TIMEOUT_S = 0.500
#: The virtual loop clock's resolution (looptime: 1 µs): timers land on it.
CLOCK_TICK_S = 1e-6


def link_of(pecc: Pecc, gun_id: str = "1-1") -> Connection:
    link = pecc.gun(gun_id).secc
    assert isinstance(link, Connection)
    return link


def report(gun: Gun, status: Status) -> None:
    """Make the gun report ``status`` whatever its state machine measures."""
    gun.report = lambda: status  # type: ignore[method-assign]


async def until(condition: Any, timeout: float = 3.0) -> None:
    """Wait (polling the loop, never sleeping the thread) until ``condition()`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# -- handshake -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "selected"),
    [
        (("pep1.5",), "pep1.5"),
        (("pep1.5", "pep1.8"), "pep1.8"),
        (("chat", "pep1.6"), "pep1.6"),
        (None, None),  # accepted with a warning: the profile does not require one
    ],
)
async def test_subprotocol_negotiation(pecc: Pecc, offered: tuple[str, ...] | None, selected: str | None) -> None:
    client = await pecc.connect(subprotocols=offered)
    assert client.ws.subprotocol == selected
    assert (await client.call("configuration"))["type"] == "response"


async def test_client_without_subprotocol_is_accepted_with_a_warning(
    pecc: Pecc, caplog: pytest.LogCaptureFixture
) -> None:
    await pecc.connect(subprotocols=None)
    assert "offers no sub-protocol" in caplog.text


async def test_unsupported_subprotocol_is_refused(pecc: Pecc) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await pecc.connect(subprotocols=("pep2.0", "chat"))
    assert refused.value.response.status_code == 400
    assert b"pep1.5" in refused.value.response.body


async def test_missing_subprotocol_is_refused_when_the_profile_requires_one(start_pecc: StartPecc) -> None:
    pecc = await start_pecc({"server.require_subprotocol": True, "server.subprotocols": ["pep1.5"]})
    with pytest.raises(InvalidStatus) as refused:
        await pecc.connect(subprotocols=None)
    assert refused.value.response.status_code == 400
    assert (await pecc.connect(subprotocols=("pep1.5",))).ws.subprotocol == "pep1.5"


async def test_unknown_path_is_refused_with_404_and_others_are_untouched(pecc: Pecc) -> None:
    other = await pecc.connect("1-2")
    for path in ("/", "/secc1", "/secc1/gun9", "/secc1/gun1/x"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(pecc.url(path=path), subprotocols=["pep1.5"], ssl=pecc.ssl())
        assert refused.value.response.status_code == 404
    assert (await other.call("configuration"))["type"] == "response"
    assert pecc.gun("1-2").secc is not None


async def test_query_string_is_ignored(pecc: Pecc) -> None:
    ws = await connect(pecc.url() + "?secc=42", subprotocols=["pep1.5"], ssl=pecc.ssl())
    try:
        assert json.loads(await ws.recv())["kind"] == "status"
    finally:
        await ws.close()


async def test_second_connection_replaces_the_first(pecc: Pecc) -> None:
    detached: list[str] = []
    gun = pecc.gun()
    original = gun.secc_detached
    gun.secc_detached = lambda link, reason: (detached.append(reason), original(link, reason))  # type: ignore[method-assign]
    first = await pecc.connect()
    await first.call("configuration")
    old_link = link_of(pecc)
    second = await pecc.connect()
    await second.call("configuration")
    await asyncio.wait_for(first._reader, 3)  # the old socket is closed by the PECC
    assert first.ws.close_code == 1000
    assert gun.secc is not old_link and gun.secc is link_of(pecc)
    assert detached == ["replaced by a new connection to the same gun"]
    count = len(second.statuses)
    await asyncio.sleep(0.3)
    assert len(second.statuses) > count


async def test_closed_connection_detaches_the_gun(pecc: Pecc) -> None:
    client = await pecc.connect()
    await client.call("configuration")
    link = link_of(pecc)
    await client.close()
    await until(lambda: pecc.gun().secc is None)
    assert link.detached is not None and "connection closed" in link.detached


# -- status --------------------------------------------------------------------


async def test_status_period(pecc: Pecc) -> None:
    """PEP_STATUS_UPDATE_INTERVAL (PROTOCOL.md): a status the moment the connection is
    accepted, then one every 200 ms, on virtual time exactly.

    The PECC puts each gun's statuses on its own slots of the period (a
    phase, so that many guns do not fall due at once): the first period
    may be shorter than 200 ms, never longer; all later ones are 200 ms.
    """
    loop = asyncio.get_running_loop()
    client = await pecc.connect()
    opened = loop.time()
    await asyncio.sleep(2.1)
    times = [t for t, _ in client.statuses]
    first, *periods = client.status_periods()
    print(f"status: first at +{1000 * (times[0] - opened):.3f} ms, first period {1000 * first:.3f} ms, "
          f"then {len(periods)} periods of {sorted({round(1000 * p, 3) for p in periods})} ms")
    assert times[0] == opened  # at once
    assert 0 < first <= STATUS_PERIOD_S + CLOCK_TICK_S
    assert periods == pytest.approx([STATUS_PERIOD_S] * len(periods), abs=CLOCK_TICK_S)
    # and they did not stop: the last one is on the last slot before the end of the 2.1 s
    assert opened + 2.1 - STATUS_PERIOD_S - CLOCK_TICK_S <= times[-1] <= opened + 2.1


async def test_a_status_that_cannot_be_built_is_logged_once_per_episode(
    pecc: Pecc, caplog: pytest.LogCaptureFixture
) -> None:
    """The status loop goes on while the gun's report raises: one line when it starts, one when it ends."""
    caplog.set_level(logging.INFO, logger="pecc_plugins.pepws.connection")
    gun = pecc.gun()
    broken = False
    good = gun.report

    def reporting() -> Status:
        if broken:
            raise RuntimeError("report bug")
        return good()

    gun.report = reporting  # type: ignore[method-assign]
    client = await pecc.connect()
    await until(lambda: client.statuses)
    before = len(client.statuses)
    broken = True
    await asyncio.sleep(4 * STATUS_PERIOD_S + STATUS_PERIOD_S / 2)  # four slots fail
    assert len(client.statuses) == before
    broken = False
    await until(lambda: len(client.statuses) > before)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "building the status" in r.getMessage()]
    assert lines == [
        (logging.ERROR, "gun 1-1: building the status message: report bug"),
        (logging.INFO, "gun 1-1: building the status message: works again after 4 failures"),
    ]


async def test_status_reports_the_gun_and_keeps_flowing_during_a_slow_request(pecc: Pecc) -> None:
    gun = pecc.gun()
    report(gun, Status(401.25, 99.5, 402, 100, 31.5, Contactors.CLOSED, Isolation.VALID, Operational.INOPERATIVE))

    async def slow_reset() -> None:
        await asyncio.sleep(0.8)

    gun.reset = slow_reset  # type: ignore[method-assign]
    client = await pecc.connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await client.call("reset")
    ended = loop.time()
    assert reply["type"] == "response"
    assert ended - started == pytest.approx(0.8, abs=CLOCK_TICK_S)
    # a status at once, then one on every 200 ms slot while the reset runs: none late, none missed
    first, *periods = client.status_periods(since=started)
    assert 0 < first <= STATUS_PERIOD_S + CLOCK_TICK_S
    assert periods == pytest.approx([STATUS_PERIOD_S] * len(periods), abs=CLOCK_TICK_S)
    assert client.statuses[-1][0] >= ended - STATUS_PERIOD_S - CLOCK_TICK_S
    assert client.statuses[-1][1]["payload"] == {
        "measuredVoltage": 401.25,
        "measuredCurrent": 99.5,
        "drivenVoltage": 402,
        "drivenCurrent": 100,
        "temperature": 31.5,
        "contactorsStatus": "closed",
        "isolationStatus": "valid",
        "operationalStatus": "inoperative",
    }


async def test_an_inoperative_episode_between_two_statuses_is_reported_in_the_next(start_pecc: StartPecc) -> None:
    """A gun that goes inoperative and back between two statuses (a fault that clears within the
    period): the next status says inoperative, or the SECC never learns that, say, its cable check
    was ended. With a 2 s period and the episode started right after a status on the gun's slot,
    the whole episode falls between two statuses (on virtual time, always)."""
    pecc = await start_pecc({"timings.status_interval_ms": 2000})
    loop = asyncio.get_running_loop()
    gun, estop = pecc.gun(), pecc.station.io.estop
    client = await pecc.connect()
    await eventually(lambda: len(client.statuses) >= 2, 2.5, "a status on the gun's slot")
    before = len(client.statuses)
    slot = client.statuses[-1][0]
    assert loop.time() - slot < 0.01  # right after it (the poll's 5 ms)
    estop.press(None)
    await eventually(lambda: gun.state is GunState.INOPERATIVE, what="inoperative")
    estop.press(None, False)
    await eventually(lambda: gun.state is GunState.STANDBY, 8.0, "standby again")
    episode = loop.time() - slot
    print(f"episode over {1000 * episode:.0f} ms after the status")
    assert len(client.statuses) == before and episode < 2.0  # between two statuses
    await eventually(lambda: len(client.statuses) > before + 1, 4.5, "the next two statuses")
    (next_at, status), (then_at, then) = client.statuses[before:before + 2]
    assert next_at == pytest.approx(slot + 2.0, abs=CLOCK_TICK_S)
    assert then_at == pytest.approx(slot + 4.0, abs=CLOCK_TICK_S)
    assert status["payload"]["operationalStatus"] == "inoperative"
    assert then["payload"]["operationalStatus"] == "operative"  # reported once


async def test_out_of_range_readings_still_make_a_valid_status(pecc: Pecc) -> None:
    report(pecc.gun(), Status(-0.4, float("nan"), float("inf"), 3e12, float("-inf")))
    client = await pecc.connect()
    await until(lambda: client.statuses)
    payload = client.statuses[0][1]["payload"]
    assert (payload["measuredVoltage"], payload["measuredCurrent"], payload["drivenVoltage"]) == (0, 0, 2**31 - 1)
    assert payload["drivenCurrent"] == 2**31 - 1
    assert payload["temperature"] == -(2**31 - 1)


async def test_integer_mode_sends_only_integers(start_pecc: StartPecc) -> None:
    """floatValues false: the client helper flags any float in any message."""
    pecc = await start_pecc({"station.float_values": False, "seccs.0.guns.0.voltage_max": 999.6})
    gun = pecc.gun()
    report(gun, Status(401.5, 99.4, 402.7, 100, 31.5))
    client = await pecc.connect()
    config = (await client.call("configuration"))["payload"]
    assert config["floatValues"] is False
    assert config["limitVoltageMax"] == 999  # never rounded up beyond what the gun can do
    requests = asyncio.create_task(link_of(pecc).set_output({"a1": 2.6}))
    request = await client.pecc_request()
    assert request["payload"] == {"outputValues": {"a1": 3}}
    await client.answer(request)
    await requests
    gun.link().send_event("x")
    await until(lambda: client.statuses)
    assert client.statuses[0][1]["payload"]["measuredVoltage"] == 402
    assert client.statuses[0][1]["payload"]["drivenVoltage"] == 403


# -- PECC -> SECC requests ---------------------------------------------------------


@pytest.fixture
async def secc(pecc: Pecc) -> Any:
    client = await pecc.connect()
    await client.call("configuration")
    return client


async def test_get_input_set_output_stop_charging_answered(pecc: Pecc, secc: Any) -> None:
    link = link_of(pecc)
    task = asyncio.create_task(link.get_input(["d1", "a1"]))
    request = await secc.pecc_request()
    assert request == {"type": "request", "kind": "getInput", "sequenceNumber": 1, "payload": {"inputIdentifiers": ["d1", "a1"]}}
    await secc.answer(request, {"inputValues": {"d1": True, "a1": 12.5}})
    assert await task == {"d1": True, "a1": 12.5}

    task = asyncio.create_task(link.set_output({"d2": False}))
    request = await secc.pecc_request()
    assert (request["kind"], request["sequenceNumber"], request["payload"]) == ("setOutput", 2, {"outputValues": {"d2": False}})
    await secc.answer(request)
    assert await task is None

    task = asyncio.create_task(link.stop_charging())
    request = await secc.pecc_request()
    assert (request["kind"], request["sequenceNumber"], request["payload"]) == ("stopCharging", 3, {})
    await secc.answer(request)
    assert await task is None


async def test_error_reply_raises_secc_error(pecc: Pecc, secc: Any) -> None:
    from pecc_core.errors import SeccError

    task = asyncio.create_task(link_of(pecc).get_input(["x9"]))
    request = await secc.pecc_request()
    await secc.send({"type": "error", "kind": "getInput", "sequenceNumber": request["sequenceNumber"],
                     "payload": {"errorCategory": "value", "errorDetails": "unknown input x9"}})
    with pytest.raises(SeccError) as failed:
        await task
    assert (failed.value.category, failed.value.details) == ("value", "unknown input x9")


async def test_malformed_reply_raises_secc_error_format(pecc: Pecc, secc: Any) -> None:
    from pecc_core.errors import SeccError

    task = asyncio.create_task(link_of(pecc).get_input(["d1"]))
    request = await secc.pecc_request()
    await secc.answer(request, ["not", "an", "object"])
    with pytest.raises(SeccError) as failed:
        await task
    assert failed.value.category == "format"


async def test_unanswered_request_times_out_and_the_next_goes_out(pecc: Pecc, secc: Any) -> None:
    from pecc_core.errors import SeccTimeout

    link = link_of(pecc)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(SeccTimeout, match="no reply to stopCharging #1 within 500 ms"):
        await link.stop_charging()
    took = loop.time() - started
    print(f"timeout after {1000 * took:.3f} ms")
    assert took == pytest.approx(REQUEST_TIMEOUT_S, abs=CLOCK_TICK_S)
    late = await secc.pecc_request()
    task = asyncio.create_task(link.get_input(["d1"]))
    request = await secc.pecc_request()
    assert request["sequenceNumber"] == 2
    await secc.answer(late)  # a late reply to #1: logged and dropped
    await secc.answer(request, {"inputValues": {"d1": 1}})
    assert await task == {"d1": 1}


async def test_one_pending_request_at_a_time(pecc: Pecc, secc: Any) -> None:
    link = link_of(pecc)
    first = asyncio.create_task(link.get_input(["d1"]))
    second = asyncio.create_task(link.set_output({"d2": True}))
    request = await secc.pecc_request()
    await asyncio.sleep(0.1)
    assert secc.requests.empty()  # the second waits for the first
    await secc.answer(request, {"inputValues": {}})
    assert await first == {}
    request = await secc.pecc_request()
    assert (request["kind"], request["sequenceNumber"]) == ("setOutput", 2)
    await secc.answer(request)
    await second


async def test_reply_with_an_unknown_number_is_dropped(pecc: Pecc, secc: Any, caplog: pytest.LogCaptureFixture) -> None:
    task = asyncio.create_task(link_of(pecc).stop_charging())
    request = await secc.pecc_request()
    await secc.send({"type": "response", "kind": "stopCharging", "sequenceNumber": 777, "payload": {}})
    await asyncio.sleep(0.05)
    assert not task.done()
    await secc.answer(request)
    await task
    assert "777" in caplog.text


async def test_request_handler_may_wait_for_its_own_secc(pecc: Pecc, secc: Any) -> None:
    """A handler that asks the same SECC something does not deadlock the receive loop."""

    async def reset_and_ask() -> None:
        await pecc.gun().link().get_input(["d1"])

    pecc.gun().reset = reset_and_ask  # type: ignore[method-assign]
    await secc.send({"type": "request", "kind": "reset", "sequenceNumber": 50, "payload": {}})
    request = await secc.pecc_request()
    await secc.answer(request, {"inputValues": {"d1": 0}})
    reply = await secc.reply()
    assert (reply["type"], reply["sequenceNumber"]) == ("response", 50)


async def test_sequence_numbers_wrap_to_1(pecc: Pecc, secc: Any) -> None:
    link = link_of(pecc)
    link.sequence.last = 2**31 - 2
    seen = []
    for _ in range(3):
        task = asyncio.create_task(link.stop_charging())
        request = await secc.pecc_request()
        seen.append(request["sequenceNumber"])
        await secc.answer(request)
        await task
    assert seen == [2**31 - 1, 1, 2]


async def test_disconnect_fails_the_pending_request(pecc: Pecc, secc: Any) -> None:
    from pecc_core.errors import SeccNotConnected

    task = asyncio.create_task(link_of(pecc).stop_charging())
    await secc.pecc_request()
    await secc.close()
    with pytest.raises(SeccNotConnected):
        await task


async def test_invalid_outgoing_request_is_refused_before_sending(pecc: Pecc, secc: Any) -> None:
    with pytest.raises(ValueError, match="inputIdentifiers"):
        await link_of(pecc).get_input([1, 2])  # type: ignore[list-item]
    assert secc.requests.empty()


# -- liveness and isolation --------------------------------------------------------


@pytest.mark.parametrize("stalled_after", [0.0, 0.05], ids=["on-a-ping", "between-pings"])
async def test_unresponsive_secc_is_dropped_and_the_gun_detached(start_pecc: StartPecc, stalled_after: float) -> None:
    """Pinged every 100 ms, the SECC is given up 400 ms (secc_unresponsive_ms) after the last
    pong it could have sent: the first unanswered ping goes out at the next 100 ms tick of the
    connection's ping task (which starts when the connection is accepted, with a sleep), and
    its pong is awaited for the rest, 400 - 100 ms. The connection and the configuration call
    take no virtual time, so the SECC stalls on a ping tick (or 50 ms after one): it is dropped
    exactly 400 ms (or 350 ms) later. websockets' own keepalive is off on the server
    (``ping_interval=None``) and the client's (20 s) never falls due in this test.
    """
    pecc = await start_pecc({"timings.ping_interval_ms": 100, "timings.secc_unresponsive_ms": 400})
    loop = asyncio.get_running_loop()
    client = await pecc.connect()
    accepted = loop.time()
    other = await pecc.connect("1-2")
    await client.call("configuration")
    assert loop.time() == accepted  # no virtual time went by: the ping task's ticks are at accepted + k * 100 ms
    gun = pecc.gun()
    detached_at: list[float] = []
    original = gun.secc_detached
    gun.secc_detached = lambda link, reason: (detached_at.append(loop.time()), original(link, reason))  # type: ignore[method-assign]
    link = link_of(pecc)
    await asyncio.sleep(stalled_after)
    client.stall()  # no more pongs (nor anything else)
    silent = loop.time()
    await eventually(lambda: bool(detached_at), 1.0, "the gun detached")
    took = detached_at[0] - silent
    print(f"unresponsive SECC detached after {1000 * took:.3f} ms")
    assert took == pytest.approx(0.400 - stalled_after, abs=CLOCK_TICK_S)
    assert link.detached is not None and "unresponsive" in link.detached
    assert gun.secc is None
    assert pecc.gun("1-2").secc is not None
    assert (await other.call("configuration"))["type"] == "response"


#: A request the stalled clients send again and again.
REQUEST = json.dumps({"type": "request", "kind": "configuration", "sequenceNumber": 1, "payload": {}})


async def stalled_client(pecc: Pecc) -> tuple[PepClient, Connection]:
    """A client of gun 1-1 with a 4 KiB receive buffer that has stopped reading, and its connection."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", pecc.server.port))
    slow = await pecc.connect(sock=sock)
    await slow.call("configuration")
    slow.stall()
    return slow, link_of(pecc)


async def test_a_stalled_client_s_queue_holds_frames_of_their_own_length(start_pecc: StartPecc) -> None:
    """orjson's bytes sit in a 4 KiB buffer whatever their length: queued as they came, the
    ``send_queue`` frames of an SECC that stopped reading held 4 KiB each, for replies of 100 bytes."""
    pecc = await start_pecc({"server.send_queue": 64})
    slow, link = await stalled_client(pecc)

    async def queue_to(size: int) -> None:
        while link._outbox.qsize() < size and link.detached is None:
            await slow.ws.send(REQUEST)
            await asyncio.sleep(0)

    await queue_to(1)  # the kernel's buffers are full: from here every reply waits in the queue
    tracemalloc.start()
    try:
        first = link._outbox.qsize()
        await queue_to(first + 40)
        queued = link._outbox.qsize() - first
        # what the encoder and the connection allocated and still hold: the queued replies
        held = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(True, codec.__file__), tracemalloc.Filter(True, connection.__file__)]
        )
    finally:
        tracemalloc.stop()
        slow.unstall()
    assert queued >= 40
    per_frame = sum(stat.size for stat in held.statistics("filename")) / queued
    assert per_frame < 1000, per_frame  # measured 500-540 bytes; 5100-5400 queued as they came


async def test_client_that_cannot_keep_up_is_disconnected(start_pecc: StartPecc) -> None:
    pecc = await start_pecc({"server.send_queue": 8})
    other = await pecc.connect("1-2")
    slow, link = await stalled_client(pecc)
    try:
        for sent in range(1, 5001):  # noqa: B007 (reported after the loop)
            await slow.ws.send(REQUEST)
            await asyncio.sleep(0)  # let the server run: send() alone may never yield
            if link.detached:
                break
        else:
            pytest.fail("the PECC kept buffering for a client that reads nothing")
    finally:
        slow.unstall()
    print(f"slow client dropped after {sent} requests")
    assert "send queue full" in link.detached
    assert pecc.gun().secc is None
    before = len(other.statuses)
    # The other gun still gets its statuses (the bound is generous: this loop
    # also validates every reply the slow client now reads, more over TLS).
    assert await poll_until(lambda: len(other.statuses) - before >= 2, timeout=5.0, interval=0.05)
