"""A scripted SECC for the tests, and the official schemas it checks everything against.

Every message a :class:`PepClient` receives is validated with ``jsonschema``
against the official PEP-WS 1.8 schema of its type and kind, found in
``shared/pep-ws/schemas`` beside the repository (or beside one of its
parents). The only exception is the documented quirk of the error schema:
its ``kind`` enum lacks some request kinds, and an error answering such a
request carries the request's kind (PROTOCOL.md, "Errors").
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed


def find_official_schemas() -> Path | None:
    """``shared/pep-ws/schemas`` beside the repository root or one of its parents."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "pep-ws" / "schemas"
        if candidate.is_dir():
            return candidate
    return None


class OfficialSchemas:
    """The official JSON schemas by ``(type, kind)``, with draft-06 validators."""

    def __init__(self, directory: Path) -> None:
        self.validators: dict[tuple[str, str], jsonschema.Draft6Validator] = {}
        for path in sorted(directory.glob("*.json")):
            msg_type, _, kind = path.stem.partition("-")
            self.validators[(msg_type, kind)] = jsonschema.Draft6Validator(json.loads(path.read_text()))
        error_kinds = self.validators[("error", "error")].schema["definitions"]["kindType"]["enum"]
        #: Request kinds an error may carry although the error schema's enum omits them.
        self.quirk_kinds = {k for (t, k) in self.validators if t == "request"} - set(error_kinds)

    def problems(self, message: Any) -> list[str]:
        """Why ``message`` is not valid under its official schema (empty: valid)."""
        if not isinstance(message, dict):
            return [f"not an object: {message!r}"]
        msg_type, kind = message.get("type"), message.get("kind")
        if msg_type == "error":
            validator = self.validators[("error", "error")]
            if kind in self.quirk_kinds:
                message = {**message, "kind": "error"}
        else:
            validator = self.validators.get((msg_type, kind))
            if validator is None:
                return [f"no official schema for type {msg_type!r} kind {kind!r}"]
        return [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in validator.iter_errors(message)]


def floats_in(value: Any) -> list[float]:
    """Every float anywhere in a decoded JSON value (integer mode must have none)."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats_in(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats_in(v)]
    return []


class PepClient:
    """An SECC on a real websockets connection, as a test scripts it.

    Received messages are sorted: status infos (with their arrival time) in
    :attr:`statuses`, responses and errors in :attr:`replies`, the PECC's
    requests in :attr:`requests`, other infos in :attr:`infos`. Anything
    that breaks the official schemas (or integer mode) lands in :attr:`problems`.
    """

    def __init__(self, ws: ClientConnection, schemas: OfficialSchemas | None, integers: bool = False) -> None:
        self.ws = ws
        self.statuses: list[tuple[float, dict[str, Any]]] = []
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.infos: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.problems: list[str] = []
        self.received = 0
        self._schemas = schemas
        self._integers = integers
        self._seq = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for frame in self.ws:
                self._take(frame, loop.time())
        except ConnectionClosed:
            pass

    def _take(self, frame: str | bytes, at: float) -> None:
        self.received += 1
        if isinstance(frame, bytes):
            self.problems.append(f"binary frame from the PECC: {frame[:40]!r}")
            return
        message = json.loads(frame)
        if self._schemas is not None:
            self.problems.extend(f"{p} in {frame}" for p in self._schemas.problems(message))
        if self._integers and floats_in(message):
            self.problems.append(f"float in integer mode: {frame}")
        msg_type, kind = message.get("type"), message.get("kind")
        if msg_type == "info" and kind == "status":
            self.statuses.append((at, message))
        elif msg_type in ("response", "error"):
            self.replies.put_nowait(message)
        elif msg_type == "request":
            self.requests.put_nowait(message)
        else:
            self.infos.put_nowait(message)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def call(self, kind: str, payload: Any = None, seq: int | None = None, timeout: float = 2.0) -> dict[str, Any]:
        """Send a request and return its reply (which must carry the same number)."""
        seq = self.next_seq() if seq is None else seq
        await self.send({"type": "request", "kind": kind, "sequenceNumber": seq, "payload": {} if payload is None else payload})
        return await self.reply(timeout)

    async def reply(self, timeout: float = 2.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def pecc_request(self, timeout: float = 2.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.requests.get(), timeout)

    async def answer(self, request: dict[str, Any], payload: Any = None) -> None:
        await self.send(
            {"type": "response", "kind": request["kind"], "sequenceNumber": request["sequenceNumber"],
             "payload": {} if payload is None else payload}
        )

    async def until(self, condition: Any, timeout: float, what: str) -> dict[str, Any]:
        """The first status payload (the latest, then new ones) for which ``condition`` holds."""
        seen = max(len(self.statuses) - 1, 0)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for _, status in self.statuses[seen:]:
                        if condition(status["payload"]):
                            return status["payload"]
                    seen = len(self.statuses)
                    await asyncio.sleep(0.02)
        except TimeoutError:
            last = self.statuses[-1][1]["payload"] if self.statuses else None
            raise AssertionError(f"{what}: not within {timeout} s; last status {last}") from None

    def status_periods(self, since: float = 0.0) -> list[float]:
        """Gaps between consecutive status messages received after ``since`` (s)."""
        times = [t for t, _ in self.statuses if t >= since]
        return [b - a for a, b in itertools.pairwise(times)]

    def stall(self) -> None:
        """Stop reading altogether, like a hung SECC (no pongs, a full TCP window).

        The reader must stop too: websockets resumes a paused transport as soon
        as its own queue is consumed.
        """
        self._reader.cancel()
        self.ws.transport.pause_reading()

    def unstall(self) -> None:
        self.ws.transport.resume_reading()
        if self._reader.done():
            self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self.unstall()
        await self.ws.close()
        await self._reader
