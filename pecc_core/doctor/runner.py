"""Run every check of a profile's field install and collect their rows.

The core's own check (the clock) comes first, then those the plugins
offer through ``pecc_doctor_checks``, in the plugins' order. The checks
run together on one event loop (most take no time; a bus is listened to
for a few seconds), each bounded by :data:`CHECK_TIMEOUT_S`. ``pecc
doctor`` never shows a traceback: a check that raises or hangs becomes a
fail row saying so, and so does a plugin whose hook raises (its stand-in
offers a check that raises the same, :mod:`pecc_core.standin`) or a hook
wrapper that does (one row for the whole call).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pecc_core.asyncutil import maybe_await
from pecc_core.doctor import Check, Finding, fail
from pecc_core.doctor.clock import clock_check

if TYPE_CHECKING:
    from pecc_core.plugins import PluginManager
    from pecc_core.profile.model import Profile

#: The longest one check may take (s): a bus is listened to for a few seconds.
CHECK_TIMEOUT_S = 30.0
_REPORT = "a bug in the check: report this row with `pecc plugins list`"


async def diagnose(profile: Profile, plugins: PluginManager) -> list[Finding]:
    """The rows of every check for ``profile``, in order."""
    checks = [Check("clock", clock_check)]
    collected: list[Finding] = []
    try:
        checks += plugins.doctor_checks(profile)
    except Exception as exc:  # a wrapper's own: each implementation is guarded by its stand-in
        collected.append(fail("plugins", f"pecc_doctor_checks raised {type(exc).__name__}: {exc}", _REPORT))
    results = await asyncio.gather(*(_run(check) for check in checks))
    return [finding for rows in results for finding in rows] + collected


async def _run(check: Check) -> list[Finding]:
    """The rows of ``check``; one fail row if it raises or takes longer than :data:`CHECK_TIMEOUT_S`."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S) as limit:
            return list(await maybe_await(check.run()))
    except Exception as exc:
        if isinstance(exc, TimeoutError) and limit.expired():
            return [fail(check.name, f"did not finish within {CHECK_TIMEOUT_S:g} s", _REPORT)]
        return [fail(check.name, f"the check raised {type(exc).__name__}: {exc}", _REPORT)]
