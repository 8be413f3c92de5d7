"""The I/O link between the PECC and ``pecc sim-hw``: JSON lines on a Unix socket.

Bench -> PECC: ``{"state": {"contactors": {gun: closed}, "imd": {gun:
isolation}, "supervision": {gun: allowed}, "matrix": {"address": gun}}}``,
sent when anything changed (sampled every 20 ms) and at least once a
second. PECC -> bench: one command per line, ``{"op": "contactors", "gun":
g, "closed": true}``, ``{"op": "imd", "gun": g, "run": true}``, ``{"op":
"matrix", "module": 3, "gun": g}``, ``{"op": "car", "gun": g, "target":
[V, A, soc, phase] | null}``, and fault injections ``{"op": "inject",
"what": "imd" | "supervision" | "silence" | "bit" | "fault" | "clear", ...}``.
"""

from __future__ import annotations

import json
from typing import Any


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"
