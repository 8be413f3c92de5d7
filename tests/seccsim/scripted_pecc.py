"""A scripted PEP-WS server for testing the simulator's client on its own.

It is a small, well-behaved PECC by default (replies at once, status every
50 ms to keep the tests fast, output follows the targets) with knobs to
misbehave: delay a reply, stop the status flow, send arbitrary frames,
send requests to the SECC.
The real PECC is exercised in test_seccsim_against_pecc.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


class ScriptedPecc:
    """One gun's PECC; serve it with :meth:`running`, then connect to ``url``."""

    def __init__(self, status_period: float = 0.05) -> None:
        self.status_period = status_period
        self.status: dict[str, Any] = {
            "measuredVoltage": 0.0,
            "measuredCurrent": 0.0,
            "drivenVoltage": 0.0,
            "drivenCurrent": 0.0,
            "temperature": 25.0,
            "contactorsStatus": "open",
            "isolationStatus": "invalid",
            "operationalStatus": "operative",
        }
        #: the configuration response payload (tests may change it)
        self.configuration: dict[str, Any] = {
            "firmwareVersion": "test",
            "manufacturer": "test",
            "limitVoltageMin": 150,
            "limitVoltageMax": 1000,
            "limitCurrentMin": 0,
            "limitCurrentMax": 200,
            "limitPowerMax": 120000,
            "floatValues": True,
        }
        self.received: list[dict[str, Any]] = []
        self.reply_delay: dict[str, float] = {}
        self.send_status = True
        #: False: targetValues are answered but the output does not follow
        self.follow_targets = True
        self.ws: ServerConnection | None = None
        self.connected = asyncio.Event()
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._seq = 0
        self._replying: set[asyncio.Task[None]] = set()
        self.url = ""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ScriptedPecc]:
        async with serve(self._handler, "127.0.0.1", 0, subprotocols=["pep1.5"], compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/gun1"
            yield self

    def kinds(self, msg_type: str | None = None) -> list[str]:
        return [m["kind"] for m in self.received if msg_type is None or m["type"] == msg_type]

    async def send(self, msg: dict[str, Any] | str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))

    async def request(self, kind: str, payload: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
        """Send a PECC->SECC request and return the SECC's reply."""
        self._seq += 1
        await self.send(
            {"type": "request", "kind": kind, "sequenceNumber": seq or self._seq, "payload": payload}
        )
        return await asyncio.wait_for(self.replies.get(), 2)

    async def _handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connected.set()
        status = asyncio.create_task(self._status_loop(ws))
        try:
            async for raw in ws:
                msg = json.loads(raw)
                self.received.append(msg)
                if msg["type"] == "request":
                    reply = asyncio.create_task(self._reply(ws, msg))
                    self._replying.add(reply)  # a task only weakly referenced may vanish
                    reply.add_done_callback(self._replying.discard)
                elif msg["type"] in ("response", "error"):
                    self.replies.put_nowait(msg)
        finally:
            status.cancel()

    async def _status_loop(self, ws: ServerConnection) -> None:
        while True:
            if self.send_status:
                await ws.send(json.dumps({"type": "info", "kind": "status", "payload": self.status}))
            await asyncio.sleep(self.status_period)

    async def _reply(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        kind, payload = msg["kind"], msg["payload"]
        await asyncio.sleep(self.reply_delay.get(kind, 0))
        body: dict[str, Any] = {}
        s = self.status
        if kind == "configuration":
            body = self.configuration
        elif kind == "cableCheck":
            asyncio.get_running_loop().call_later(0.1, s.update, {"isolationStatus": "valid"})
        elif kind == "contactorsStatus":
            s["contactorsStatus"] = payload["contactorsStatus"]
        elif kind == "targetValues" and s["contactorsStatus"] == "closed" and self.follow_targets:
            s.update(measuredVoltage=payload["targetVoltage"], measuredCurrent=payload["targetCurrent"])
        elif kind == "reset":
            s.update(
                measuredVoltage=0.0, measuredCurrent=0.0, contactorsStatus="open", isolationStatus="invalid"
            )
        reply = {"type": "response", "kind": kind, "sequenceNumber": msg["sequenceNumber"], "payload": body}
        await ws.send(json.dumps(reply))
