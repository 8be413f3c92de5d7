"""Observer plugins only watch: one that raises neither fails a transition nor stops the station."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from pecc_core import hookimpl
from pecc_core.gun import Event, GunState
from pecc_core.plugins import default_manager
from pecc_core.testing import eventually, running

from .conftest import Pecc, assert_valid, sim_profile
from .test_session import FAST, charge_to_the_end, ok, ready, settled


class RaisingObserver:
    """Every observer hook raises; counts how often it was called."""

    def __init__(self) -> None:
        self.calls = 0

    def _boom(self, hook: str) -> None:
        self.calls += 1
        raise RuntimeError(f"observer bug in {hook}")

    @hookimpl
    def pecc_station_started(self, station: Any) -> None:
        self._boom("station_started")

    @hookimpl
    def pecc_station_stopping(self, station: Any) -> None:
        self._boom("station_stopping")

    @hookimpl
    def pecc_gun_state_changed(self, gun: Any, old: GunState, new: GunState, event: Event, reason: str) -> None:
        self._boom("gun_state_changed")

    @hookimpl
    def pecc_gun_fault(self, gun: Any, fault: str, active: bool) -> None:
        self._boom("gun_fault")


class Recorder:
    """A well-behaved observer registered beside the broken one: it is still told."""

    def __init__(self) -> None:
        self.transitions: list[tuple[str, GunState, GunState]] = []

    @hookimpl
    def pecc_gun_state_changed(self, gun: Any, old: GunState, new: GunState, event: Event, reason: str) -> None:
        self.transitions.append((gun.id, old, new))


async def test_a_raising_observer_cannot_break_a_session_or_the_stop(
    tmp_path: Path, can_channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="pecc_core.standin")
    plugins = default_manager()
    broken, recorder = RaisingObserver(), Recorder()
    plugins.register(recorder, "recorder")
    plugins.register(broken, "broken-observer")
    profile = sim_profile(tmp_path, can_channel, FAST, plugins)
    async with running(profile, plugins) as runtime:  # pecc_station_started raised: it runs
        pecc = Pecc(runtime.station, runtime.transport)  # type: ignore[arg-type]
        await settled(pecc)
        client = await pecc.connect()
        await ok(client, "configuration")
        await charge_to_the_end(client)  # every request answered with a response, not an error
        # The station stops while another gun is mid-session, contactors closed.
        gun = pecc.gun("1-2")
        await eventually(lambda: bool(pecc.station.pool.modules_of(gun.id)) and gun.in_standby(), 5.0, "1-2 settled")
        await ready(await pecc.connect("1-2"))
        assert pecc.station.io.contactors.closed("1-2")
        assert_valid(await pecc.close_clients())
    for gun in runtime.station.guns.values():
        assert gun.state is GunState.STANDBY, (gun.id, gun.state)
        assert not runtime.station.io.contactors.closed(gun.id), gun.id
    assert ("1-1", GunState.STANDBY, GunState.CABLE_CHECK) in recorder.transitions  # the others are still told
    assert ("1-2", GunState.READY, GunState.STOPPING) in recorder.transitions
    logged = [r.getMessage() for r in caplog.records if "'broken-observer'" in r.getMessage()]
    hooks = {m.split("' in ")[1].split(":")[0] for m in logged}
    assert hooks == {"pecc_station_started", "pecc_station_stopping", "pecc_gun_state_changed"}
    assert len(logged) == len(hooks) < broken.calls  # once per episode, not once per call
