"""A gun's last cable check on its own: the figures the running check fills in and the sample it ended on.

No station and no gun: the record is what the check hands the part; the
part is checked through its read-only views.
"""

from __future__ import annotations

import pytest

from pecc_core.gun.last_check import CheckRecord, LastCheck
from pecc_core.model import Isolation


def test_nothing_before_the_first_check() -> None:
    last = LastCheck()
    assert last.record is None
    assert last.isolation_seq == 0  # every IMD sample of a session is newer


def test_the_figures_show_as_the_running_check_fills_them_in() -> None:
    last = LastCheck()
    record = last.begin(CheckRecord(450.0, 12.5, ev_max=400.0, suggestion=500.0))
    assert last.record == CheckRecord(450.0, 12.5, ev_max=400.0, suggestion=500.0)
    record.reached, record.samples, record.passed, record.verdict = 449.0, 1, True, Isolation.VALID
    seen = last.record
    assert seen is not None and (seen.reached, seen.samples, seen.passed, seen.verdict) == (
        449.0, 1, True, Isolation.VALID,
    )


def test_a_new_check_replaces_the_figures_but_not_the_sample_until_it_ends_on_one() -> None:
    last = LastCheck()
    last.begin(CheckRecord(450.0, 1.0)).passed = True
    last.ended_on(7)
    last.begin(CheckRecord(500.0, 60.0))
    seen = last.record
    assert seen is not None and seen.voltage == 500.0 and not seen.passed
    assert last.isolation_seq == 7  # a check that fails before its samples keeps the last one
    last.ended_on(3)  # the IMD counts from 1 again once its monitoring restarts
    assert last.isolation_seq == 3


def test_the_views_cannot_be_written() -> None:
    last = LastCheck()
    last.begin(CheckRecord(450.0, 1.0))
    copy = last.record
    assert copy is not None
    copy.passed = True  # a reader's copy: the figures stay the check's
    assert last.record == CheckRecord(450.0, 1.0)
    with pytest.raises(AttributeError):
        last.record = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        last.isolation_seq = 0  # type: ignore[misc]
