"""The hooks the ``pepws`` transport adds for other plugins (through ``pecc_addhooks``).

They belong to this transport, not to the core's contract: another
transport would dispatch other messages. A plugin that implements one
marks it ``@hookimpl(optionalhook=True)`` unless it needs ``pepws`` anyway,
so that it still loads in a station without this transport.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pecc_core.hookspecs import hookspec


class RegisterMessageHandler(Protocol):
    """The ``register`` callable of :func:`pecc_register_message_handlers`.

    :param msg_type: the message ``type`` (``"request"``, ``"info"``, ...).
    :param kind: the message ``kind`` (``"targetValues"``, ``"event"``, ...).
    :param handler: the callable :mod:`~pecc_plugins.pepws.dispatch` calls
        for that message (see :mod:`~pecc_plugins.pepws.handlers`).
    """

    def __call__(self, msg_type: str, kind: str, handler: Callable[..., Any]) -> None: ...


@hookspec
def pecc_register_message_handlers(register: RegisterMessageHandler) -> None:
    """Offer handlers for PEP-WS messages by ``(type, kind)``.

    Called once by the server when it starts. The first registration of a
    ``(type, kind)`` in pluggy's call order wins: pluggy calls the plugin
    registered last first (unless ``tryfirst``/``trylast`` say otherwise),
    so plugins registered after the builtin ones (vendors) may override or
    add kinds, e.g. their own ``event`` semantics.
    """
