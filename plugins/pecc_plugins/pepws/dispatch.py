"""What to answer to one message from an SECC: validation, handler, reply.

Handlers are looked up by ``(type, kind)`` in the table
:func:`message_handlers` builds from every ``pecc_register_message_handlers``
hook (:mod:`pecc_plugins.pepws.hookspecs`), so a vendor plugin registered
later replaces or adds kinds. A handler is called as
``handler(gun, payload, link)`` with the validated payload as it came on the
wire (camelCase, extra properties included) and may be a plain function or a
coroutine function. A request handler returns the response payload
(``None`` means ``{}``); an info handler's return value is ignored.

A message is handled in two steps. :meth:`Dispatcher.check` runs at once in
the connection's receive loop: it validates the message (a bounded cost:
the compiled official schema stops at the first failure) and returns either
the finished error reply or a :class:`Call` for the worker; nothing of an
invalid message is kept. :meth:`Dispatcher.run` then calls the handler in
the connection's worker, in arrival order. Every request gets exactly one
reply, and every reply we build is checked before it leaves:

======================================  ============================================
what happened                           reply
======================================  ============================================
not JSON, not an object, binary frame   error ``format``, kind ``error``, seq 0
unknown type or unknown request kind    error ``format``, kind ``error`` (or the kind
                                        when it is a request kind), seq if readable
schema validation failed                error ``format`` with the request's seq/kind
a request kind the PECC does not serve  error ``generic`` (getInput & co. go the
                                        other way)
handler raised ValueRefused & co.       error ``value`` / ``inoperative`` / ``internal``
handler raised another Refused          error ``generic``
handler raised ValidationError          error ``format``
handler raised anything else            error ``internal`` (and a log line)
handler returned an invalid payload     error ``internal`` (and a log line)
======================================  ============================================

Info messages never get a reply: unknown or invalid ones are logged.
Every refusal is logged once, at INFO, with the gun and the reason, at a
bounded rate per connection (:class:`~pecc_core.episode.LogThrottle`).
Responses and errors are replies to the PECC's own requests and are matched
by the connection (:mod:`pecc_plugins.pepws.connection`), not here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError

from pecc_core.asyncutil import maybe_await
from pecc_core.clock import stopwatch
from pecc_core.episode import LogThrottle
from pecc_core.errors import InoperativeRefused, InternalRefused, Refused, ValueRefused
from pecc_plugins.pepws import schemas
from pecc_plugins.pepws.codec import Encoder, FrameError, sequence_of

if TYPE_CHECKING:
    import pluggy

    from pecc_core.gun import Gun
    from pecc_core.station import Plugins
    from pecc_plugins.pepws.stats import TransportStats

log = logging.getLogger(__name__)

Handler = Callable[..., Any]

#: errorDetails are cut to this length (a huge invalid array must not make a huge reply).
MAX_DETAILS = 500

#: The error category of each refusal class; any other Refused is ``generic``.
CATEGORIES: tuple[tuple[type[Refused], str], ...] = (
    (ValueRefused, "value"),
    (InoperativeRefused, "inoperative"),
    (InternalRefused, "internal"),
)


def category_of(exc: Refused) -> str:
    for cls, category in CATEGORIES:
        if isinstance(exc, cls):
            return category
    return "generic"


def message_handlers(pm: pluggy.PluginManager) -> dict[tuple[str, str], Handler]:
    """Handlers by ``(type, kind)`` from every plugin's hook; later plugins override earlier ones."""
    handlers: dict[tuple[str, str], Handler] = {}

    def register(msg_type: str, kind: str, handler: Handler) -> None:
        # pluggy calls the newest registration first: the first one wins.
        handlers.setdefault((msg_type, kind), handler)

    pm.hook.pecc_register_message_handlers(register=register)
    return handlers


@dataclass(slots=True)
class Call:
    """A valid request or info, waiting for its handler (only its payload is kept)."""

    handler: Handler
    kind: str
    #: The request's sequenceNumber; None for an info.
    seq: int | None
    payload: Any


class Dispatcher:
    """Answers the requests and applies the info messages of one gun's SECC."""

    def __init__(
        self,
        gun: Gun,
        handlers: Mapping[tuple[str, str], Handler],
        encoder: Encoder,
        slow_ms: int,
        stats: TransportStats,
        observers: Plugins,
    ) -> None:
        self.gun = gun
        self.stats = stats
        self._observers = observers
        self._handlers = handlers
        self._encoder = encoder
        self._slow_s = slow_ms / 1000
        #: The connection's rate-limited log for what its SECC does wrong.
        self.noise = LogThrottle(log, extra={"gun": gun.id})
        self._request_kinds = frozenset(schemas.REQUEST_KINDS) | {
            kind for (msg_type, kind) in handlers if msg_type == "request"
        }

    def check(self, message: Any) -> bytes | Call | None:
        """What to do with ``message`` (a parsed frame or a FrameError), decided at once.

        The error reply to send, a :class:`Call` for :meth:`run`, or None
        for an info to drop.
        """
        if isinstance(message, FrameError):
            return self._error("error", 0, "format", str(message))
        if not isinstance(message, dict):
            return self._error("error", 0, "format", "expected a JSON object")
        if message.get("type") == "info":
            return self._info(message)
        started = stopwatch()
        work = self._request(message)
        if not isinstance(work, Call):  # answered at once (the handler's replies are timed in run)
            self.stats.reply_latency.observe(stopwatch() - started)
        return work

    async def run(self, call: Call, link: Any) -> bytes | None:
        """Call the handler; the encoded reply to a request (None for an info)."""
        kind, seq = call.kind, call.seq
        if seq is None:
            try:
                await self._call(call.handler, kind, call.payload, link)
            except Exception:
                log.exception("gun %s: handling %s info failed", self.gun.id, kind)
            return None
        started = stopwatch()
        reply = await self._answer(call, seq, link)
        self.stats.reply_latency.observe(stopwatch() - started)
        return reply

    async def _answer(self, call: Call, seq: int, link: Any) -> bytes:
        kind = call.kind
        try:
            result = await self._call(call.handler, kind, call.payload, link)
        except Refused as exc:
            return self._error(kind, seq, category_of(exc), str(exc))
        except ValidationError as exc:
            return self._error(kind, seq, "format", schemas.describe(exc.messages))
        except Exception as exc:
            log.exception("gun %s: %s #%d failed", self.gun.id, kind, seq)
            return self._error(kind, seq, "internal", f"{kind} failed: {type(exc).__name__}: {exc}")
        return self._response(kind, seq, {} if result is None else result)

    # -- requests --------------------------------------------------------------

    def _request(self, message: dict[str, Any]) -> bytes | Call:
        seq = sequence_of(message)
        raw_kind = message.get("kind")
        kind = raw_kind if isinstance(raw_kind, str) and raw_kind in self._request_kinds else None
        msg_type = message.get("type")
        if msg_type != "request":
            return self._error(
                kind or "error",
                seq,
                "format",
                f"type: expected one of {', '.join(schemas.MESSAGE_TYPES)}, got {msg_type!r}",
            )
        if kind is None:
            return self._error("error", seq, "format", f"kind: unknown request kind {raw_kind!r}")
        self.stats.requests[kind] += 1
        validate = schemas.validator_for("request", kind) or schemas.ENVELOPES["request"]
        problem = schemas.problem(validate, message)
        if problem is not None:
            return self._error(kind, seq, "format", problem)
        handler = self._handlers.get(("request", kind))
        if handler is None:
            return self._error(
                kind, seq, "generic", f"{kind} is a request the PECC sends, it does not serve it"
            )
        return Call(handler, kind, seq, message["payload"])

    def _response(self, kind: str, seq: int, payload: Any) -> bytes:
        """The response, or an ``internal`` error if the handler's payload is not valid."""
        validate = schemas.validator_for("response", kind)
        try:
            if validate is not None:
                frame = {"type": "response", "kind": kind, "sequenceNumber": seq, "payload": payload}
                problem = schemas.problem(validate, frame)
                if problem is not None:
                    raise ValueError(problem)
            return self._encoder.message("response", kind, payload, seq)
        except (ValueError, TypeError) as exc:
            log.error("gun %s: the %s handler returned an invalid response: %s", self.gun.id, kind, exc)
            return self._error(kind, seq, "internal", f"invalid {kind} response: {exc}")

    # -- info --------------------------------------------------------------------

    def _info(self, message: dict[str, Any]) -> Call | None:
        kind = message.get("kind")
        handler = self._handlers.get(("info", kind)) if isinstance(kind, str) else None
        if handler is None or not isinstance(kind, str):
            self.noise.log(logging.INFO, "gun %s: ignoring info of kind %r", self.gun.id, kind)
            return None
        validate = schemas.validator_for("info", kind) or schemas.ENVELOPES["info"]
        problem = schemas.problem(validate, message)
        if problem is not None:
            self.noise.log(logging.WARNING, "gun %s: invalid %s info ignored: %s", self.gun.id, kind, problem)
            return None
        return Call(handler, kind, None, message["payload"])

    # -- helpers -----------------------------------------------------------------

    async def _call(self, handler: Handler, kind: str, payload: Any, link: Any) -> Any:
        started = asyncio.get_running_loop().time()
        result = await maybe_await(handler(self.gun, payload, link))
        took = asyncio.get_running_loop().time() - started
        if took > self._slow_s:
            log.warning("gun %s: handling %s took %.0f ms", self.gun.id, kind, took * 1000)
        return result

    def _error(self, kind: str, seq: int, category: str, details: str) -> bytes:
        if len(details) > MAX_DETAILS:
            details = details[: MAX_DETAILS - 3] + "..."
        self.noise.log(logging.INFO, "gun %s: refused %s #%d (%s): %s", self.gun.id, kind, seq, category, details)
        self.stats.errors[category] += 1
        self._observers.request_refused(self.gun, kind, category, details)
        return self._encoder.error(kind, seq, category, details)
