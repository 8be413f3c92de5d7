"""Checking what the PECC sends before the simulator acts on it.

Two levels: :func:`frame_problem` is what the client needs to route a
message at all (an object with a known ``type``, a ``kind``, a sequence
number where one is due, an object payload); the payload of every message
is then checked against the PEP-WS schemas of the ``pepws`` plugin, the
one copy of them in the project.
"""

from __future__ import annotations

from typing import Any

SEQ_MAX = 2**31 - 1
TYPES = ("request", "response", "error", "info")


def frame_problem(msg: Any) -> str | None:
    """Why ``msg`` cannot be routed, or ``None`` when it can."""
    if not isinstance(msg, dict):
        return "not a JSON object"
    msg_type = msg.get("type")
    if msg_type not in TYPES:
        return f"type {msg_type!r} is not one of {', '.join(TYPES)}"
    if not isinstance(msg.get("kind"), str):
        return "kind missing or not a string"
    if msg_type != "info":
        seq = msg.get("sequenceNumber")
        if type(seq) is not int or not 0 <= seq <= SEQ_MAX:
            return f"sequenceNumber {seq!r} is not an integer from 0 to {SEQ_MAX}"
    if not isinstance(msg.get("payload"), dict):
        return "payload missing or not an object"
    return None
