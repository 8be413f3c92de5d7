"""The simulated I/O drivers: timing on the loop, feedback, injection."""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.io import ContactorError
from pecc_core.model import Isolation
from pecc_plugins.simio import (
    SimContactors,
    SimIsolationMonitor,
    SimRelayMatrix,
    SimSupervision,
)
from pecc_plugins.simio.contactors import ContactorParams


async def test_contactor_feedback_follows_after_delay() -> None:
    contactors = SimContactors(closing_ms=20, opening_ms=10)
    closing = asyncio.create_task(contactors.set("g", True))
    await asyncio.sleep(0)
    assert contactors.commanded("g") and not contactors.closed("g")
    await closing
    assert contactors.closed("g")
    await contactors.set("g", False)
    assert not contactors.closed("g")


async def test_stuck_contactor_raises_and_heals() -> None:
    contactors = SimContactors(closing_ms=0, opening_ms=0, feedback_timeout_ms=10)
    await contactors.set("g", True)
    contactors.stick("g", True)  # welded
    with pytest.raises(ContactorError, match="feedback says closed"):
        await contactors.set("g", False)
    assert contactors.closed("g") and not contactors.commanded("g")
    contactors.stick("g", None)
    await contactors.set("g", False)
    assert not contactors.closed("g")


def test_contactor_params_defaults_and_errors() -> None:
    assert ContactorParams().load({}) == {"closing_ms": 30, "opening_ms": 20, "feedback_timeout_ms": 200}
    with pytest.raises(Exception, match="unknown key"):
        ContactorParams().load({"closing": 1})


async def test_imd_reports_after_test_time_and_follows_injection() -> None:
    imd = SimIsolationMonitor(test_ms=20)
    imd.start()  # station lifecycle call: nothing to do
    imd.start("g")
    assert imd.result("g") is Isolation.INVALID
    await asyncio.sleep(0.05)
    assert imd.result("g") is Isolation.VALID
    imd.inject("g", Isolation.FAULT)  # during charge: shows at once
    assert imd.result("g") is Isolation.FAULT
    imd.stop("g")
    assert imd.result("g") is Isolation.INVALID
    imd.inject("g", Isolation.WARNING)
    imd.start("g")
    await asyncio.sleep(0.05)
    assert imd.result("g") is Isolation.WARNING
    imd.stop()
    assert imd.result("g") is Isolation.INVALID


def test_supervision_per_gun() -> None:
    supervision = SimSupervision()
    assert supervision.allowed("a")
    supervision.allow("a", False)
    assert not supervision.allowed("a") and supervision.allowed("b")
    supervision.allow("a", True)
    assert supervision.allowed("a")


async def test_matrix_breaks_before_make() -> None:
    matrix = SimRelayMatrix(switching_ms=10)
    assert matrix.gun_of(3) is None
    await matrix.connect(3, "g1")
    assert matrix.gun_of(3) == "g1"
    moving = asyncio.create_task(matrix.connect(3, "g2"))
    await asyncio.sleep(0)
    assert matrix.gun_of(3) is None
    await moving
    assert matrix.gun_of(3) == "g2"
