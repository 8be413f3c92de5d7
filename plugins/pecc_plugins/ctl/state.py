"""Where the ops server keeps its files: the state directory.

In order: the ``ctl`` service's ``state_dir`` param, ``PECC_STATE_DIR``,
systemd's ``STATE_DIRECTORY`` (``StateDirectory=`` in the unit), else
``$XDG_STATE_HOME/pecc/<profile name>`` (``~/.local/state/pecc/<name>``).
It holds ``history.sqlite3`` (events, sessions, run-time limits),
``ctl.json`` (the URL of the running control API, for ``pecc ctl``) and
``incidents/`` (what the flight recorder wrote: docs/incidents.md).
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_ENV = ("PECC_STATE_DIR", "STATE_DIRECTORY")


def state_dir(configured: str | None, profile_name: str) -> Path:
    if configured:
        return Path(configured).expanduser()
    for name in STATE_ENV:
        value = os.environ.get(name)
        if value:
            return Path(value.split(":")[0])  # systemd lists several directories with ':'
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "pecc" / profile_name


def runtime_file(directory: Path) -> Path:
    return directory / "ctl.json"


def history_file(directory: Path) -> Path:
    return directory / "history.sqlite3"


def incidents_dir(directory: Path) -> Path:
    return directory / "incidents"
