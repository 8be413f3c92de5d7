"""The operator's run-time limits kept across restarts.

Every accepted update (``PUT /api/limits``) is merged into the saved
overrides, which the history store keeps; when the station is up again
they are applied once more, and the log says so. ``reset`` goes back to
the profile: the site cap, no gun caps, priority 0, the profile's policy
params, and forgets the overrides.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from marshmallow import missing

from pecc_core import caps

if TYPE_CHECKING:
    from pecc_core.station import Station
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.recorder import Recorder

log = logging.getLogger(__name__)


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

    def apply(self, update: dict[str, Any], source: str = "operator") -> dict[str, Any]:
        """Apply ``update`` (:class:`~pecc_core.caps.CapsError` if refused), save it; the new limits."""
        snapshot = caps.apply(self.station, update)
        self.saved = merge(self.saved, update)
        self.history.save_limits(self.saved)
        self.recorder.limits_changed(update, source)
        return snapshot

    def restore(self) -> None:
        """Apply the saved overrides again (at start, once the station is up)."""
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

    def reset(self) -> dict[str, Any]:
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
        self.history.save_limits(None)
        self.recorder.limits_changed(update, "reset")
        return snapshot


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
