"""Checking what the PECC sends before the simulator acts on it.

Every message is checked against the PEP-WS schemas of the ``pepws``
plugin, the one copy of them in the project (the same ones the PECC uses
on what it receives). A kind the protocol does not define is checked
against the bare envelope of its type, so the client can still route it
(and count it as unexpected).
"""

from __future__ import annotations

from typing import Any

from pecc_plugins.pepws.schemas import ENVELOPES, MESSAGE_TYPES, validator_for
from pecc_plugins.pepws.schemas import problem as first_problem


def problem(msg: Any) -> str | None:
    """Why ``msg`` is not a valid PEP-WS message, or ``None`` when it is."""
    if not isinstance(msg, dict):
        return "not a JSON object"
    msg_type = msg.get("type")
    if msg_type not in MESSAGE_TYPES:
        return f"type {msg_type!r} is not one of {', '.join(MESSAGE_TYPES)}"
    kind = msg.get("kind")
    validate = (validator_for(msg_type, kind) if isinstance(kind, str) else None) or ENVELOPES[msg_type]
    return first_problem(validate, msg)
