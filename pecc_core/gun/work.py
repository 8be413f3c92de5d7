"""A gun's background work: its one sequence and the short tasks it keeps.

A gun runs at most one *sequence* at a time — the cable check or the
safe-down — as an asyncio task; starting the safe-down cancels a running
cable check, and a sequence that ends forgets itself. Short tasks that must
not be garbage-collected halfway (an emergency opening, a ``stopCharging``
request) are kept until they are done. The SECC's replies wait for the
sequence only a bounded time (:data:`REPLY_WAIT`): the rest goes on behind
the reply. From the safe-down's start to its end the gun holds its modules
(:attr:`Work.holds_modules`, written here alone): they measure the discharge,
so the allocation leaves them on the gun until then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

#: How long a reply to ``reset`` / ``contactorsStatus: open`` waits for the
#: transition to standby before answering (the rest goes on behind it) (s).
REPLY_WAIT = 0.3


class Work:
    """The sequence and kept tasks of one gun, and whether its safe-down holds its modules.

    ``safe_down`` makes the gun's safe-down sequence
    (:func:`pecc_core.gun.safe_down.run` for the gun), which ends by
    calling :meth:`safe_down_ended`.
    """

    def __init__(self, gun_id: str, safe_down: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._gun_id = gun_id
        self._safe_down = safe_down
        self._sequence: asyncio.Task[None] | None = None  # cable check or safe-down
        self._kept: set[asyncio.Task[Any]] = set()
        self._holds_modules = False

    @property
    def holds_modules(self) -> bool:
        """True during the safe-down: its modules must stay to measure the discharge."""
        return self._holds_modules

    def start(self, sequence: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``sequence`` (the cable check) as the gun's sequence."""
        self._sequence = asyncio.get_running_loop().create_task(sequence, name=f"{name}-{self._gun_id}")

    def forget(self) -> None:
        """At the end of the cable check or safe-down: it is no longer the gun's sequence."""
        if self._sequence is asyncio.current_task():
            self._sequence = None

    def safe_down(self) -> None:
        """Start the safe-down (once), cancelling a running cable check."""
        if self._holds_modules:
            return
        if self._sequence is not None and self._sequence is not asyncio.current_task():
            self._sequence.cancel()
        self._holds_modules = True
        self._sequence = asyncio.get_running_loop().create_task(self._safe_down(), name=f"safe-down-{self._gun_id}")

    def safe_down_ended(self) -> None:
        """The safe-down has ended, whatever its outcome: its modules go back to the allocation."""
        self._holds_modules = False
        self.forget()

    async def safe_down_then(self, timeout: float) -> None:
        """Start the safe-down and wait for it at most ``timeout`` (s)."""
        self.safe_down()
        task = self._sequence
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)

    async def stop_and_reply(self) -> None:
        """Let the transition to standby run, replying after at most :data:`REPLY_WAIT`."""
        await self.safe_down_then(REPLY_WAIT)

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a short background task of this gun until it is done."""
        self._kept.add(task)
        task.add_done_callback(self._kept.discard)
