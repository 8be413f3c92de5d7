"""``pecc secc-sim``: the command line of the SECC simulator.

Imported only when the command runs (the plugin's hook registers a thin
wrapper), so ``pecc run`` does not pay for rich's live display.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live

from pecc_core.clock import stopwatch
from pecc_plugins.seccsim import scenario as scenarios
from pecc_plugins.seccsim import tls
from pecc_plugins.seccsim.display import live_table, summary
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

EXIT_FAILED = 1
EXIT_USAGE = 2


def gun_urls(urls: list[str], profile: str | None, host: str | None, port: int | None) -> list[str]:
    """The URLs to simulate: given ones, or every gun URL of ``profile``."""
    return list(gun_owners(urls, profile, host, port))


def gun_owners(
    urls: list[str], profile: str | None, host: str | None, port: int | None
) -> dict[str, str | None]:
    """The URLs to simulate, each with its SECC id when they come from ``profile``."""
    if urls and profile:
        raise typer.BadParameter("give URLs or --profile, not both")
    from pecc_core.profile import ProfileError, load
    from pecc_core.profile.loader import check_server_flags

    try:
        check_server_flags(host, port)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc)) from None
    if profile is None:
        if not urls:
            raise typer.BadParameter("give at least one ws:// URL, or --profile NAME")
        return dict.fromkeys(urls)
    try:
        loaded = load(profile)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc)) from None
    return {loaded.url(gun, host, port): gun.secc for gun in loaded.guns}


def secc_sim(
    urls: list[str],
    profile: str | None,
    host: str | None,
    port: int | None,
    guns: int | None,
    sessions: int,
    period_ms: float,
    scenario_file: Path | None,
    time_scale: float,
    duration: float | None,
    reply_timeout_s: float,
    live: bool | None,
    report: Path | None,
    tls_files: tuple[Path | None, Path | None, Path | None, Path | None] = (None, None, None, None),
) -> None:
    """The command's body (options parsed by the hook's wrapper).

    ``tls_files``: ``--ca``, ``--cert``, ``--key``, ``--certs`` (see :mod:`.tls`).
    """
    err = Console(stderr=True)
    try:
        owners = gun_owners(urls, profile, host, port)
        contexts = tls.contexts(owners, *tls_files)
        targets = list(owners)
        car = scenarios.load(scenario_file)
    except (typer.BadParameter, scenarios.ScenarioError, tls.TlsOptionError) as exc:
        err.print(f"pecc secc-sim: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    if guns is not None:
        targets = targets[:guns]
    options = RunOptions(
        sessions=sessions,
        session=SessionOptions(target_period=period_ms / 1000, time_scale=time_scale),
        duration=duration,
        request_timeout=reply_timeout_s,
        tls=contexts,
    )
    console = Console()
    show_live = console.is_terminal if live is None else live
    stats = RunStats()
    started = stopwatch()
    interrupted = False
    try:
        if show_live:
            with Live(
                console=console,
                refresh_per_second=4,
                get_renderable=lambda: live_table(stats, console.height),
            ):
                asyncio.run(simulate(targets, car, options, stats))
        else:
            asyncio.run(simulate(targets, car, options, stats))
    except KeyboardInterrupt:
        interrupted = True
    wall = stopwatch() - started
    if not show_live:
        console.print(live_table(stats, console.height))
    console.print(summary(stats, wall))
    if report is not None:
        try:
            report.write_text(json.dumps({"wall_s": wall, "guns": len(targets), **stats.report()}, indent=2))
        except OSError as exc:
            err.print(f"pecc secc-sim: cannot write the report {report}: {exc.strerror or exc}", markup=False)
            raise typer.Exit(EXIT_FAILED) from None
    if interrupted:
        console.print("interrupted", style="yellow")
        raise typer.Exit(130)
    if not stats.passed:
        raise typer.Exit(EXIT_FAILED)
