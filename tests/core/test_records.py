"""The history's record types."""

from __future__ import annotations

import copy

from pecc_core.records import Session


def test_a_session_copy_has_every_field_and_lives_apart() -> None:
    session = Session("s1", "1-1", "WMI123", 10.0, 70.0, 12.5, 48_000.0, "evStopped", "completed")
    copied = session.copy()
    assert copied == copy.copy(session)
    assert copied is not session
    session.energy_wh = 13.0
    assert copied.energy_wh == 12.5
