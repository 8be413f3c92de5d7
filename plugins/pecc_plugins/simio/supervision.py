"""Simulated CP/PP supervision: the SECC's permission to close the contactors."""

from __future__ import annotations

from typing import Any

from pecc_core.profile.model import Profile


class SimSupervision:
    """Allows closing on every gun unless told otherwise with :meth:`allow`."""

    def __init__(self) -> None:
        self._refused: set[str] = set()

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> SimSupervision:
        return cls()

    def allowed(self, gun: str) -> bool:
        return gun not in self._refused

    def allow(self, gun: str, allowed: bool) -> None:
        """Set what CP/PP supervision of ``gun`` says (CP state C/D and PP valid, or not)."""
        if allowed:
            self._refused.discard(gun)
        else:
            self._refused.add(gun)
