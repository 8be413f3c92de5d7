"""Checks on the files a profile names: present, and private when they hold secrets.

A private key or a token file that other users of the host can read is a
key anyone on the host has: PECC refuses to start with one, like OpenSSH
does, and says which file and which mode.
"""

from __future__ import annotations

import stat
from pathlib import Path


def problem(key: str, path: Path, private: bool = False) -> str | None:
    """Why the file at ``path`` (profile key ``key``) cannot be used, or None."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"{key}: got {str(path)!r}; cannot be read: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{key}: got {str(path)!r}; expected a file"
    mode = stat.S_IMODE(info.st_mode)
    if private and mode & 0o077:
        return (
            f"{key}: {path} is readable or writable by group/others (mode {mode:04o}); "
            f"expected mode 0600 or stricter (chmod 600 {path})"
        )
    return None
