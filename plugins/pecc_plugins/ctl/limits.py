"""The operator's run-time limits kept across restarts.

Every accepted update (``PUT /api/limits``) is merged into the saved
overrides, which the history store keeps; at the next start they are
applied once more, before the station starts and anything serves
(:mod:`.service`), and the log says so. ``reset`` goes back to
the profile: the site cap, no gun caps, priority 0, the profile's policy
params, and forgets the overrides.

An update or a reset returns (and the API answers 200) only once the
saved overrides are on disk, fsynced by the history's writer thread
(:meth:`~pecc_plugins.ctl.history.History.save_limits`): an answer is a
promise that a crash or a power cut right after it keeps them. The
station's loop never waits for the disk meanwhile; only the request does.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from marshmallow import missing

from pecc_core import caps

if TYPE_CHECKING:
    from pecc_core.station import Station
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.recorder import Recorder

log = logging.getLogger(__name__)


class NotSaved(RuntimeError):
    """The limits apply now, but the saved overrides could not be written (they would not survive a restart)."""


def merge(saved: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` on top of ``saved``: gun caps and policy params key by key."""
    merged = {**saved, **{k: v for k, v in update.items() if k not in ("guns", "policy")}}
    if "guns" in update:
        guns = {gun: dict(caps) for gun, caps in saved.get("guns", {}).items()}
        for gun, caps in update["guns"].items():
            guns.setdefault(gun, {}).update(caps)
        merged["guns"] = guns
    if "policy" in update:
        merged["policy"] = {**saved.get("policy", {}), **update["policy"]}
    return merged


class LimitsKeeper:
    """Applies, saves, restores and resets the run-time limits of one station."""

    def __init__(self, station: Station, history: History, recorder: Recorder) -> None:
        self.station = station
        self.history = history
        self.recorder = recorder
        self.saved: dict[str, Any] = {}

    async def apply(self, update: dict[str, Any], source: str = "operator") -> dict[str, Any]:
        """Apply ``update`` (:class:`~pecc_core.caps.CapsError` if refused), save it; the new limits."""
        snapshot = caps.apply(self.station, update)
        self.saved = merge(self.saved, update)
        self.recorder.limits_changed(update, source)
        await self._save(self.saved)
        return snapshot

    def restore(self) -> None:
        """Apply the saved overrides again (at start, before the station starts: :mod:`.service`)."""
        if not self.saved:
            return
        try:
            caps.apply(self.station, self.saved)
        except caps.CapsError as exc:  # the profile changed under them (a gun removed, a new policy)
            log.warning("saved run-time limits not restored (the profile differs): %s", exc)
            self.recorder.limits_changed(self.saved, f"not restored: {exc}")
            return
        log.info("run-time limits restored from %s: %s", self.history.path, self.saved)
        self.recorder.limits_changed(self.saved, "restored")

    async def reset(self) -> dict[str, Any]:
        """Back to the profile's limits; the saved overrides are forgotten."""
        station = self.station
        update: dict[str, Any] = {
            "site_max_power_w": station.profile.site.max_power_w,
            "guns": {gun: {"max_current_a": None, "max_power_w": None, "priority": 0} for gun in station.guns},
        }
        policy = _profile_policy(station, self.saved.get("policy", {}))
        if policy:
            update["policy"] = policy
        snapshot = caps.apply(station, update)
        self.saved = {}
        self.recorder.limits_changed(update, "reset")
        await self._save(None)
        return snapshot

    async def _save(self, overrides: dict[str, Any] | None) -> None:
        """Write the saved overrides to disk; :class:`NotSaved` saying why if they could not be."""
        try:
            await self.history.save_limits(overrides)
        except sqlite3.Error as exc:
            log.error("run-time limits applied but not saved to %s: %s", self.history.path, exc)
            raise NotSaved(
                f"the new limits apply now but could not be saved (they will not survive a restart): {exc}"
            ) from None


def _profile_policy(station: Station, changed: dict[str, Any]) -> dict[str, Any]:
    """Policy params that undo ``changed``: the profile's value, else the schema's default."""
    registration = station.plugins.registry("limit_policy").get(station.profile.policy.name)
    written = station.profile.policy.raw
    fields = registration.params().fields if registration.params is not None else {}
    undo: dict[str, Any] = {}
    for key in changed:
        if key in written:
            undo[key] = written[key]
        elif key in fields and fields[key].load_default is not missing:
            default = fields[key].load_default
            undo[key] = default() if callable(default) else default
    return undo
