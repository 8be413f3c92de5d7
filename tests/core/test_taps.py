"""Taps watch a hot path and cannot break it: one that raises is logged and taken off."""

from __future__ import annotations

import logging

import pytest

from pecc_core.taps import Taps


def test_every_tap_sees_every_call_in_turn() -> None:
    seen: list[tuple[str, int]] = []
    taps: Taps[[int]] = Taps("bus")
    taps.add(lambda n: seen.append(("a", n)))
    taps.add(lambda n: seen.append(("b", n)))
    taps(1)
    taps(2)
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_a_tap_that_raises_is_taken_off_and_the_others_go_on(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    def broken(n: int) -> None:
        raise RuntimeError("watcher bug")

    taps: Taps[[int]] = Taps("can1")
    taps.add(broken)
    taps.add(seen.append)
    with caplog.at_level(logging.ERROR, logger="pecc_core.taps"):
        taps(1)  # does not raise
        taps(2)
    assert seen == [1, 2]
    assert taps.all == (seen.append,)
    assert [r.getMessage() for r in caplog.records] == [
        f"can1: a tap raised and was taken off (taps only watch): {broken!r}"
    ]
    assert caplog.records[0].exc_info is not None  # with its traceback


class Recorder:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def tap(self, n: int) -> None:
        self.seen.append(n)


def test_a_bound_method_is_removed_by_equality() -> None:
    recorder = Recorder()
    taps: Taps[[int]] = Taps("PEP-WS")
    taps.add(recorder.tap)
    taps.remove(recorder.tap)  # a new bound-method object, equal to the one added
    taps(1)
    assert taps.all == () and recorder.seen == []
