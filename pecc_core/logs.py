"""The log an operator reads: text or JSON lines, journald-aware, a level per logger.

- ``text``: ``time LEVEL logger: message``. Under journald (systemd sets
  ``JOURNAL_STREAM`` to stderr's device and inode) the time is left out,
  as the journal stamps every line itself, and each line starts with its
  syslog priority (``<4>`` for a warning) so that ``journalctl -p`` works.
- ``json``: one JSON object per line (python-json-logger) with ``time``
  (not under journald), ``level``, ``logger``, ``message`` and the record's
  context: ``gun`` and ``module`` where the line concerns one (passed as
  ``extra={"gun": ...}`` and ``extra={"module_address": ...}``, the
  module's name ``can1:5`` (:class:`~pecc_core.power.ModuleId`): a record's
  own ``module`` is the Python module), ``exc_info`` for a traceback.

Levels: the root level (``log_level``, ``--log-level``) and one per logger
(``log_levels`` in the profile). Libraries that log what PECC already logs
with more context are quieter by default (:data:`QUIET`): websockets'
``connection open`` / ``closed`` would say each SECC connect twice.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import IO

from pythonjsonlogger.json import JsonFormatter

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")

#: Per-logger levels applied before the profile's (which override them).
QUIET: Mapping[str, str] = {"websockets": "WARNING", "aiohttp.access": "WARNING"}

#: syslog priorities of the logging levels (sd-daemon(3) prefixes).
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def under_journald(stream: IO[str] = sys.stderr, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``stream`` is the journal: ``JOURNAL_STREAM`` names its ``device:inode``.

    Checked against the stream itself, not just the variable's presence: a
    child of a service (or a shell started from one) inherits the
    variable but may log elsewhere.
    """
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError):  # no file descriptor (captured, closed)
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


class JournalFormatter(logging.Formatter):
    """``<priority>logger: message``: the journal adds the time, the priority sets its level."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{super().format(record)}"


def formatter(log_format: str, journald: bool) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "module_address": "module"},
            timestamp=False if journald else "time",
        )
    if journald:
        return JournalFormatter()
    return logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def configure(
    level: str,
    log_format: str = "text",
    levels: Mapping[str, str] | None = None,
    stream: IO[str] = sys.stderr,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Send every log record to ``stream`` in ``log_format``; set the root's and each logger's level.

    The arguments are validated already (profile schema, CLI); replaces
    any handler configured before (``force``), as ``basicConfig`` does.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format, under_journald(stream, environ)))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name, name_level in {**QUIET, **(levels or {})}.items():
        logging.getLogger(name).setLevel(name_level)
