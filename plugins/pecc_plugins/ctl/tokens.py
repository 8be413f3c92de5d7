"""A configured token as the control API knows it: its name, its role and its stored hash.

Apart from :mod:`.auth` (which checks tokens) so that :mod:`.sessions`,
which keeps the token a session stands for, needs no import of the checks
that use the sessions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.IntEnum):
    """What a token may do; a role includes every lower one."""

    read = 1
    operate = 2
    sim = 3


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    role: Role
    digest: str
