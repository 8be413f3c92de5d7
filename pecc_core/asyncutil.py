"""Small asyncio helpers shared by the core."""

from __future__ import annotations

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
