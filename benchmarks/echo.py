"""The floor: a bare websockets server that only answers, as fast as Python can.

Per connection it answers every request at once (``configuration`` with
fixed limits, every other kind with an empty payload) and sends a fixed
status every 200 ms from a plain sleep loop. No validation, no state, no
CAN: what is left of a PEP-WS round trip is websockets, JSON and asyncio,
the cost any Python PECC pays. Run: ``python -m benchmarks.echo PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import orjson
from websockets.asyncio.server import ServerConnection, serve

from pecc_core.asyncutil import run
from pecc_core.model import Status
from pecc_plugins.pepws.codec import Encoder

LIMITS = (("Voltage", 150, 1000), ("Current", 0, 200), ("Power", 0, 120000))
CONFIGURATION = {"firmwareVersion": "echo", "manufacturer": "echo", "floatValues": True} | {
    f"limit{name}{end}": value for name, lo, hi in LIMITS for end, value in (("Min", lo), ("Max", hi))
}
STATUS = Encoder(float_values=True).status(Status())


async def _status(ws: ServerConnection) -> None:
    while True:
        await ws.send(STATUS, text=True)
        await asyncio.sleep(0.2)


async def _handler(ws: ServerConnection) -> None:
    status = asyncio.create_task(_status(ws))
    try:
        async for raw in ws:
            msg = orjson.loads(raw)
            if msg.get("type") == "request":
                payload = CONFIGURATION if msg["kind"] == "configuration" else {}
                reply = {"type": "response", "kind": msg["kind"], "sequenceNumber": msg["sequenceNumber"]}
                await ws.send(orjson.dumps({**reply, "payload": payload}), text=True)
    finally:
        status.cancel()


async def main(port: int) -> None:
    async with serve(
        _handler, "127.0.0.1", port, subprotocols=["pep1.5"], compression=None, ping_interval=None
    ):
        await asyncio.Future()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        run(main(int(sys.argv[1])))
