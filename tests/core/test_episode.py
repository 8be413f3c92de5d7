"""Repeating log lines: an episode of failures as two lines (per key too); a throttle's burst and count."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from pecc_core.episode import Episode, Episodes, LogThrottle

LOGGER = "test.episode"


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


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_an_episode_is_its_first_failure_and_its_end_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    episode = Episode(logging.getLogger(LOGGER), "bus can0", ok_level=logging.INFO)
    episode.ok()  # nothing running: nothing to say
    for i in range(5):
        episode.failed(f"error {i}", level=logging.ERROR)
    assert (episode.active, episode.count) == (True, 5)
    episode.ok()
    episode.ok()
    assert messages(caplog) == [
        (logging.ERROR, "bus can0: error 0"),
        (logging.INFO, "bus can0: works again after 5 failures"),
    ]
    assert (episode.active, episode.count) == (False, 0)


def test_a_failure_after_the_end_starts_a_new_episode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    episode = Episode(logging.getLogger(LOGGER), "polling")
    episode.failed("timeout")
    episode.ok()
    episode.failed("timeout again")
    episode.failed("timeout again")
    assert messages(caplog) == [
        (logging.WARNING, "polling: timeout"),
        (logging.WARNING, "polling: works again after 1 failures"),
        (logging.WARNING, "polling: timeout again"),
    ]


def test_the_first_failure_carries_its_traceback_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    episode = Episode(logging.getLogger(LOGGER), "handler")
    try:
        raise ValueError("bad frame")
    except ValueError as exc:
        episode.failed(exc, traceback=True)
    (record,) = caplog.records
    assert record.getMessage() == "handler: bad frame"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_each_key_has_its_own_episode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    episodes: Episodes[tuple[str, str]] = Episodes(
        logging.getLogger(LOGGER), lambda key: f"plugin {key[0]} in {key[1]}", ok_level=logging.INFO
    )
    for _ in range(3):
        episodes.failed(("a", "hook1"), "raised")
        episodes.failed(("a", "hook2"), "raised", level=logging.ERROR)
    episodes.ok(("a", "hook1"))
    episodes.ok(("b", "hook1"))  # never failed: nothing to say
    episodes.failed(("a", "hook2"), "raised")
    assert messages(caplog) == [
        (logging.WARNING, "plugin a in hook1: raised"),
        (logging.ERROR, "plugin a in hook2: raised"),
        (logging.INFO, "plugin a in hook1: works again after 3 failures"),
    ]
    assert not episodes.active(("a", "hook1")) and episodes.active(("a", "hook2"))


def test_keys_are_kept_only_while_their_episode_runs() -> None:
    """Memory follows what fails now, not every key ever seen."""
    episodes: Episodes[int] = Episodes(logging.getLogger(LOGGER), str)
    for key in range(1000):
        episodes.failed(key, "x")
        episodes.ok(key)
    assert episodes._running == {}


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
