"""Every hook is documented where vendors look, and sd_notify speaks systemd's protocol."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import socket
from collections.abc import Callable
from pathlib import Path

from pecc_core import hookspecs
from pecc_core.sdnotify import SystemdNotifier
from pecc_plugins.pepws import hookspecs as pepws_hookspecs

REPO = Path(__file__).resolve().parents[2]


#: The core's hooks and those the builtin plugins add (``pecc_addhooks``).
HOOKS = {
    name: obj
    for module in (hookspecs, pepws_hookspecs)
    for name, obj in vars(module).items()
    if name.startswith("pecc_") and inspect.isfunction(obj)
}


def signature_text(function: Callable[..., object], skip_self: bool = False) -> str:
    """``a: A, b: B`` as the docs write a signature (annotations are strings here)."""
    params = list(inspect.signature(function).parameters.values())[1 if skip_self else 0 :]
    return ", ".join(f"{p.name}: {p.annotation}" for p in params)


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    """docs/hooks.md has one heading per hook, ``name(param: Type, ...)``, and no other (as datasette's docs test)."""
    documented = dict(re.findall(r"^### `(pecc_\w+)\((.*)\)`$", (REPO / "docs" / "hooks.md").read_text(), re.MULTILINE))
    assert set(documented) == set(HOOKS), "hooks missing from or unknown to docs/hooks.md"
    for name, hook in HOOKS.items():
        assert inspect.getdoc(hook), f"{name} has no docstring"
        assert documented[name] == signature_text(hook), f"docs/hooks.md shows {name} with another signature"


def test_contributing_shows_each_factory_as_it_is_called() -> None:
    """CONTRIBUTING's hook table: every hook, and each category's factory with its protocol's parameters."""
    contributing = (REPO / "CONTRIBUTING.md").read_text()
    for name in HOOKS:
        observer = name.startswith(("pecc_station_", "pecc_gun_"))
        assert (observer and "`pecc_station_*`, `pecc_gun_*`" in contributing) or name in contributing, name
    rows = dict(re.findall(r"^\s*\| `(pecc_register_\w+)` \|.*\| `factory\((.*)\)` \|$", contributing, re.MULTILINE))
    for name, hook in HOOKS.items():
        register = str(inspect.signature(hook).parameters.get("register", inspect.Parameter("x", 1)).annotation)
        found = re.fullmatch(r"Register\[(\w+)\]", register)
        factory_name = found.group(1) if found else {"RegisterIoDriver": "IoDriverFactory"}.get(register)
        if factory_name is None:
            continue
        factory = getattr(hookspecs, factory_name)
        expected = ", ".join(p for p in inspect.signature(factory.__call__).parameters if p != "self")
        assert rows.get(name) == expected, f"CONTRIBUTING shows {name}'s factory as ({rows.get(name)}), it is ({expected})"


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
        server.setblocking(False)
        fed = []
        with contextlib.suppress(BlockingIOError):
            while True:
                fed.append(server.recv(64))
        assert fed == [b"WATCHDOG=1"] * 3  # at once, then every half period (20 ms): at 0, 20 and 40 ms


def test_without_systemd_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.notify("READY=1")  # no socket: a no-op, no error
