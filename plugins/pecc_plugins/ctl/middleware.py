"""The control API's middleware chain, JSON errors and JSON bodies.

The middleware chain, outermost first:

1. :func:`json_errors`: every refusal is ``{"error": "..."}`` with its
   status; an unexpected exception is logged and answered 500 without a
   traceback to the client; a client that closes the connection
   mid-request (a body cut short) is one INFO line.
2. :func:`loopback_only`: clients outside 127.0.0.0/8 and ::1 get 403
   unless the service allows remote clients.
3. :func:`~pecc_plugins.ctl.auth.same_site`: the Host and Origin headers
   name this API; state-changing requests are JSON (cross-site pages).
4. :func:`~pecc_plugins.ctl.auth.authenticate`: bearer token (or the
   dashboard's session cookie) and role, when the service has tokens.
5. :func:`audit`: a state-changing request that succeeded is an
   ``operator`` event in the history, with the name of its token (limit
   changes are also recorded by the limits keeper as ``limits`` events);
   sign-in and sign-out are logged instead, never with their body.

Request bodies are limited by ``client_max_size``; state-changing routes
need ``Content-Type: application/json`` (a browser cannot send that
cross-site without a CORS preflight, which this API never answers).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # bytes: the largest request body (client_max_size)
#: The request key under which the audit finds the name of the request's token.
TOKEN_NAME = web.RequestKey("token_name", str)
#: Set by a handler whose body must not reach the history (a sign-in carries a token).
NOT_AUDITED = web.RequestKey("not_audited", bool)


def error(status: type[web.HTTPError], message: str) -> web.HTTPError:
    """An HTTP error whose body is ``{"error": message}``."""
    return status(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.empty_body:
            raise
        raise _as_json(exc, request) from None
    except ConnectionResetError:  # the client closed the connection mid-request (its body cut short)
        log.info("control API: %s %s: the client closed the connection mid-request", request.method, request.path)
        raise error(web.HTTPBadRequest, "the connection closed mid-request") from None
    except Exception:
        log.exception("control API: %s %s failed", request.method, request.path)
        raise error(web.HTTPInternalServerError, "internal error (see the PECC log)") from None


def _as_json(exc: web.HTTPException, request: web.Request) -> web.HTTPException:
    """aiohttp's own refusals (no route, wrong method, body too large) as JSON."""
    if isinstance(exc, web.HTTPNotFound):
        message = f"no API route {request.path}"
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        message = f"{request.method} not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}"
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        message = f"body larger than {MAX_BODY} bytes"
    else:
        message = exc.text or exc.reason
    exc.text = json.dumps({"error": message})
    exc.content_type = "application/json"
    return exc


def is_loopback(peer: Any) -> bool:
    """Whether ``peer`` (a socket address, or None) is 127.0.0.0/8 or ::1 (also IPv4-mapped)."""
    host = peer[0] if isinstance(peer, tuple | list) and peer else peer
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def loopback_only(allow_remote: bool) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not allow_remote:
            transport = request.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            if not is_loopback(peer):
                raise error(web.HTTPForbidden, "the control API answers loopback clients only")
        return await handler(request)

    return middleware


def audit(record: Callable[[str, str | None, dict[str, Any]], None]) -> Middleware:
    """Record every successful POST/PUT with ``record(action, gun, details)``.

    ``details`` has the body and, when the API has tokens, ``token``: the
    name of the token the request was made with.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method in ("POST", "PUT") and response.status == 200 and not request.get(NOT_AUDITED):
            details = {"body": await read_json(request)}
            if (token := request.get(TOKEN_NAME)) is not None:
                details["token"] = token
            record(f"{request.method} {request.path}", request.match_info.get("gun"), details)
        return response

    return middleware


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (``{}`` when empty); 415 without the JSON content type, 400 if invalid."""
    if request.content_type != "application/json":
        raise error(
            web.HTTPUnsupportedMediaType,
            f"Content-Type: got {request.content_type!r}; expected 'application/json'",
        )
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise error(web.HTTPBadRequest, "body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise error(web.HTTPBadRequest, f"body is not valid JSON: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
