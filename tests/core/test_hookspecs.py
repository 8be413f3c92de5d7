"""Every hook is documented where vendors look, and sd_notify speaks systemd's protocol."""

from __future__ import annotations

import asyncio
import inspect
import socket
from pathlib import Path

from pecc_core import hookspecs
from pecc_core.sdnotify import SystemdNotifier

REPO = Path(__file__).resolve().parents[2]


def test_every_hook_has_a_docstring_and_is_in_contributing() -> None:
    contributing = (REPO / "CONTRIBUTING.md").read_text()
    hooks = [name for name, obj in vars(hookspecs).items() if name.startswith("pecc_") and inspect.isfunction(obj)]
    assert len(hooks) >= 10
    for name in hooks:
        assert inspect.getdoc(getattr(hookspecs, name)), f"{name} has no docstring"
        documented = name in contributing or (name.startswith(("pecc_station_", "pecc_gun_")) and "`pecc_station_*`, `pecc_gun_*`" in contributing)
        assert documented, f"{name} is missing from CONTRIBUTING.md"


async def test_systemd_notifications_and_watchdog(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(tmp_path / "notify"))
        server.settimeout(2)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "40000"})
        assert notifier.enabled and notifier.watchdog_interval == 0.02
        notifier.notify("READY=1")
        assert server.recv(64) == b"READY=1"
        task = asyncio.create_task(notifier.keep_alive())
        await asyncio.sleep(0.05)
        task.cancel()
        assert server.recv(64) == b"WATCHDOG=1"
        assert server.recv(64) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.notify("READY=1")  # no socket: a no-op, no error
