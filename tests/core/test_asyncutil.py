"""pecc_core.asyncutil.cancel: what a stop path needs from cancelling a task."""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.asyncutil import cancel


async def test_the_task_s_cancellation_is_not_passed_on_its_failure_is() -> None:
    sleeper = asyncio.create_task(asyncio.sleep(60))
    await cancel(sleeper)
    assert sleeper.cancelled()

    async def fails_when_stopped() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("clean-up failed") from None

    failing = asyncio.create_task(fails_when_stopped())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="clean-up failed"):
        await cancel(failing)


async def test_a_cancellation_of_the_caller_is_passed_on() -> None:
    """``suppress(CancelledError): await task`` would swallow it, and the caller would carry on."""
    slow_stop = asyncio.Event()

    async def stops_slowly() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await slow_stop.wait()
            raise

    task = asyncio.create_task(stops_slowly())
    await asyncio.sleep(0)
    carried_on = False

    async def stopper() -> None:
        nonlocal carried_on
        await cancel(task)
        carried_on = True

    caller = asyncio.create_task(stopper())
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.wait([caller])
    assert caller.cancelled() and not carried_on
    slow_stop.set()
    await asyncio.wait([task])


async def test_a_clean_up_that_hangs_is_given_up_after_within() -> None:
    async def hangs_when_stopped() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.Event().wait()  # a broker that never acknowledges the disconnect

    task = asyncio.create_task(hangs_when_stopped(), name="site-north")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TimeoutError, match=r"site-north still running 0\.05 s after its cancel"):
        await cancel(task, 0.05)
    assert loop.time() - start == pytest.approx(0.05, abs=1e-9)  # given up at the bound, not later
    task.cancel()  # the test's own clean-up
    await asyncio.wait([task])
