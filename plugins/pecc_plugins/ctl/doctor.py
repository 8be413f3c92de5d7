"""What ``pecc doctor`` checks for the ``ctl`` service: its port, its TLS files, its state directory.

The state directory holds the history and the run-time limits; a
directory PECC cannot write, or a full disk, loses them (the history
refuses to open; the service does not start).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pecc_core.doctor import Check, Finding, fail, ok, warn
from pecc_core.doctor.certs import tls_checks
from pecc_core.doctor.ports import port_check
from pecc_core.profile.model import TlsConfig
from pecc_plugins.ctl.state import STATE_ENV, state_dir

if TYPE_CHECKING:
    from pecc_core.profile.model import Profile

#: Free space below these (bytes) in the state directory: a warning, a failure.
LOW_SPACE = 100 * 2**20
NO_SPACE = 10 * 2**20


def checks(profile: Profile, index: int, params: dict[str, Any]) -> list[Check]:
    """The checks of the ``ctl`` service at ``services[index]`` of ``profile``."""
    key = f"services[{index}].params"
    offered = [Check("ctl port", lambda: [_port(params, key)])]
    tls = params["tls"]
    if tls is not None:
        folder = profile.source.parent
        config = TlsConfig(folder / tls["cert"], folder / tls["key"], None, False)
        offered.append(Check("ctl tls", lambda: tls_checks("ctl tls", f"{key}.tls", config)))
    directory = state_dir(params["state_dir"], profile.name)
    offered.append(Check("state directory", lambda: [state_check(directory, key)]))
    return offered


def _port(params: dict[str, Any], key: str) -> Finding:
    from pecc_plugins.ctl.service import port_from_env

    return port_check("ctl port", params["host"], port_from_env(params["port"]), f"{key}.host", f"{key}.port")


def state_check(directory: Path, key: str) -> Finding:
    """One row: PECC can write ``directory`` (or create it) and its disk has room."""
    where = f"set {key}.state_dir or {STATE_ENV[0]} to a writable directory"
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return fail("state directory", f"{directory}: {existing} is not a directory", where)
    if not os.access(existing, os.W_OK | os.X_OK):
        return fail("state directory", f"{directory}: {existing} is not writable by this user", where)
    if existing == directory:
        try:
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as exc:
            return fail("state directory", f"{directory}: cannot write a file: {exc.strerror or exc}", where)
    free = shutil.disk_usage(existing).free
    said = f"{directory}{'' if existing == directory else ' (created on start)'}, {free / 2**20:.0f} MiB free"
    if free < NO_SPACE:
        return fail("state directory", said, f"free disk space on {existing}, or {where}")
    if free < LOW_SPACE:
        return warn("state directory", said, f"free disk space on {existing} (the history needs room to grow)")
    return ok("state directory", said)
