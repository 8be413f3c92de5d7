"""The dashboard's sign-in: a form that trades a token for a session cookie.

When the control API has tokens, a browser opening ``/`` without a session
gets the sign-in page (plain HTML, no script). ``POST /login`` takes the
token as the form's ``token`` field or as JSON ``{"token": ...}`` and
checks it exactly as a bearer token is checked (hashed, compared in
constant time, unknown tokens counted per address, 429 for further
unknown ones after too many; a valid token always signs in). On
success it sets the session cookie (:mod:`.sessions`): ``HttpOnly``,
``SameSite=Strict``, ``Secure`` over HTTPS, ``Path=/``, ``Max-Age`` the
session's lifetime; a form is then sent to ``/`` (303), JSON gets the
session's name, role and end. ``POST /logout`` ends the session and clears
the cookie. Sign-ins and sign-outs are logged with the token's name and the
address; the token itself never is, and neither reaches the history.
"""

from __future__ import annotations

import asyncio
import html
import logging
from importlib import resources
from string import Template
from typing import Any

from aiohttp import web

from pecc_core.clock import wall
from pecc_plugins.ctl import bodies
from pecc_plugins.ctl.auth import FORM, check_token, peer
from pecc_plugins.ctl.keys import ACCESS
from pecc_plugins.ctl.middleware import NOT_AUDITED, error, read_json
from pecc_plugins.ctl.sessions import COOKIE

log = logging.getLogger(__name__)

PAGE = Template((resources.files("pecc_plugins.ctl") / "static" / "signin.html").read_text())
NO_STORE = {"Cache-Control": "no-store"}


def signin_page(problem: str = "", status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """The sign-in page, saying ``problem`` if there is one."""
    return web.Response(
        text=PAGE.substitute(problem=html.escape(problem)),
        status=status,
        content_type="text/html",
        headers={**NO_STORE, **(headers or {})},
    )


async def show(request: web.Request) -> web.Response:
    return signin_page()


async def _presented(request: web.Request) -> str:
    raw: Any = dict(await request.post()) if request.content_type == FORM else await read_json(request)
    try:
        return str(bodies.load(bodies.LoginBody(), raw)["token"])
    except bodies.BodyError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None


async def login(request: web.Request) -> web.Response:
    request[NOT_AUDITED] = True
    access = request.app[ACCESS]
    if not access.tokens:
        raise error(web.HTTPNotFound, "this control API has no tokens: the dashboard needs no sign-in")
    form = request.content_type == FORM
    presented = await _presented(request)
    address, now = peer(request), asyncio.get_running_loop().time()
    try:
        token = check_token(access, address, presented, now, "sign in with a token of this station")
    except (web.HTTPUnauthorized, web.HTTPTooManyRequests) as exc:
        if not form:
            raise
        problem = "Unknown token." if exc.status == 401 else "Too many failed sign-ins: try again later."
        retry = {"Retry-After": exc.headers["Retry-After"]} if "Retry-After" in exc.headers else {}
        return signin_page(problem, exc.status, retry)
    session_id, session = access.sessions.start(token, wall())
    log.info("dashboard: %r (role %s) signed in from %s", token.name, token.role.name, address)
    if form:
        response = web.Response(status=303, headers={"Location": "/", **NO_STORE})
    else:
        body = {"name": token.name, "role": token.role.name, "expires": session.expires}
        response = web.json_response(body, headers=NO_STORE)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(access.sessions.lifetime),
        path="/",
        secure=request.secure,
        httponly=True,
        samesite="Strict",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """End the cookie's session (if any) and clear the cookie; a form goes back to ``/``."""
    request[NOT_AUDITED] = True
    access = request.app[ACCESS]
    session_id = request.cookies.get(COOKIE)
    session = access.sessions.end(session_id) if session_id else None
    if session is not None:
        log.info("dashboard: %r signed out from %s", session.token.name, peer(request))
    if request.content_type == FORM:
        response = web.Response(status=303, headers={"Location": "/", **NO_STORE})
    else:
        response = web.json_response({"signed_out": session is not None}, headers=NO_STORE)
    response.del_cookie(COOKIE, path="/", secure=request.secure, httponly=True, samesite="Strict")
    return response


def add_signin(app: web.Application) -> None:
    """Add ``GET``/``POST /login`` and ``POST /logout`` to the ops server."""
    app.router.add_get("/login", show)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
