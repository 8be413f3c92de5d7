"""How ``pecc doctor`` shows its rows: a table for a person, JSON for a script."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from pecc_core.doctor import Finding, Status

_STYLES = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}


def table(findings: Sequence[Finding], title: str) -> Table:
    """One row per finding: check, status (coloured), what was found, what to do."""
    view = Table("check", "status", "detail", "fix", title=title, title_justify="left")
    for row in findings:
        view.add_row(row.check, Text(str(row.status), style=_STYLES[row.status]), Text(row.detail), Text(row.fix))
    return view


def as_json(findings: Sequence[Finding]) -> str:
    return json.dumps([row.as_json() for row in findings], indent=2)


def summary(findings: Sequence[Finding]) -> str:
    """``3 fail, 1 warn, 12 ok``."""
    counts = {status: sum(row.status is status for row in findings) for status in Status}
    return ", ".join(f"{counts[status]} {status}" for status in (Status.FAIL, Status.WARN, Status.OK))
