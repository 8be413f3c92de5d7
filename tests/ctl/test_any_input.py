"""Any JSON body on any route, any query string on any GET: 2xx or 4xx, never a 5xx (real HTTP on 127.0.0.1).

The routes are read from the running application, so a new route is covered
without a change here. Every request carries the ``sim`` token (every
role), so the requests reach the handlers and their checks rather than
stopping at authentication.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, quote_from_bytes, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pecc_core.testing import running, sim_overrides

from .conftest import FAST, SECRETS, TOKENS, ctl_of

#: Streams that never end: read by the dashboard tests instead.
STREAMS = {"/api/live"}
#: Keys the schemas know, so that a drawn body often gets past "unknown key" to the values.
KEYS = [
    "site_max_power_w", "guns", "policy", "max_current_a", "max_power_w", "priority", "1-1", "2-2", "derate_floor",
    "token", "ids", "values", "result", "ohm", "fails", "allowed", "silent", "fault", "bit", "active",
]

#: Numbers at and beyond every bound: 400-digit integers, beyond SQLite's and float's ranges, NaN.
extremes = st.sampled_from([
    10**400, -(10**400), 2**63, 2**64, -(2**63) - 1, 10**16, 1e308, -1e308, 1e16, 10_000_001, float("nan"),
    float("inf"), float("-inf"), 5e-324, -0.0,
])
scalars = (
    st.none() | st.booleans() | st.integers() | extremes | st.floats() | st.text(max_size=12)
    | st.sampled_from(["warning", "fault", "hardware", "1e3", "NaN"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=10,
)
gun_caps = st.fixed_dictionaries({}, optional={"max_current_a": scalars, "max_power_w": scalars, "priority": scalars})
#: Shaped like a limits update, so the values themselves get checked.
limit_updates = st.fixed_dictionaries({}, optional={
    "site_max_power_w": scalars,
    "guns": st.dictionaries(st.sampled_from(["1-1", "2-2", "9-9"]), gun_caps | json_values, max_size=2),
    "policy": st.dictionaries(st.sampled_from(["derate_floor", "min_power_w", "x"]), json_values, max_size=2),
})
bodies = (
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4).map(lambda b: json.dumps(b).encode())
    | limit_updates.map(lambda b: json.dumps(b).encode())
    | json_values.map(lambda b: json.dumps(b).encode())
    | st.binary(max_size=40)
)
segments = st.sampled_from(["1-1", "2-2", "1", "255"]) | st.text(min_size=1, max_size=12).map(lambda t: quote(t, safe=""))
query_values = (
    st.text(max_size=16) | st.integers().map(str) | extremes.map(str) | st.floats().map(str)
    | st.sampled_from(["9" * 400, "1e999", "nan", "-1", "2026-01-31T12:00:00+00:00", "0001-01-01T00:00:00+01:00"])
)
queries = (
    st.dictionaries(st.sampled_from(["gun", "kind", "since", "after", "limit"]) | st.text(max_size=5), query_values,
                    max_size=4).map(urlencode)
    | st.binary(max_size=30).map(lambda b: quote_from_bytes(b, safe="=&"))
)


class Client:
    """Blocking HTTP with the ``sim`` token (run it in a thread); returns the status."""

    def __init__(self, port: int) -> None:
        self.port = port

    def status(self, method: str, path: str, body: bytes | None) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Authorization": f"Bearer {SECRETS['lab'][1]}", "Content-Type": "application/json"}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


@pytest.fixture
async def routes(make_profile: Any, can_channel: str) -> AsyncIterator[tuple[Client, list[tuple[str, str]]]]:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST, "services.1.params.tokens": TOKENS})
    async with running(profile) as runtime:
        service = ctl_of(runtime)
        found = set()
        for route in service.app.router.routes():
            info = route.resource.get_info() if route.resource is not None else {"prefix": None}
            if route.method != "HEAD" and "prefix" not in info:  # static files are not an API
                found.add((route.method, info.get("formatter") or info["path"]))
        yield Client(service.port), sorted((m, p) for m, p in found if p not in STREAMS)


def fill(template: str, draw: Any) -> str:
    """The route's path with each ``{param}`` drawn."""
    parts = template.split("/")
    return "/".join(draw(segments) if p.startswith("{") else p for p in parts)


async def test_any_body_or_query_is_answered_2xx_or_4xx(
    routes: tuple[Client, list[tuple[str, str]]], caplog: pytest.LogCaptureFixture
) -> None:
    client, table = routes
    writes = [(m, p) for m, p in table if m in ("POST", "PUT")]
    reads = [(m, p) for m, p in table if m == "GET"]
    assert ("PUT", "/api/limits") in writes and ("GET", "/api/events") in reads  # the table was read
    seen: list[tuple[str, str, int]] = []

    def check(method: str, template: str, path: str, body: bytes | None) -> None:
        status = client.status(method, path, body)
        seen.append((method, template, status))
        assert 200 <= status < 500, (method, path, None if body is None else body[:200], status)

    @settings(max_examples=500)
    @given(st.sampled_from(writes), st.data(), bodies)
    def any_body(route: tuple[str, str], data: st.DataObject, body: bytes) -> None:
        check(*route, fill(route[1], data.draw), body)

    @settings(max_examples=300)
    @given(limit_updates.map(json.dumps))
    def any_limits(body: str) -> None:
        check("PUT", "/api/limits", "/api/limits", body.encode())

    @settings(max_examples=500)
    @given(st.sampled_from(reads), st.data(), queries)
    def any_query(route: tuple[str, str], data: st.DataObject, query: str) -> None:
        check("GET", route[1], f"{fill(route[1], data.draw)}?{query}", None)

    @settings(max_examples=300)
    @given(st.sampled_from(["/api/events", "/api/sessions"]), queries)
    def any_history_query(path: str, query: str) -> None:
        check("GET", path, f"{path}?{query}", None)

    caplog.set_level(logging.ERROR)
    for prop in (any_body, any_limits, any_query, any_history_query):
        await asyncio.to_thread(prop)
    assert not [r for r in caplog.records if r.name.startswith(("aiohttp", "pecc"))]
    statuses = {status for _, _, status in seen}
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)  # both kinds were reached
