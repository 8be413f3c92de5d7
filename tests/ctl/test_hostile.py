"""Hostile and malformed requests get 4xx answers, never a 500 or a traceback (raw sockets on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_plugins.ctl.middleware import is_loopback

from .conftest import Ctl

MAX_BODY = 64 * 1024  # docs/control-api.md: "bodies up to 64 KiB"


async def exchange(port: int, raw: bytes, half_close: bool = False) -> bytes:
    """Send ``raw``, optionally close our side, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        if half_close:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> dict:
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def put(body: bytes, *headers: str, path: str = "/api/limits") -> bytes:
    head = [f"PUT {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    yield
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("aiohttp", "pecc"))]


async def test_an_empty_connection_is_closed_quietly_and_the_api_still_answers(ctl: Ctl) -> None:
    assert await exchange(ctl.api_port, b"", half_close=True) == b""
    assert (await ctl.http("GET", "/healthz"))[0] == 200


@pytest.mark.parametrize("half_close", [True, False], ids=["half-closed", "closed"])
async def test_a_truncated_body_is_one_info_line_and_changes_nothing(
    ctl: Ctl, caplog: pytest.LogCaptureFixture, half_close: bool
) -> None:
    """The client ends the connection before its body is complete: nothing applied, no traceback."""
    caplog.set_level(logging.INFO, logger="pecc_plugins.ctl")
    before = (await ctl.http("GET", "/api/limits"))[1]
    head = put(b'{"site_max_power_w": 1', "Content-Type: application/json", "Content-Length: 100")
    if half_close:
        answer = await exchange(ctl.api_port, head, half_close=True)
        assert answer == b"" or status_of(answer) == 400, answer
    else:
        _, writer = await asyncio.open_connection("127.0.0.1", ctl.api_port)
        writer.write(head)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    async with asyncio.timeout(5):
        while not (lines := [r for r in caplog.records if "mid-request" in r.getMessage()]):
            await asyncio.sleep(0.01)
    assert [(r.levelname, r.exc_info) for r in lines] == [("INFO", None)]
    assert "PUT /api/limits" in lines[0].getMessage()
    assert (await ctl.http("GET", "/api/limits"))[1] == before


@pytest.mark.parametrize("lengths", [("2", "2"), ("2", "3")])
async def test_a_duplicate_content_length_is_400(ctl: Ctl, lengths: tuple[str, str]) -> None:
    answer = await exchange(ctl.api_port, put(b"{}", "Content-Type: application/json",
                                                 *(f"Content-Length: {n}" for n in lengths)))
    assert status_of(answer) == 400, answer


@pytest.mark.parametrize("raw", [b"garbage\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                                 b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"])
async def test_a_malformed_request_is_400(ctl: Ctl, raw: bytes) -> None:
    assert status_of(await exchange(ctl.api_port, raw)) == 400


async def test_a_deeply_nested_body_is_400(ctl: Ctl) -> None:
    depth = 30_000  # within the size limit, beyond the JSON decoder's recursion limit
    status, body = await ctl.http("PUT", "/api/limits", raw=b"[" * depth + b"]" * depth)
    assert status == 400 and "nested too deeply" in body["error"]


async def test_an_oversize_body_is_413(ctl: Ctl) -> None:
    status, body = await ctl.http("PUT", "/api/limits", raw=b" " * (MAX_BODY + 1))
    assert status == 413 and "larger than" in body["error"]


async def test_state_changes_need_the_json_content_type(ctl: Ctl) -> None:
    answer = await exchange(ctl.api_port, put(b"site_max_power_w=1", "Content-Type: application/x-www-form-urlencoded",
                                                 "Content-Length: 18"))
    assert status_of(answer) == 415 and "application/json" in body_of(answer)["error"]
    answer = await exchange(ctl.api_port, put(b"", "Content-Length: 0", path="/api/guns/1-1/stop-charging")
                            .replace(b"PUT", b"POST", 1))
    assert status_of(answer) == 415


@pytest.mark.parametrize(
    ("update", "words"),
    [
        ({"guns": {"1-1": {"max_current_a": "1e3"}}}, "guns.1-1.max_current_a: got '1e3'; expected a number"),
        ({"guns": {"1-1": {"priority": 1.5}}}, "guns.1-1.priority: got 1.5; expected an integer"),
        ({"guns": {"1-1": {"priority": True}}}, "guns.1-1.priority: got True; expected an integer"),
        ({"site_max_power_w": True}, "site_max_power_w: got True; expected a number"),
        ({"guns": {"1-1": "lots"}}, "guns.1-1"),
        ([1, 2], "expected a JSON object"),
        ("text", "expected a JSON object"),
    ],
)
async def test_limit_values_have_strict_json_types(ctl: Ctl, update: object, words: str) -> None:
    before = (await ctl.http("GET", "/api/limits"))[1]
    status, body = await ctl.http("PUT", "/api/limits", update)
    assert status == 400 and words in body["error"], body
    assert (await ctl.http("GET", "/api/limits"))[1] == before


#: docs/control-api.md: every number in a body at most 1e15 in magnitude; the site cap and a
#: gun's power cap at most 10 MW, a gun's current cap at most 10 kA.
HUGE = int("9" * 400)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"site_max_power_w": %d}' % HUGE, "site_max_power_w: got 99999"),
        (b'{"site_max_power_w": 1e308}', "site_max_power_w: got 1e+308; expected at most 10000000 W (10 MW)"),
        (b'{"site_max_power_w": 10000001}', "expected at most 10000000 W (10 MW)"),
        (b'{"site_max_power_w": -1e300}', "site_max_power_w: got -1e+300; expected a finite number"),
        (b'{"site_max_power_w": NaN}', "site_max_power_w: got nan; expected a finite number"),
        (b'{"site_max_power_w": Infinity}', "expected at most 10000000 W (10 MW)"),
        (b'{"site_max_power_w": 1e999}', "expected at most 10000000 W (10 MW)"),
        (b'{"guns": {"1-1": {"max_power_w": %d}}}' % HUGE, "guns.1-1.max_power_w: got 99999"),
        (b'{"guns": {"1-1": {"max_current_a": 10001}}}', "guns.1-1.max_current_a: got 10001; expected at most 10000 A"),
        (b'{"guns": {"1-1": {"priority": %d}}}' % HUGE, "guns.1-1.priority: got 99999"),
        (b'{"policy": {"derate_floor": %d}}' % HUGE, "policy.derate_floor: got 99999"),
        (b'{"policy": {"derate_floor": [1e16]}}', "policy.derate_floor[0]: got 1e+16; expected a finite number"),
    ],
)
async def test_numbers_beyond_their_bounds_are_400_and_change_nothing(ctl: Ctl, raw: bytes, words: str) -> None:
    before = (await ctl.http("GET", "/api/limits"))[1]
    status, body = await ctl.http("PUT", "/api/limits", raw=raw)
    assert status == 400 and words in body["error"], body
    assert (await ctl.http("GET", "/api/limits"))[1] == before


async def test_the_bounds_themselves_are_accepted(ctl: Ctl) -> None:
    update = {"site_max_power_w": 10_000_000, "guns": {"1-1": {"max_current_a": 10_000, "max_power_w": 10_000_000}}}
    status, body = await ctl.http("PUT", "/api/limits", update)
    assert status == 200, body
    assert body["site_max_power_w"] == 10_000_000 and body["guns"]["1-1"]["max_current_a"] == 10_000


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("after=99999999999999999999999", "after: got '99999999999999999999999'; expected an event id from 0 to"),
        ("after=9223372036854775808", "expected an event id from 0 to 9223372036854775807"),
        ("after=" + "9" * 5000, "after: got"),
        ("since=1e999", "since: got '1e999'"),
        ("since=nan", "since: got 'nan'"),
        ("since=-inf", "since: got '-inf'"),
        ("since=0001-01-01T00:00:00%2B01:00", "of the years 1 to 9999"),
        ("limit=10001", "limit: got '10001'"),
        ("limit=" + "9" * 400, "limit: got"),
    ],
)
async def test_query_values_beyond_their_bounds_are_400(ctl: Ctl, query: str, words: str) -> None:
    status, body = await ctl.http("GET", f"/api/events?{query}")
    assert status == 400 and words in body["error"], body


async def test_the_query_bounds_themselves_are_accepted(ctl: Ctl) -> None:
    for query in ("after=9223372036854775807", "after=0", "since=0", "since=9999-12-31T23:59:59Z", "limit=10000"):
        assert (await ctl.http("GET", f"/api/events?{query}"))[0] == 200, query


async def test_a_module_address_is_ascii_digits(ctl: Ctl) -> None:
    for address in ("%C2%B2", "%D9%A3", "9" * 5000, "-1", "1.0"):
        status, body = await ctl.http("POST", f"/api/sim/modules/{address}/silence", {"silent": True})
        assert status == 404 and "no module" in body["error"], (address, body)


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/sim/guns/1-1/supervision", {"allowed": 1}, "allowed: got 1; expected true or false"),
        ("/api/sim/guns/1-1/supervision", {"allowed": "false"}, "expected true or false"),
        ("/api/sim/guns/1-1/supervision", {}, "allowed: Missing data for required field."),
        ("/api/sim/guns/1-1/imd", {"result": "fault", "extra": 1}, "extra: got 1; unknown key"),
        ("/api/guns/1-1/inputs", {"ids": ["door", 3]}, "ids[1]: got 3; expected a string"),
        ("/api/guns/1-1/outputs", {"values": []}, "values"),
        ("/api/guns/1-1/stop-charging", {"now": True}, "now: got True; unknown key"),
        ("/api/sim/modules/1/fault", {"bit": True}, "bit: got True; expected an integer"),
        ("/api/sim/modules/1/fault", {"bit": 21.0}, "bit: got 21.0; expected an integer"),
        ("/api/sim/modules/1/fault", {"bit": 21, "fault": "hardware"}, 'expected either "fault"'),
        ("/api/sim/modules/1/fault", {"active": False}, 'expected either "fault"'),
    ],
)
async def test_route_bodies_have_strict_json_types(ctl: Ctl, path: str, body: object, words: str) -> None:
    status, answer = await ctl.http("POST", path, body)
    assert status == 400 and words in answer["error"], answer


@given(st.ip_addresses())
def test_only_loopback_addresses_count_as_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    expected = (address.ipv4_mapped if mapped else address).is_loopback  # type: ignore[union-attr]
    assert is_loopback((str(address), 1234)) is expected


@pytest.mark.parametrize("peer", [("127.0.0.1", 1), ("127.9.9.9", 1), ("::1", 1, 0, 0), ("::ffff:127.0.0.1", 1)])
def test_loopback_peers(peer: tuple) -> None:
    assert is_loopback(peer)


@pytest.mark.parametrize("peer", [("10.0.0.1", 1), ("::ffff:10.0.0.1", 1), None, ("nonsense", 1)])
def test_other_peers(peer: object) -> None:
    assert not is_loopback(peer)
