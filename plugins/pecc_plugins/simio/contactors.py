"""Simulated output contactors: a closing/opening delay and a feedback contact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pecc_core.io import ContactorError
from pecc_core.profile.model import Profile
from pecc_core.profile.schema import Integer, StrictSchema, between


class ContactorParams(StrictSchema):
    closing_ms = Integer(load_default=30, validate=between(0, 5000))
    opening_ms = Integer(load_default=20, validate=between(0, 5000))
    #: How long the feedback may lag the command before :class:`ContactorError`.
    feedback_timeout_ms = Integer(load_default=200, validate=between(0, 5000))


class SimContactors:
    """One contactor pair per gun, open at start.

    The feedback follows the command after the closing or opening delay,
    unless a mismatch is injected with :meth:`stick` (a welded contact or a
    broken coil): then the feedback stays where it was told to, and
    :meth:`set` raises :class:`ContactorError` after the feedback timeout,
    as a real driver would. The delays (``closing_s``, ``opening_s``) may
    be changed at run time, e.g. to hold a gun in its transition to standby.

    ``interlock(gun)``, when set, is ANDed with the command as the cabinet's
    wiring does with CP/PP supervision: a refusal drops the contactors
    whatever the controller commands (:func:`pecc_plugins.simio.wire`).
    """

    def __init__(self, closing_ms: int = 30, opening_ms: int = 20, feedback_timeout_ms: int = 200) -> None:
        self.closing_s = closing_ms / 1000
        self.opening_s = opening_ms / 1000
        self._timeout = feedback_timeout_ms / 1000
        self._commanded: dict[str, bool] = {}
        self._feedback: dict[str, bool] = {}
        self._stuck: dict[str, bool] = {}
        self.interlock: Callable[[str], bool] | None = None

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> SimContactors:
        return cls(**params)

    async def set(self, gun: str, closed: bool) -> None:
        self._commanded[gun] = closed
        await asyncio.sleep(self.closing_s if closed else self.opening_s)
        if self._commanded.get(gun) == closed:  # a later command wins
            self._feedback[gun] = closed
        if self.closed(gun) != closed:
            await asyncio.sleep(self._timeout)
            if self.closed(gun) != closed:
                state = "closed" if self.closed(gun) else "open"
                raise ContactorError(
                    f"gun {gun}: contactor feedback says {state} after commanding "
                    f"{'closed' if closed else 'open'}"
                )

    def closed(self, gun: str) -> bool:
        stuck = self._stuck.get(gun)
        if stuck is not None:
            return stuck
        return self._feedback.get(gun, False) and (self.interlock is None or self.interlock(gun))

    def commanded(self, gun: str) -> bool:
        """What was last commanded (the feedback lags it by the switching delay)."""
        return self._commanded.get(gun, False)

    # -- fault injection ----------------------------------------------------

    def stuck(self, gun: str) -> bool | None:
        """Where an injected mismatch holds the feedback of ``gun``; None: it follows the command."""
        return self._stuck.get(gun)

    def stick(self, gun: str, closed: bool | None) -> None:
        """Make the feedback of ``gun`` read ``closed`` whatever is commanded; None: heal."""
        if closed is None:
            self._stuck.pop(gun, None)
        else:
            self._stuck[gun] = closed
