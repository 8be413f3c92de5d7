"""A standard-library client of the control API (what ``pecc ctl`` uses)."""

from __future__ import annotations

import http.client
import json
import ssl
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


def call(
    url: str, method: str, path: str, body: Any = None, token: str | None = None, ca: str | None = None
) -> Any:
    """``method path`` on the API at ``url``; the decoded JSON answer.

    ``token`` is sent as ``Authorization: Bearer``; an ``https`` URL's
    server certificate is checked against ``ca`` (a PEM file; default: the
    system's CAs).

    :raises Unreachable: connection refused, timeout, not an HTTP server, a bad certificate.
    :raises Refused: an answer other than 200.
    """
    status, reason, data = _exchange(url, method, path, body, token, ca)
    decoded = _json(url, status, data)
    if status != 200:
        raise _refused(status, reason, decoded)
    return decoded


def download(url: str, path: str, token: str | None = None, ca: str | None = None) -> bytes:
    """``GET path`` on the API at ``url``; the answer's bytes as they are (a zip archive).

    :raises Unreachable: as :func:`call`.
    :raises Refused: an answer other than 200 (its JSON ``error`` as the message).
    """
    status, reason, data = _exchange(url, "GET", path, None, token, ca)
    if status != 200:
        raise _refused(status, reason, _json(url, status, data))
    return data


def _json(url: str, status: int, data: bytes) -> Any:
    try:
        return json.loads(data) if data else {}
    except ValueError:
        raise Unreachable(f"{url} did not answer JSON (HTTP {status})") from None


def _refused(status: int, reason: str, decoded: Any) -> Refused:
    message = decoded.get("error") if isinstance(decoded, dict) else None
    return Refused(status, message or reason)


def _exchange(
    url: str, method: str, path: str, body: Any, token: str | None, ca: str | None
) -> tuple[int, str, bytes]:
    """One request; the answer's status, reason and body."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unreachable(f"expected a URL like http://127.0.0.1:8766, got {url!r}")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        try:
            context = ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise Unreachable(f"cannot use the CA file {ca}: {exc}") from None
        connection = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=TIMEOUT, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT)
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if method in ("POST", "PUT") else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"no control API at {url}: {exc}") from None
    finally:
        connection.close()
    return response.status, response.reason, data
