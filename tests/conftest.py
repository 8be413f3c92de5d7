"""Shared test configuration: the fixtures come from the `pecc` pytest plugin (pecc_core.testing).

Hypothesis profiles. No profile has a per-example deadline: a deadline is a
timed assertion, and the suite must pass on a small machine shared with
other jobs (a slow example there says nothing about the code).

- ``ci`` (chosen when the environment sets ``CI``): derandomized, so a CI
  run is repeatable and a red build is the code's fault, not the draw's;
  prints the reproduction blob of a failure.
- ``explore`` (the default, e.g. ``make test`` by hand): random examples,
  so local runs keep finding new cases.

``HYPOTHESIS_PROFILE=ci|explore`` picks one by hand.

Two kinds of test (CONTRIBUTING.md, "Writing tests"):

- every asyncio test runs on **virtual time** (looptime's event loop): the
  loop's clock stands still while anything is ready to run and jumps to
  the next timer when every task waits, so ``asyncio.sleep(30)`` takes no
  wall time, a busy machine cannot make a simulated module silent, and
  timings are asserted exactly. Fixtures run on the same loop and clock.
- a test marked ``system`` (it needs other processes, a broker, a browser
  or real elapsed time) runs on an ordinary loop with wall-clock time;
  ``pytest -m "not system"`` is the fast loop while working.

A test that runs 20 s short of its timeout (pytest-timeout, ``pyproject.toml``)
gets the stacks of every asyncio task written to its stderr: the timeout's
own report shows threads only, and a hung asyncio test's thread is idle in
``select``; what it waits for is in a coroutine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pecc_core.testing import virtual_loop

_LOADED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, print_blob=True, **_LOADED)  # type: ignore[arg-type]
settings.register_profile("explore", **_LOADED)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "explore"))


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's stations keep their history and runtime files in the test's own directory."""
    directory = tmp_path / "state"
    monkeypatch.setenv("PECC_STATE_DIR", str(directory))
    monkeypatch.delenv("PECC_CTL_PORT", raising=False)
    return directory


@pytest.fixture(autouse=True)
def own_logging() -> Iterator[None]:
    """Each test leaves logging as it found it.

    An in-process CLI run configures logging for good
    (:func:`pecc_core.logs.configure`: the root's handlers replaced, its
    level and some loggers' set), which changed what every later test of
    the worker saw in ``caplog`` (the root at INFO, websockets at WARNING)
    and dropped pytest's own session handlers.
    """
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {logger: logger.level for logger in _loggers()}
    yield
    for logger in _loggers():  # those the test made too: back to NOTSET
        logger.setLevel(levels.get(logger, logging.NOTSET))
    for handler in list(root.handlers):
        if handler not in handlers and type(handler) is logging.StreamHandler:  # the CLI's own
            root.removeHandler(handler)
    for handler in handlers:  # pytest's capture handlers come and go with each phase: not those
        if handler not in root.handlers and type(handler).__name__ != "LogCaptureHandler":
            root.addHandler(handler)


def _loggers() -> list[logging.Logger]:
    """The root and every logger made so far (not the placeholders of dotted names)."""
    made = logging.root.manager.loggerDict.values()
    return [logging.getLogger(), *(logger for logger in made if isinstance(logger, logging.Logger))]


#: Seconds before the timeout at which a test's asyncio tasks are written out.
TASKS_BEFORE_TIMEOUT_S = 20.0

#: The event loop of the asyncio test running now (for the task dump).
_loops: list[asyncio.AbstractEventLoop] = []


def _virtual_loop() -> asyncio.AbstractEventLoop:
    """A loop on virtual time from its first callback: fixtures and test share its clock.

    looptime's own switch enables it for the test function only, so a station
    started by a fixture would see the clock jump from real to virtual time;
    this loop is virtual for its whole life.
    """
    loop = virtual_loop()
    _loops[:] = [loop]
    return loop


def _real_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    _loops[:] = [loop]
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Virtual time for every asyncio test but those marked ``system``."""
    if item.get_closest_marker("system") is not None:
        return {"real": _real_loop}
    return {"virtual": _virtual_loop}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A ``system`` mark must say why the test needs real time: ``@pytest.mark.system("a broker")``.

    The ``heavy`` tests go first (a stable sort: the same order in every
    xdist worker): the longest ones then run beside the many short ones
    instead of after them.
    """
    for item in items:
        mark = item.get_closest_marker("system")
        if mark is not None and not (mark.args and isinstance(mark.args[0], str) and mark.args[0]):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.system needs its reason as its argument")
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    timeout = float(item.config.getini("timeout") or 0)
    timer = threading.Timer(max(timeout - TASKS_BEFORE_TIMEOUT_S, 1.0), _print_tasks) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        return (yield)
    finally:
        if timer is not None:
            timer.cancel()


def _print_tasks() -> None:
    """Every asyncio task's stack, from the timer's thread: the loop is hung, so it holds still."""
    if not _loops or _loops[0].is_closed():
        return
    try:
        tasks = list(asyncio.all_tasks(_loops[0]))
    except RuntimeError:  # the set changed meanwhile: the loop is not hung after all
        return
    print(f"\n{len(tasks)} asyncio tasks near the timeout:", file=sys.stderr)
    for task in tasks:
        if not task.done():
            task.print_stack(file=sys.stderr)
