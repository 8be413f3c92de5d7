"""A minimal scripted SECC on a real WebSocket, for the end-to-end gun tests.

It speaks just enough PEP-WS to run a charging session: numbered requests
with their replies, info messages, and the latest status kept as it
arrives every 200 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class Secc:
    """One SECC connection to one gun URL."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.status: dict[str, Any] = {}
        self.events: list[str] = []
        #: requests from the PECC (loop time received, kind), each answered with an empty response
        self.requests: list[tuple[float, str]] = []
        self._seq = 0
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame)
            if message["type"] in ("response", "error"):
                self._replies.put_nowait(message)
            elif message["type"] == "request":
                self.requests.append((asyncio.get_running_loop().time(), message["kind"]))
                await self.ws.send(json.dumps({"type": "response", "kind": message["kind"],
                                               "sequenceNumber": message["sequenceNumber"], "payload": {}}))
            elif message["kind"] == "status":
                self.status = message["payload"]
            elif message["kind"] == "event":
                self.events.append(message["payload"]["eventDetails"])

    async def call(self, kind: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its reply (a response or an error)."""
        self._seq += 1
        await self.ws.send(json.dumps(
            {"type": "request", "kind": kind, "sequenceNumber": self._seq, "payload": payload or {}}
        ))
        reply = await asyncio.wait_for(self._replies.get(), 1.0)
        assert reply["sequenceNumber"] == self._seq, reply
        return reply

    async def ok(self, kind: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """A request that must get a response; returns its payload."""
        reply = await self.call(kind, payload)
        assert reply["type"] == "response", reply
        return reply["payload"]

    async def info(self, kind: str, payload: dict[str, Any]) -> None:
        await self.ws.send(json.dumps({"type": "info", "kind": kind, "payload": payload}))

    async def target(self, voltage: float, current: float, soc: float, phase: str) -> None:
        await self.ok("targetValues", {
            "targetVoltage": voltage, "targetCurrent": current,
            "batteryStateOfCharge": soc, "chargingState": phase,
        })

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> float:
        """Wait for a status that satisfies ``predicate``; returns the time it took (s)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not (self.status and predicate(self.status)):
            if loop.time() - start > timeout:
                raise AssertionError(f"timed out waiting for {what}; last status {self.status}")
            await asyncio.sleep(0.01)
        return loop.time() - start


@contextlib.asynccontextmanager
async def secc(url: str) -> AsyncIterator[Secc]:
    async with connect(url, subprotocols=["pep1.5"], compression=None) as ws:  # type: ignore[list-item]
        client = Secc(ws)
        try:
            yield client
        finally:
            client._reader.cancel()
