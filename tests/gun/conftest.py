"""Fixtures for the gun tests, on the rig in :mod:`gun_rig`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pecc_core.station import Station
from pecc_core.testing import eventually

from .gun_rig import instant, instant_profile, instant_station


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    """A started station of the ``sim`` profile on instant modules, modules dealt to guns."""
    st = instant_station(instant_profile(tmp_path))
    await st.start()
    await eventually(lambda: all(st.pool.modules_of(g) for g in st.guns), what="modules dealt")
    try:
        yield st
    finally:
        instant(st.power).discharge()
        await st.stop()
