"""Simulated emergency-stop input: one for the station, or one per gun."""

from __future__ import annotations

from typing import Any

from pecc_core.profile.model import Profile


class SimEmergencyStop:
    """Released at start; :meth:`press` presses (or releases) one gun's E-stop or the station's."""

    def __init__(self) -> None:
        self._station = False
        self._guns: set[str] = set()

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> SimEmergencyStop:
        return cls()

    def pressed(self, gun: str) -> bool:
        return self._station or gun in self._guns

    def press(self, gun: str | None, pressed: bool = True) -> None:
        """Press (``pressed``) or release the E-stop of ``gun``, or the station's (None)."""
        if gun is None:
            self._station = pressed
        elif pressed:
            self._guns.add(gun)
        else:
            self._guns.discard(gun)
