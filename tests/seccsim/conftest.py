"""Fixtures of the simulator's tests: a scripted PECC and a small car."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pecc_plugins.seccsim.scenario import Scenario, from_mapping

from .scripted_pecc import ScriptedPecc


@pytest.fixture
async def pecc() -> AsyncIterator[ScriptedPecc]:
    fake = ScriptedPecc()
    async with fake.running():
        yield fake


@pytest.fixture
def small_car() -> Scenario:
    """A car that charges from 20 % to 30 % of a 10 kWh battery: ~1 s at time scale 100."""
    return from_mapping({"battery": {"capacity_kwh": 10.0, "start_soc": 20.0, "target_soc": 30.0}})
