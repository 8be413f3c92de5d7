"""The clock check: a controller whose clock is wrong logs wrong dates and refuses valid certificates.

A cabinet without a real-time clock battery or NTP boots in 1970 or at
its image's build date. The check compares the wall clock with the time
this installation's files were written: a clock before it is wrong. The
TLS checks compare it with each certificate's validity besides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pecc_core.clock import wall
from pecc_core.doctor import Finding, fail, ok

_FIX = "set the clock: `timedatectl set-ntp true` (NTP reachable), or `timedatectl set-time`"


def clock_check(now: float | None = None, installed: float | None = None) -> list[Finding]:
    """One row: the wall clock (``now``) is not before the package's files (``installed``)."""
    now = wall() if now is None else now
    installed = Path(__file__).stat().st_mtime if installed is None else installed
    said, floor = _utc(now), _utc(installed)
    if now < installed:
        return [fail("clock", f"{said}: before this installation's files ({floor})", _FIX)]
    return [ok("clock", f"{said}, after this installation's files ({floor})")]


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
