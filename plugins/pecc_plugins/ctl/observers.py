"""The observer hooks that feed one station's recorder, as a plugin object of its own.

The ``ctl`` service registers a :class:`RecorderHooks` with the station's
plugin manager under :data:`NAME` when it starts and unregisters it when it
stops, as pytest registers its terminal reporter: pluggy then calls the
recorder of this station directly, with no registry to look it up in, and
others find it with ``station.plugins.get_plugin(NAME)``. A plugin manager
shared by several stations tells it about theirs too: it keeps to its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core import hookimpl

if TYPE_CHECKING:
    from pecc_core.gun import Event, Gun, GunState
    from pecc_core.station import Station
    from pecc_plugins.ctl.recorder import Recorder

#: The name it is registered under.
NAME = "ctl.recorder"


class RecorderHooks:
    """Hands the observer hooks of its station to its recorder, each call guarded by the recorder."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.station = recorder.station

    def _ours(self, gun: Gun) -> bool:
        return self.station.guns.get(gun.id) is gun

    @hookimpl
    def pecc_station_started(self, station: Station) -> None:
        if station is self.station:
            with self.recorder.guarded("station start"):
                self.recorder.station_started()

    @hookimpl
    def pecc_station_stopping(self, station: Station) -> None:
        if station is self.station:
            with self.recorder.guarded("station stop"):
                self.recorder.station_stopping()

    @hookimpl
    def pecc_gun_state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None:
        if self._ours(gun):
            with self.recorder.guarded("state change"):
                self.recorder.state_changed(gun, old, new, event, reason)

    @hookimpl
    def pecc_gun_fault(self, gun: Gun, fault: str, active: bool) -> None:
        if self._ours(gun):
            with self.recorder.guarded("fault"):
                self.recorder.fault(gun, fault, active)

    @hookimpl
    def pecc_secc_connected(self, gun: Gun, peer: str, subprotocol: str | None) -> None:
        if self._ours(gun):
            with self.recorder.guarded("SECC connect"):
                self.recorder.secc_connected(gun, peer, subprotocol)

    @hookimpl
    def pecc_secc_disconnected(self, gun: Gun, reason: str) -> None:
        if self._ours(gun):
            with self.recorder.guarded("SECC disconnect"):
                self.recorder.secc_disconnected(gun, reason)

    @hookimpl
    def pecc_request_refused(self, gun: Gun, kind: str, category: str, details: str) -> None:
        if self._ours(gun):
            with self.recorder.guarded("refusal"):
                self.recorder.request_refused(gun, kind, category, details)
