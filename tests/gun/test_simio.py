"""The simulated I/O drivers: timing on the loop, feedback, injection."""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.io import ContactorError
from pecc_core.model import Isolation
from pecc_core.testing import eventually
from pecc_plugins.simio import (
    SimContactors,
    SimIsolationMonitor,
    SimRelayMatrix,
    SimSupervision,
)
from pecc_plugins.simio.contactors import ContactorParams


async def test_contactor_feedback_follows_after_delay() -> None:
    contactors = SimContactors(closing_ms=20, opening_ms=10)
    loop = asyncio.get_running_loop()
    start = loop.time()
    closing = asyncio.create_task(contactors.set("g", True))
    await asyncio.sleep(0)
    assert contactors.commanded("g") and not contactors.closed("g")
    await closing
    assert contactors.closed("g")
    assert loop.time() - start == pytest.approx(0.020, abs=1e-9)  # the closing time
    start = loop.time()
    await contactors.set("g", False)
    assert not contactors.closed("g")
    assert loop.time() - start == pytest.approx(0.010, abs=1e-9)  # the opening time


async def test_stuck_contactor_raises_and_heals() -> None:
    contactors = SimContactors(closing_ms=0, opening_ms=0, feedback_timeout_ms=10)
    await contactors.set("g", True)
    contactors.stick("g", True)  # welded
    start = asyncio.get_running_loop().time()
    with pytest.raises(ContactorError, match="feedback says closed"):
        await contactors.set("g", False)
    assert asyncio.get_running_loop().time() - start == pytest.approx(0.010, abs=1e-9)  # the feedback timeout
    assert contactors.closed("g") and not contactors.commanded("g")
    contactors.stick("g", None)
    await contactors.set("g", False)
    assert not contactors.closed("g")


def test_contactor_params_defaults_and_errors() -> None:
    assert ContactorParams().load({}) == {"closing_ms": 30, "opening_ms": 20, "feedback_timeout_ms": 200}
    with pytest.raises(Exception, match="unknown key"):
        ContactorParams().load({"closing": 1})


async def test_imd_samples_the_injected_resistance_and_self_tests() -> None:
    imd = SimIsolationMonitor(test_ms=20, sample_ms=5)
    loop = asyncio.get_running_loop()
    assert imd.sample("g") is None
    start = loop.time()
    assert await imd.self_test("g", 500.0)
    assert loop.time() - start == pytest.approx(0.020, abs=1e-9)  # the self-test time
    start = loop.time()
    imd.start_monitoring("g")
    await asyncio.sleep(0.0075)  # mid-way between samples (every 5 ms): no tie with the sampler
    first = imd.sample("g")
    assert first.verdict is Isolation.VALID and first.resistance == 10e6 and first.seq == 1
    assert first.time == pytest.approx(start + 0.005, abs=1e-9)  # one sample period after the start
    imd.set_resistance("g", 50e3)  # below 100 kΩ
    await asyncio.sleep(0.010)  # two sample periods
    assert imd.sample("g").seq == 3 and imd.sample("g").time == pytest.approx(start + 0.015, abs=1e-9)
    assert imd.sample("g").verdict is Isolation.FAULT and imd.sample("g").resistance == 50e3
    imd.inject("g", Isolation.WARNING)
    await eventually(lambda: imd.sample("g").verdict is Isolation.WARNING, what="warning")
    imd.stop_monitoring("g")
    assert imd.sample("g") is None
    imd.fail_self_test("g")
    assert not await imd.self_test("g", 500.0)
    imd.fail_self_test("g", False)
    assert await imd.self_test("g", 500.0)


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
