"""Log a run of failures once when it starts and once when it ends.

A CAN bus fails at frame rate: a send error, a handler bug or a dead
interface repeats hundreds of times a second; a forged message on a
site's broker can come at any rate. :class:`Episode` turns such a run
into two log lines (the first failure, and the recovery with the count).
"""

from __future__ import annotations

import logging


class Episode:
    """One kind of failure of one component."""

    def __init__(self, logger: logging.Logger, what: str, ok_level: int = logging.WARNING) -> None:
        self._log = logger
        self._what = what
        self._ok_level = ok_level
        self.active = False
        self.count = 0

    def failed(self, detail: object, *, traceback: bool = False, level: int = logging.WARNING) -> None:
        """A failure happened; logged only if it starts an episode."""
        self.count += 1
        if not self.active:
            self.active = True
            self._log.log(level, "%s: %s", self._what, detail, exc_info=traceback)

    def ok(self) -> None:
        """It worked: ends the episode (logged) if one was running."""
        if self.active:
            self._log.log(self._ok_level, "%s: works again after %d failures", self._what, self.count)
            self.active = False
            self.count = 0
