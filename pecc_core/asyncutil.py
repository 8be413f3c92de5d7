"""Small asyncio helpers shared by the core."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def call_maybe_async(method: Callable[[], Any] | None) -> None:
    """Call ``method`` if there is one and await its result if it is awaitable.

    Lets plugins implement ``start``/``stop`` as plain or async methods, or
    leave them out (pluggy itself is synchronous; see datasette's
    ``await_me_maybe``).
    """
    if method is None:
        return
    result = method()
    if inspect.isawaitable(result):
        await result


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
