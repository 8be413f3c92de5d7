"""What the user sees: a live per-gun table and the end-of-run summary (rich)."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pecc_plugins.seccsim.stats import RunStats, percentile

#: Lines the table needs besides its gun rows (title, header, rules, totals).
_FRAME_LINES = 8


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.port or ''}{parts.path}" if parts.path else url


def live_table(stats: RunStats, height: int) -> Table:
    """One row per gun, as many as fit in ``height`` lines, and a totals row.

    Why a session failed or what protocol error occurred is in the summary.
    """
    table = Table(
        title="PEP-WS SECC simulator",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    for name, width in (
        ("gun", 14),
        ("state", 12),
        ("V", 4),
        ("A", 5),
        ("kW", 5),
        ("SOC %", 5),
        ("ok", 3),
        ("failed", 6),
        ("errors", 6),
    ):
        table.add_column(name, justify="left" if width > 10 else "right", no_wrap=True, min_width=width)
    rows = max(1, height - _FRAME_LINES)
    for gun in stats.guns[:rows]:
        style = "red" if gun.errors or gun.sessions_failed else None
        table.add_row(
            _short(gun.url),
            gun.state,
            f"{gun.voltage:.0f}",
            f"{gun.current:.1f}",
            f"{gun.power_kw:.1f}",
            f"{gun.soc:.1f}",
            str(gun.sessions_ok),
            str(gun.sessions_failed),
            str(gun.errors),
            style=style,
        )
    hidden = len(stats.guns) - rows
    total_kw = sum(g.power_kw for g in stats.guns)
    table.add_section()
    table.add_row(
        f"{len(stats.guns)} guns" + (f" ({hidden} not shown)" if hidden > 0 else ""),
        "",
        "",
        "",
        f"{total_kw:.1f}",
        "",
        str(stats.sessions_ok),
        str(stats.sessions_failed),
        str(stats.error_count),
        style="bold",
    )
    return table


def _ms(values: list[float], p: float) -> str:
    value = percentile(values, p)
    return "-" if math.isnan(value) else f"{value * 1000:.1f} ms"


def summary(stats: RunStats, wall_s: float) -> RenderableType:
    """Sessions, errors and latencies of the whole run."""
    verdict = Text("PASS", style="bold green") if stats.passed else Text("FAIL", style="bold red")
    lines: list[RenderableType] = [
        Text.assemble(
            verdict,
            f"  {stats.sessions_ok} sessions completed, {stats.sessions_failed} failed, "
            f"{stats.error_count} protocol errors, {len(stats.guns)} guns, {wall_s:.1f} s",
        )
    ]
    latency = Table(title="request -> reply latency", title_justify="left")
    for name in ("kind", "requests", "p50", "p99", "max"):
        latency.add_column(name, justify="left" if name == "kind" else "right")
    for kind, values in (*sorted(stats.latency.items()), ("all", stats.all_latencies())):
        latency.add_row(kind, str(len(values)), _ms(values, 50), _ms(values, 99), _ms(values, 100))
    lines.append(latency)
    if stats.phases:
        phases = Table(title="session phases", title_justify="left")
        for name in ("phase", "count", "p50", "max"):
            phases.add_column(name, justify="left" if name == "phase" else "right")
        for name, values in stats.phases.items():
            phases.add_row(name, str(len(values)), f"{percentile(values, 50):.2f} s", f"{max(values):.2f} s")
        lines.append(phases)
    lines.append(
        Text(
            f"status: {len(stats.status_intervals)} intervals, period jitter p99 "
            f"{_ms(stats.status_jitter(), 99)}, longest gap {_ms(stats.status_intervals, 100)}"
        )
    )
    for title, items in (("failed sessions", stats.failures), ("protocol errors", stats.errors)):
        if items:
            lines.append(Text(f"{title} (first {len(items)}):", style="bold"))
            lines.extend(Text(f"  {item}") for item in items)
    return Group(*lines)
