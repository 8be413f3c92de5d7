"""Simulated module relay matrix: a switching delay and relay feedback."""

from __future__ import annotations

import asyncio
from typing import Any

from pecc_core.power import ModuleId
from pecc_core.profile.model import Profile
from pecc_core.profile.schema import Integer, StrictSchema, between


class MatrixParams(StrictSchema):
    switching_ms = Integer(load_default=20, validate=between(0, 5000))


class SimRelayMatrix:
    """Every module starts switched onto no gun.

    It does not refuse a move under load (the real relays would not either,
    they would weld): refusing unsafe moves is the module pool's job.
    """

    def __init__(self, switching_ms: int = 20) -> None:
        self._delay = switching_ms / 1000
        self._gun_of: dict[ModuleId, str | None] = {}

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> SimRelayMatrix:
        return cls(**params)

    async def connect(self, module: ModuleId, gun: str | None) -> None:
        # Break before make: the module leaves its gun first, then joins the new one.
        self._gun_of[module] = None
        await asyncio.sleep(self._delay)
        self._gun_of[module] = gun

    def gun_of(self, module: ModuleId) -> str | None:
        return self._gun_of.get(module)
