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

A test that runs 20 s short of its timeout (pytest-timeout, ``pyproject.toml``)
gets the stacks of every asyncio task written to its stderr: the timeout's
own report shows threads only, and a hung asyncio test's thread is idle in
``select``; what it waits for is in a coroutine.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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


#: Seconds before the timeout at which a test's asyncio tasks are written out.
TASKS_BEFORE_TIMEOUT_S = 20.0


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
    """Every asyncio task's stack, from the timer's thread: the loop is hung, so it holds still.

    asyncio keeps its tasks in a module-level set; ``asyncio.all_tasks`` wants a
    loop, and only the hung thread knows it.
    """
    try:
        tasks = list(asyncio.tasks._all_tasks)  # type: ignore[attr-defined]
    except RuntimeError:  # the set changed meanwhile: the loop is not hung after all
        return
    print(f"\n{len(tasks)} asyncio tasks near the timeout:", file=sys.stderr)
    for task in tasks:
        if not task.done():
            task.print_stack(file=sys.stderr)
