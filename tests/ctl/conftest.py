"""A whole sim station with its control API, real HTTP and a real WebSocket SECC."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.asyncio.client import ClientConnection, connect

from pecc_core.runtime import Runtime
from pecc_core.testing import FAST_BUS, running, sim_overrides

FAST = {
    **FAST_BUS,
    "timings.cable_check_ms": 200,
    "timings.control_cycle_ms": 50,
    "timings.request_timeout_ms": 300,
    "power.driver.params.poll_ms": 50,
    "power.driver.params.idle_poll_ms": 100,
    "power.driver.params.status_ms": 100,
    "power.driver.params.offline_ms": 300,
    "services.0.params.tick_ms": 10,
    "services.0.params.slew_v_per_s": 2000.0,
    "services.0.params.node_capacitance_f": 0.0005,
}
#: A station of FAST on real time (a system test: a browser, another process), where a
#: loaded machine can hold the loop up: the ops server on its own thread, as ``pecc
#: run`` serves it, and the profile's 6 s module silence bound instead of 300 ms.
REAL_TIME = {**FAST, "services.1.params.thread": True, "power.driver.params.offline_ms": 6000}


def http_request(port: int, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    """One blocking HTTP request to the API (run it in a thread): status and decoded JSON."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if method in ("POST", "PUT") else {}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


class Secc:
    """An SECC on a real WebSocket: sends requests, collects the PECC's requests and statuses."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.status: dict[str, Any] = {}
        self._seq = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                message = json.loads(frame)
                if message["type"] == "request":
                    self.requests.put_nowait(message)
                elif message["type"] == "info" and message["kind"] == "status":
                    self.status = message["payload"]
                elif message["type"] in ("response", "error"):
                    self.replies.put_nowait(message)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def ok(self, kind: str, payload: Any = None) -> dict[str, Any]:
        self._seq += 1
        await self.send({"type": "request", "kind": kind, "sequenceNumber": self._seq, "payload": payload or {}})
        reply = await asyncio.wait_for(self.replies.get(), 5)
        assert reply["type"] == "response", reply
        return reply["payload"]

    async def pecc_request(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.requests.get(), 5)

    async def answer(self, request: dict[str, Any], payload: Any = None, error: str | None = None) -> None:
        if error is None:
            reply = {"type": "response", "kind": request["kind"], "payload": payload or {}}
        else:
            reply = {"type": "error", "kind": request["kind"],
                     "payload": {"errorCategory": "internal", "errorDetails": error}}
        await self.send({**reply, "sequenceNumber": request["sequenceNumber"]})

    async def until(self, condition: Any, timeout: float, what: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout):
                while not (self.status and condition(self.status)):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"{what}: not within {timeout} s; last status {self.status}") from None
        return self.status

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


@dataclass
class Ctl:
    runtime: Runtime
    api_port: int

    async def http(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        return await asyncio.to_thread(http_request, self.api_port, method, path, body, raw)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    async def secc(self, gun_id: str = "1-1") -> Secc:
        path = self.runtime.station.guns[gun_id].path
        ws = await connect(f"ws://127.0.0.1:{self.runtime.transport.port}{path}", subprotocols=["pep1.5"])
        return Secc(ws)

    async def settled(self, gun_id: str = "1-1") -> None:
        """The gun in standby with its modules, and a snapshot published since (what the API answers from)."""
        gun, pool = self.runtime.station.guns[gun_id], self.runtime.station.pool
        async with asyncio.timeout(5):
            while not (pool.modules_of(gun_id) and gun.in_standby()):
                await asyncio.sleep(0.02)
        await asyncio.sleep(self.runtime.profile.timings.status_interval_ms / 1000)


@pytest.fixture
async def ctl(request: pytest.FixtureRequest, make_profile: Any, can_channel: str) -> AsyncIterator[Ctl]:
    real_time = request.node.get_closest_marker("system") is not None
    profile = make_profile("sim", {**sim_overrides(can_channel), **(REAL_TIME if real_time else FAST)})
    async with running(profile) as runtime:
        service = next(s for s in runtime.services if type(s).__name__ == "ControlService")
        yield Ctl(runtime, service.port)


async def charging(secc: Secc, current: float) -> None:
    """Cable check, contactors, precharge, then charge at 400 V / ``current`` A."""
    def target(voltage: float, amps: float, phase: str) -> dict[str, Any]:
        return {"targetVoltage": voltage, "targetCurrent": amps, "batteryStateOfCharge": 40, "chargingState": phase}

    await secc.ok("cableCheck", {"voltage": 500})
    await secc.until(lambda s: s["isolationStatus"] == "valid", 15, "isolation valid")
    await secc.ok("contactorsStatus", {"contactorsStatus": "closed"})
    await secc.ok("targetValues", target(380, 2, "preCharge"))
    await secc.until(lambda s: abs(s["measuredVoltage"] - 380) <= 8, 4, "precharged")
    await secc.ok("targetValues", target(400, current, "charge"))
    await secc.until(lambda s: s["measuredCurrent"] > current * 0.9, 5, "charging")


# -- tokens, and HTTP with any headers (the tests of sign-in and tokens) ----------------------

SECRETS = {"viewer": ("read", "r3ad-token"), "alice": ("operate", "0perate-token"), "lab": ("sim", "s1m-token")}
TOKENS = [
    {"name": n, "role": role, "hash": "sha256:" + hashlib.sha256(secret.encode()).hexdigest()}
    for n, (role, secret) in SECRETS.items()
]


class Api:
    """HTTP(S) requests with any headers; blocking, run in a thread."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.context = context

    def _request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if self.context is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        else:
            connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=self.context)
        try:
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            if data is not None and "Content-Type" not in headers:
                headers = {**headers, "Content-Type": "application/json"}
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            headers = dict(response.getheaders())
            decoded = json.loads(raw) if headers.get("Content-Type", "").startswith("application/json") else raw
            return response.status, headers, decoded
        finally:
            connection.close()

    async def __call__(
        self, method: str, path: str, body: Any = None, token: str | None = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        if token is not None:
            headers["Authorization"] = f"Bearer {SECRETS[token][1] if token in SECRETS else token}"
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        return await asyncio.to_thread(self._request, method, path, body, headers)


def ctl_of(runtime: Any) -> Any:
    return next(s for s in runtime.services if type(s).__name__ == "ControlService")


def write_tls(directory: Path) -> trustme.CA:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.cert_chain_pems[0].write_to_path(str(directory / "api.pem"))
    (directory / "api.key").touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(directory / "api.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    return ca


async def read_sse(response: Any) -> AsyncIterator[tuple[str, Any]]:
    """``(event, data)`` of each Server-Sent Event of a streaming response."""
    event, data = "message", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: "):
            data += line[len("data: "):]
        elif not line:
            yield event, json.loads(data)
            event, data = "message", ""


async def first_snapshot(response: Any, timeout: float) -> dict[str, Any]:
    """The first ``snapshot`` event of a live feed (its ``event`` events before it are skipped)."""
    async with asyncio.timeout(timeout):
        async for kind, data in read_sse(response):
            if kind == "snapshot":
                return data
    raise AssertionError("the feed ended before a snapshot")



# -- a real headless browser for the dashboard tests -----------------------------------
# Debian's chromium driven by Selenium; only the system's chromium and chromedriver
# are used (the driver's path is given, so Selenium never downloads one).

#: Headless, no network of its own, a fresh profile: nothing but the page under test.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _which(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """A Selenium Chrome driver on the system's chromium (skips, saying why, if absent)."""
    chromium = _which("chromium", "chromium-browser")
    chromedriver = _which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip("no chromium/chromedriver on PATH (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1600,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()
