"""The log throttle of an SECC's noise: a burst, then the count of what it held back when the window ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from pecc_plugins.pepws.logthrottle import LogThrottle

LOGGER = "test.throttle"


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[float, str]]:
    return [(round(r.created_at_loop, 6), r.getMessage()) for r in caplog.records]  # type: ignore[attr-defined]


@pytest.fixture
async def stamped(caplog: pytest.LogCaptureFixture) -> AsyncIterator[pytest.LogCaptureFixture]:
    """Log records stamped with the loop's (virtual) time they were made at."""
    loop = asyncio.get_running_loop()

    class Stamp(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.created_at_loop = loop.time()
            return True

    logger = logging.getLogger(LOGGER)
    stamp = Stamp()
    logger.addFilter(stamp)
    caplog.set_level(logging.INFO, LOGGER)
    yield caplog
    logger.removeFilter(stamp)


async def test_a_burst_goes_through_and_the_rest_is_counted_when_the_window_ends(stamped: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger(LOGGER), burst=3, window=60)
    t0 = asyncio.get_running_loop().time()
    for i in range(10):
        throttle.log(logging.INFO, "line %d", i)
    assert [text for _, text in lines(stamped)] == ["line 0", "line 1", "line 2"]
    await asyncio.sleep(61)  # no further line comes: the count is told at the window's end all the same
    assert lines(stamped)[-1] == (round(t0 + 60, 6), "... 7 more such lines held back")
    throttle.log(logging.INFO, "line %d", 10)  # a new window
    assert lines(stamped)[-1][1] == "line 10"
    assert len(stamped.records) == 5


async def test_nothing_held_back_says_nothing(stamped: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger(LOGGER), burst=3, window=1)
    for i in range(3):
        throttle.log(logging.WARNING, "line %d", i)
    await asyncio.sleep(5)
    assert [text for _, text in lines(stamped)] == ["line 0", "line 1", "line 2"]
