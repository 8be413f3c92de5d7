"""Simulated insulation monitoring device (IMD), one per gun."""

from __future__ import annotations

import asyncio
from typing import Any

from pecc_core.model import Isolation
from pecc_core.profile.model import Profile
from pecc_core.profile.schema import Integer, StrictSchema, between


class ImdParams(StrictSchema):
    #: Test time; None takes the profile's ``timings.cable_check_ms``.
    test_ms = Integer(load_default=None, allow_none=True, validate=between(0, 600_000))


class SimIsolationMonitor:
    """An isolation test that takes ``test_ms`` and then keeps monitoring.

    The result is ``valid`` unless a gun was told otherwise with
    :meth:`inject`; an injection while a gun is monitoring (during a
    charge) shows in :meth:`result` at once, as a real IMD's relay would.

    ``test_s`` may be changed at run time (a slow IMD, like real hardware).
    ``start``/``stop`` without a gun are the station's lifecycle calls
    (the runtime calls them on every I/O driver); with a gun they begin
    and end that gun's test.
    """

    def __init__(self, test_ms: int) -> None:
        self.test_s = test_ms / 1000
        self._results: dict[str, Isolation] = {}
        self._tests: dict[str, asyncio.Task[None]] = {}
        self._injected: dict[str, Isolation] = {}

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> SimIsolationMonitor:
        test_ms = params.get("test_ms")
        return cls(profile.timings.cable_check_ms if test_ms is None else test_ms)

    def start(self, gun: str | None = None) -> None:
        if gun is None:
            return
        self.stop(gun)
        self._tests[gun] = asyncio.get_running_loop().create_task(
            self._test(gun), name=f"sim-imd-{gun}"
        )

    def stop(self, gun: str | None = None) -> None:
        for g in [gun] if gun is not None else list(self._tests):
            task = self._tests.pop(g, None)
            if task is not None:
                task.cancel()
            self._results.pop(g, None)

    def result(self, gun: str) -> Isolation:
        return self._results.get(gun, Isolation.INVALID)

    async def _test(self, gun: str) -> None:
        await asyncio.sleep(self.test_s)
        self._results[gun] = self._injected.get(gun, Isolation.VALID)

    # -- fault injection ----------------------------------------------------

    def inject(self, gun: str, result: Isolation | None) -> None:
        """Make ``gun``'s tests end in ``result`` (warning, fault); None: valid again."""
        if result is None:
            self._injected.pop(gun, None)
        else:
            self._injected[gun] = result
        if gun in self._results:  # monitoring after a finished test: the relay follows
            self._results[gun] = self._injected.get(gun, Isolation.VALID)
