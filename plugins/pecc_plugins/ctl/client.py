"""A standard-library client of the control API (what ``pecc ctl`` uses)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

TIMEOUT = 10.0


class Unreachable(Exception):
    """No control API answered at the URL."""


class Refused(Exception):
    """The API answered with an error status; the message is its ``error``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def call(url: str, method: str, path: str, body: Any = None) -> Any:
    """``method path`` on the API at ``url``; the decoded JSON answer.

    :raises Unreachable: connection refused, timeout, not an HTTP server.
    :raises Refused: an answer other than 200.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise Unreachable(f"expected a URL like http://127.0.0.1:8766, got {url!r}")
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT)
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if method in ("POST", "PUT") else {}
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"no control API at {url}: {exc}") from None
    finally:
        connection.close()
    try:
        decoded = json.loads(data) if data else {}
    except ValueError:
        raise Unreachable(f"{url} did not answer JSON (HTTP {response.status})") from None
    if response.status != 200:
        message = decoded.get("error") if isinstance(decoded, dict) else None
        raise Refused(response.status, message or response.reason)
    return decoded
