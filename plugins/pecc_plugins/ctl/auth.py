"""Who may use the control API, and from which page: bearer tokens, roles, Host and Origin.

**Tokens** are random strings an operator presents as ``Authorization:
Bearer <token>``. PECC stores only their SHA-256 (``sha256:<hex>``), each
with a name and a role, in the ``ctl`` service's ``tokens`` or in a
``tokens_file`` only its owner may read (``pecc ctl token`` makes one).
A presented token is hashed and compared with every stored hash by
``hmac.compare_digest``; it is never logged. Roles, each including the
ones before it:

- ``read``: every GET (guns, modules, limits, events, sessions, metrics,
  the dashboard);
- ``operate``: limits, stop charging, SECC inputs and outputs;
- ``sim``: fault injection (``/api/sim/...``, only on simulated hardware).

``/healthz`` and ``/readyz`` answer without a token (probes). A browser
cannot send the header, so the dashboard signs in with a token once
(:mod:`.signin`) and is then known by a session cookie
(:mod:`.sessions`), which stands for the token's name and role. Without any
token configured the API is open to loopback clients, as before; serving
beyond loopback needs TLS and tokens (checked when the service is built).

**Guessing**: only a presented, wrong credential counts as a failure (an
unknown bearer token, an unknown token at sign-in); a request without
any (a probe, a page's ``<img>`` pointing here, an ended session's
cookie) is 401 and counts nothing. After :data:`MAX_FAILURES` failures
from one address within :data:`FAILURE_WINDOW_S`, further unknown tokens
from it are 429 until the window ends; logged once per address and
window. A valid token or a live session is accepted all the same, even
from that address: every loopback client is one address, and someone
else's guesses must not lock the operator out. What makes a guess hopeless
is the token's 256 random bits (:func:`new_token`), not the count; the
count keeps a guessing client's noise down and makes it visible.

**Cross-site requests**: a page in a browser on the PECC host can send
requests to 127.0.0.1, and with DNS rebinding read the answers. So the
``Host`` header must name this API (a loopback name or address, the listen
address, or one of ``allowed_hosts``), an ``Origin`` (sent by browsers)
must be this API's own, and a state-changing request must be
``Content-Type: application/json``, which a cross-site page cannot send
without a CORS preflight this API never answers. The dashboard's own calls
are same-origin and pass. The sign-in form (``/login``, ``/logout``) may
post a form instead, but only with this API's own ``Origin``; a
state-changing request signed in by cookie needs that ``Origin`` too (a
cookie, unlike a bearer token, is sent by the browser on its own).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import tomllib
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from marshmallow import ValidationError, validate

from pecc_core.clock import wall
from pecc_core.errors import ConfigError
from pecc_core.problems import describe
from pecc_core.profile import files
from pecc_core.profile.schema import List, Nested, StrictSchema, String
from pecc_plugins.ctl.middleware import TOKEN_NAME, error
from pecc_plugins.ctl.sessions import COOKIE, SIGNED_IN, Session, Sessions
from pecc_plugins.ctl.tokens import Role, Token

log = logging.getLogger(__name__)

UNAUTHENTICATED = ("/healthz", "/readyz", "/login", "/logout")
#: The routes that take a browser's form (with this API's own Origin) besides JSON.
FORM_ROUTES = ("/login", "/logout")
FORM = "application/x-www-form-urlencoded"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Unknown tokens per address and window before its further ones get 429.
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
_TRACKED_ADDRESSES = 4096
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def required_role(request: web.Request) -> Role | None:
    """The role ``request`` needs (None: a probe, no token needed)."""
    if request.path in UNAUTHENTICATED:
        return None
    if request.method not in STATE_CHANGING:
        return Role.read
    return Role.sim if request.path.startswith("/api/sim/") else Role.operate


def token_hash(token: str) -> str:
    """How a token is stored: ``sha256:<hex>`` (tokens are random: no salt, no slow hash needed)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class TokenSchema(StrictSchema):
    name = String(required=True, validate=validate.Length(min=1, error="expected a name"))
    role = String(required=True, validate=validate.OneOf([r.name for r in Role], error="expected one of {choices}"))
    hash = String(
        required=True,
        validate=validate.Regexp(r"^sha256:[0-9a-f]{64}$", error="expected 'sha256:' and 64 lower-case hex digits"),
    )


class TokensFileSchema(StrictSchema):
    tokens = List(Nested(TokenSchema), load_default=list)


def load_tokens(inline: list[dict[str, Any]], tokens_file: Path | None) -> tuple[Token, ...]:
    """The tokens of the service params plus those of ``tokens_file`` (which must be 0600)."""
    entries = list(inline)
    if tokens_file is not None:
        problem = files.problem("tokens_file", tokens_file, private=True)
        if problem is not None:
            raise ConfigError(problem)
        try:
            raw = tomllib.loads(tokens_file.read_text())
            entries += TokensFileSchema().load(raw)["tokens"]
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"tokens_file: {tokens_file}: cannot be read: {exc}") from None
        except ValidationError as exc:
            raise ConfigError(f"tokens_file {tokens_file}: " + "; ".join(describe(exc.messages, raw))) from None
    names = [e["name"] for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"tokens: expected unique names, {twice} used twice")
    return tuple(Token(e["name"], Role[e["role"]], e["hash"]) for e in entries)


def find_token(tokens: tuple[Token, ...], presented: str) -> Token | None:
    """The stored token ``presented`` hashes to; every hash compared, in constant time each."""
    digest = token_hash(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(token.digest, digest):
            found = token
    return found


class FailureLimiter:
    """Counts wrong credentials per client address in a window; bounded memory."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW_S) -> None:
        self.limit = limit
        self.window = window
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds ``address`` must wait before it may try again (0: it may)."""
        start, count = self._failures.get(address, (now, 0))
        if now - start >= self.window:
            self._failures.pop(address, None)
            return 0.0
        return self.window - (now - start) if count >= self.limit else 0.0

    def failed(self, address: str, now: float, why: str) -> None:
        start, count = self._failures.get(address, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        count += 1
        self._failures[address] = (start, count)
        self._failures.move_to_end(address)
        if len(self._failures) > _TRACKED_ADDRESSES:
            self._failures.popitem(last=False)
        if count == 1:
            log.warning("control API: authentication failed from %s: %s", address, why)
        elif count == self.limit:
            log.warning(
                "control API: %d failed authentications from %s within %.0f s: answering 429 until the "
                "window ends (last: %s)", count, address, self.window, why,
            )


class Access:
    """The tokens (replaced on reload) and the host names this API answers to."""

    def __init__(self, tokens: tuple[Token, ...], hosts: frozenset[str], any_host: bool) -> None:
        self.tokens = tokens
        self.hosts = _LOOPBACK_NAMES | {h.lower() for h in hosts}
        self.any_host = any_host
        self.limiter = FailureLimiter()
        self.sessions = Sessions()

    def replace_tokens(self, tokens: tuple[Token, ...]) -> int:
        """New tokens (SIGHUP): the sessions of tokens no longer there end; how many did."""
        self.tokens = tokens
        return self.sessions.keep_only(tokens)

    def still_holds(self, request: web.Request) -> bool:
        """Whether what authenticated ``request`` still does: a long stream ends with its session or token."""
        if not self.tokens:
            return True
        if SIGNED_IN in request:
            return self.session_of(request) is not None
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and find_token(self.tokens, presented.strip()) is not None

    def session_of(self, request: web.Request) -> Session | None:
        """The live session the request's cookie names, if any."""
        session_id = request.cookies.get(COOKIE)
        return self.sessions.find(session_id, wall()) if session_id else None


def peer(request: web.Request) -> str:
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    return str(peer[0]) if peer else "?"


def same_site(access: Access) -> Middleware:
    """Host must name this API; Origin, when sent, must be this API's; writes must be JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        name = urlsplit(f"//{host}").hostname or ""
        if not access.any_host and name not in access.hosts:
            raise error(web.HTTPForbidden, f"Host: got {host!r}; this API answers to {sorted(access.hosts)}")
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            raise error(web.HTTPForbidden, f"Origin: got {origin!r}; cross-site requests are refused")
        routed = request.match_info.http_exception is None  # 404 and 405 say so themselves
        if routed and request.method in STATE_CHANGING and request.content_type != "application/json":
            if request.path in FORM_ROUTES and request.content_type == FORM:
                if origin is None:
                    raise error(web.HTTPForbidden, "a form needs the Origin header of this API's own page")
                return await handler(request)
            raise error(
                web.HTTPUnsupportedMediaType,
                f"Content-Type: got {request.content_type!r}; expected 'application/json'",
            )
        return await handler(request)

    return middleware


def authenticate(access: Access) -> Middleware:
    """Bearer token or session cookie, and role, when the service has tokens; the token's name for the audit."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        needed = required_role(request)
        if not access.tokens or needed is None:
            return await handler(request)
        header = request.headers.get("Authorization")
        session = access.session_of(request) if header is None else None
        if header is None and session is None and request.method in ("GET", "HEAD") and request.path == "/":
            return await handler(request)  # the dashboard's sign-in page
        if session is not None:
            token = session.token
            request[SIGNED_IN] = session
            if request.method in STATE_CHANGING and "Origin" not in request.headers:
                raise error(web.HTTPForbidden, "a request signed in by cookie needs the Origin header of this API")
        else:
            scheme, _, presented = (header or "").partition(" ")
            presented = presented.strip() if scheme.lower() == "bearer" else ""
            how = "send Authorization: Bearer <token>"
            if COOKIE in request.cookies and header is None:
                how = "the dashboard session has ended (sign in again), or " + how
            token = check_token(access, peer(request), presented, asyncio.get_running_loop().time(), how)
        if token.role < needed:
            raise error(
                web.HTTPForbidden,
                f"token {token.name!r} has role {token.role.name}; {request.method} {request.path} "
                f"needs {needed.name}",
            )
        request[TOKEN_NAME] = token.name
        return await handler(request)

    return middleware


def check_token(access: Access, address: str, presented: str, now: float, how: str) -> Token:
    """The token ``presented`` (may be empty) from ``address``; refused saying ``how`` if there is none.

    A known token is accepted whatever the address's failures. Nothing
    presented is 401, not counted. An unknown token is 429 (with
    Retry-After) while ``address`` has failed too often, else a failure
    counted and 401.
    """
    if not presented:
        raise _unauthorized(f"no token: {how}")
    token = find_token(access.tokens, presented)
    if token is not None:
        return token
    wait = access.limiter.blocked_for(address, now)
    if wait:
        raise web.HTTPTooManyRequests(
            text='{"error": "too many failed authentications; try again later"}',
            content_type="application/json",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    access.limiter.failed(address, now, "unknown token")
    raise _unauthorized(f"unknown token: {how}")


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="pecc"'},
    )


def check_exposure(remote: bool, tls: bool, tokens: tuple[Token, ...]) -> None:
    """Serving beyond loopback needs TLS and tokens: ConfigError otherwise."""
    if remote and not (tls and tokens):
        missing = " and ".join(w for w, ok in (("tls", tls), ("tokens", bool(tokens))) if not ok)
        raise ConfigError(
            f"ctl: serving beyond loopback (allow_remote = true) needs TLS and bearer tokens; missing {missing}"
        )
