"""systemd service notifications: READY, STOPPING and the watchdog.

With ``Type=notify`` systemd considers PECC started only once the profile is
validated, the drivers run and the port is bound (``READY=1``). With
``WatchdogSec=`` it restarts PECC when the event loop stalls: the keep-alive
is sent from a task on the loop itself, so a blocked loop stops feeding it.
Without ``NOTIFY_SOCKET`` (not under systemd) everything here is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends sd_notify(3) messages to the socket systemd gave us."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> None:
        """Send one notification; failures are logged, never raised."""
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("systemd notification %r failed: %s", message.split("\n", maxsplit=1)[0], exc)

    async def keep_alive(self) -> None:
        """Feed the watchdog at half its period, forever (cancel to stop)."""
        if self.watchdog_interval is None or not self._address:
            return
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval)
