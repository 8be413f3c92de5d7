"""A gun's work on its own: one sequence at a time, the safe-down holding the modules, bounded replies.

No station and no gun: :class:`Work` takes the gun's id and what makes its
safe-down; here a safe-down that takes a second of loop time.
"""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.gun.work import Work


class SafeDown:
    """A stand-in safe-down: counts its runs, takes ``seconds`` and tells the work it ended."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self.runs = 0
        self.work: Work | None = None

    async def run(self) -> None:
        self.runs += 1
        try:
            await asyncio.sleep(self.seconds)
        finally:
            assert self.work is not None
            self.work.safe_down_ended()


def work_with(safe_down: SafeDown) -> Work:
    work = safe_down.work = Work("1-1", safe_down.run)
    return work


async def test_the_safe_down_runs_once_and_holds_the_modules_until_it_ends() -> None:
    safe_down = SafeDown()
    work = work_with(safe_down)
    loop = asyncio.get_running_loop()
    assert not work.holds_modules
    start = loop.time()
    work.safe_down()
    work.safe_down()  # already under way: not started twice
    assert work.holds_modules
    await work.safe_down_then(5.0)
    assert loop.time() - start == pytest.approx(1.0, abs=1e-9)
    assert safe_down.runs == 1 and not work.holds_modules


async def test_the_safe_down_cancels_a_running_cable_check() -> None:
    work = work_with(SafeDown())
    check_ended = asyncio.Event()

    async def cable_check() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            check_ended.set()

    work.start(cable_check(), "cable-check")
    await asyncio.sleep(0)
    work.safe_down()
    async with asyncio.timeout(0.001):  # cancelled at once, not after 60 s
        await check_ended.wait()


async def test_a_reply_waits_for_the_safe_down_at_most_300_ms() -> None:
    work = work_with(SafeDown(seconds=2.0))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await work.stop_and_reply()
    assert loop.time() - start == pytest.approx(0.3, abs=1e-9)
    assert work.holds_modules  # the rest goes on behind the reply
    await asyncio.sleep(1.7)
    assert not work.holds_modules


async def test_kept_tasks_are_held_until_done() -> None:
    work = work_with(SafeDown())
    done = asyncio.Event()

    async def short() -> None:
        await asyncio.sleep(0.1)
        done.set()

    work.keep(asyncio.get_running_loop().create_task(short()))
    await asyncio.sleep(0.2)
    assert done.is_set()
