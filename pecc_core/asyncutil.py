"""Small asyncio helpers shared by the core."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: The event loops :func:`run` offers: ``auto`` is uvloop where it is installed.
LOOPS = ("auto", "uvloop", "asyncio")


def event_loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for ``choice`` (None: the standard loop).

    ``auto`` takes uvloop where it is installed (the PEP-WS hot path
    measured faster on it, see benchmarks/RESULTS.md) and the standard loop
    elsewhere. ValueError for another choice, or ``uvloop`` without uvloop.
    """
    if choice not in LOOPS:
        raise ValueError(f"got {choice!r}; expected {', '.join(LOOPS)}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ValueError("got 'uvloop'; uvloop is not installed") from None
        return None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: which of :data:`LOOPS` ``loop`` is (for the log, and where they differ)."""
    return "uvloop" if type(loop).__module__.split(".")[0] == "uvloop" else "asyncio"


def run(main: Coroutine[Any, Any, T], loop: str = "auto") -> T:
    """``asyncio.run(main)`` on the event loop ``loop`` (one of :data:`LOOPS`)."""
    with asyncio.Runner(loop_factory=event_loop_factory(loop)) as runner:
        return runner.run(main)


async def maybe_await(value: T | Awaitable[T]) -> T:
    """``value``, awaited if it is awaitable (datasette's ``await_me_maybe``).

    Lets plugins implement a callback as a plain or an async function
    (pluggy itself is synchronous).
    """
    if inspect.isawaitable(value):
        return await value
    return value


async def call_maybe_async(method: Callable[[], object] | None) -> None:
    """Call ``method`` if there is one, awaiting its result: optional ``start``/``stop``."""
    if method is not None:
        await maybe_await(method())


async def poll_until(check: Callable[[], bool], timeout: float, interval: float) -> bool:
    """Call ``check()`` every ``interval`` s until it is true (True) or ``timeout`` s pass (False).

    For conditions nothing signals, such as a GPIO feedback line or modules
    answering their first poll; it sleeps between checks, never blocks the loop.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def cancel(task: asyncio.Task[Any] | None, within: float | None = None) -> None:
    """Cancel ``task`` (if any) and return once it has finished.

    Its cancellation is not passed on; its failure is, and so is a
    cancellation of the caller: ``with suppress(CancelledError): await task``
    would swallow the caller's too, and a cancelled caller that carries on
    (a test's simulator, a stopping station) may never end. ``within``:
    TimeoutError if the task has not finished that many seconds after the
    cancel (its clean-up hangs: a stop must not wait for it forever).
    """
    if task is None:
        return
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=within)
    if not done:
        raise TimeoutError(f"task {task.get_name()} still running {within:g} s after its cancel")
    if not task.cancelled() and (failure := task.exception()) is not None:
        raise failure
