"""A minimal HTTP/1.1 JSON server for the control API (one request per connection).

Why not the WebSocket port: websockets' handshake parser refuses any
request with a body (``PUT /api/limits`` needs one), so the API listens on
its own port. It is small on purpose: a request line, headers, a
``Content-Length`` body of at most :data:`MAX_BODY` bytes, one JSON
answer, close. Only loopback clients are answered unless the profile
allows others (``allow_remote``): the API can stop charging sessions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
READ_TIMEOUT = 5.0


class HttpError(Exception):
    """An answer other than 200: status and the message of its ``{"error": ...}`` body."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON (an empty body is ``{}``); 400 when it is not JSON."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {exc}") from None


Handler = Callable[[Request], Awaitable[tuple[HTTPStatus, Any]]]


def is_loopback(peer: Any) -> bool:
    """True for a client address in 127.0.0.0/8 or ::1 (IPv4-mapped too)."""
    try:
        address = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else peer)
    except (ValueError, TypeError, IndexError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class JsonHttpServer:
    """Serves ``handler`` on ``host:port``; see the module doc."""

    def __init__(self, handler: Handler, host: str, port: int, allow_remote: bool) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._allow_remote = allow_remote
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the control API is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._answer(reader, writer.get_extra_info("peername"))
            payload = json.dumps(body).encode() + b"\n"
            writer.write(
                f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, peer: Any) -> tuple[HTTPStatus, Any]:
        try:
            if not self._allow_remote and not is_loopback(peer):
                log.warning("control API: refused %s (not loopback)", peer)
                raise HttpError(HTTPStatus.FORBIDDEN, "the control API only answers loopback clients")
            request = await asyncio.wait_for(read_request(reader), READ_TIMEOUT)
            return await self._handler(request)
        except HttpError as exc:
            return exc.status, {"error": exc.message}
        except TimeoutError:
            return HTTPStatus.REQUEST_TIMEOUT, {"error": "request not received in time"}
        except Exception as exc:  # the API must answer, whatever went wrong
            log.exception("control API request failed")
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc}"}


async def read_request(reader: asyncio.StreamReader) -> Request:
    """Parse one request: line, headers, ``Content-Length`` body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large") from None
    if len(head) > MAX_HEAD:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"not an HTTP/1.x request line: {lines[0][:80]!r}")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise HttpError(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
        elif name.strip().lower() == "transfer-encoding":
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
    if not 0 <= length <= MAX_BODY:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    return Request(parts[0].upper(), parts[1].partition("?")[0], body)
