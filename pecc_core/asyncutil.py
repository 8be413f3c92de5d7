"""Small asyncio helpers shared by the core."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


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
