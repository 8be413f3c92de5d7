"""Dashboard sign-in sessions: opaque random ids mapped to a token's name and role, expiring.

A browser cannot send ``Authorization: Bearer`` when it navigates to ``/``
or opens an ``EventSource``, so the dashboard signs in once (``POST
/login`` with a token) and gets a cookie holding a session id. The id is
256 random bits, never the token; the server keeps only its SHA-256 (a
dictionary lookup then says nothing about the ids it holds) with the
token's name, hash and role and the session's end. A session ends at
:data:`SESSION_LIFETIME_S` after sign-in, at sign-out, when the service
restarts, or on SIGHUP once its token is no longer configured.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from pecc_plugins.ctl.tokens import Token

#: The cookie that carries the session id.
COOKIE = "pecc_session"
#: How long a sign-in lasts (s): the cookie's Max-Age and the server's own limit.
SESSION_LIFETIME_S = 12 * 3600
#: Sessions kept at once; beyond, the oldest ends (memory stays bounded).
MAX_SESSIONS = 1024


@dataclass(frozen=True, slots=True)
class Session:
    token: Token
    expires: float  # a date: pecc_core.clock.wall()


#: The request key of the session a request was signed in with (not set for bearer tokens).
SIGNED_IN = web.RequestKey("signed_in", Session)


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """The live sessions, oldest first (they all last as long, so also first to expire)."""

    def __init__(self, lifetime: float = SESSION_LIFETIME_S, limit: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._live: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._live)

    def start(self, token: Token, now: float) -> tuple[str, Session]:
        """A new session for ``token``: its id (for the cookie only) and the session."""
        self._drop_expired(now)
        session_id = secrets.token_urlsafe(32)
        session = Session(token, now + self.lifetime)
        self._live[_key(session_id)] = session
        while len(self._live) > self.limit:
            self._live.popitem(last=False)
        return session_id, session

    def find(self, session_id: str, now: float) -> Session | None:
        """The live session of ``session_id`` (None: unknown or expired)."""
        session = self._live.get(_key(session_id))
        if session is None or session.expires <= now:
            return None
        return session

    def end(self, session_id: str) -> Session | None:
        """End the session of ``session_id``; the session it was, if any."""
        return self._live.pop(_key(session_id), None)

    def keep_only(self, tokens: tuple[Token, ...]) -> int:
        """After a reload: sessions whose token is gone end, the others take its new role; how many ended."""
        current = {(t.name, t.digest): t for t in tokens}
        ended = 0
        for key, session in list(self._live.items()):
            token = current.get((session.token.name, session.token.digest))
            if token is None:
                del self._live[key]
                ended += 1
            elif token != session.token:
                self._live[key] = Session(token, session.expires)
        return ended

    def _drop_expired(self, now: float) -> None:
        while self._live:
            key, session = next(iter(self._live.items()))
            if session.expires > now:
                break
            del self._live[key]
