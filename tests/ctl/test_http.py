"""The control API's HTTP layer: loopback rule, request parsing, limits on what it reads."""

from __future__ import annotations

import asyncio
import ipaddress
from http import HTTPStatus
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.testing import write_profile
from pecc_plugins.ctl.command import profile_url
from pecc_plugins.ctl.http import MAX_BODY, HttpError, is_loopback, read_request


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


async def parse(raw: bytes) -> object:
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    return await read_request(reader)


async def test_a_request_with_a_body_and_a_query_is_parsed() -> None:
    request = await parse(b'PUT /api/limits?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}')
    assert (request.method, request.path, request.body, request.json()) == ("PUT", "/api/limits", b"{}", {})


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"garbage\r\n\r\n", HTTPStatus.BAD_REQUEST),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", HTTPStatus.BAD_REQUEST),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPStatus.LENGTH_REQUIRED),
        (f"PUT / HTTP/1.1\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(), HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    ],
)
async def test_bad_requests_are_refused_with_a_status(raw: bytes, status: HTTPStatus) -> None:
    with pytest.raises(HttpError) as refused:
        await parse(raw)
    assert refused.value.status is status


def test_a_profile_without_the_ctl_service_is_a_clear_refusal(tmp_path: Path) -> None:
    path = write_profile("sim", tmp_path, {"services": [{"name": "modsim", "params": {"protocol": "uugreen"}}]})
    with pytest.raises(typer.Exit) as exited:
        profile_url(str(path))
    assert exited.value.exit_code == 2
    assert profile_url("sim") == "http://127.0.0.1:8766"
