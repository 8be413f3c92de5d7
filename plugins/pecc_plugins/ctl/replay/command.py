"""``pecc replay ARCHIVE``: an incident's SECC side played again against a station, and the verdict.

Exit codes: 0 the behaviour matches the recording, 1 it differs, 2 the
archive cannot be read, the profile does not load or the station cannot
replay it (a sentence on stderr, never a traceback). Only the signature
and the exits live at import: every ``pecc`` invocation loads every
plugin, so the station and the WebSocket client are imported when the
command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

EXIT_DIFFERS = 1
EXIT_UNUSABLE = 2


def _exit(message: str) -> NoReturn:
    typer.echo(f"pecc replay: {message}", err=True)
    raise typer.Exit(EXIT_UNUSABLE)


def replay(
    archive: Annotated[Path, typer.Argument(help="The incident's zip (pecc ctl incidents ID --out FILE) or folder.")],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Replay on a station of this profile.")] = "sim",
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")] = False,
) -> None:
    """Play an incident's recorded SECC side against a station and report where its behaviour differs.

    The station runs in this process (the profile's simulated hardware), the
    incident's module faults are raised again at their time, and the PECC's
    replies, reported states, events and requests are compared with the
    recorded ones (docs/incidents.md, "Replaying an incident"). It takes the
    recording's seconds. Exit code 0: the same behaviour; 1: it differs; 2:
    the archive or the profile cannot be used.
    """
    import asyncio

    from rich.console import Console

    from pecc_core.errors import ConfigError
    from pecc_core.logs import configure
    from pecc_core.plugins import PluginError, default_manager
    from pecc_core.profile import ProfileError
    from pecc_core.profile import load as load_profile
    from pecc_plugins.ctl.replay.archive import ArchiveError, read
    from pecc_plugins.ctl.replay.engine import ReplayError
    from pecc_plugins.ctl.replay.report import check

    try:
        incident = read(archive)
    except ArchiveError as exc:
        _exit(str(exc))
    try:
        plugins = default_manager()
        loaded = load_profile(profile, plugins)
    except (ProfileError, PluginError) as exc:
        _exit(str(exc))
    configure("ERROR")  # the station's own warnings (the replayed fault) would bury the report
    try:
        report = asyncio.run(check(incident, loaded, plugins))
    except (ReplayError, ConfigError, OSError) as exc:
        _exit(f"cannot replay {incident.id}: {exc}")
    if json_:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        console = Console()
        console.print(report.table())
        for note in report.notes:
            console.print(f"note: {note}")
    if not report.matches:
        raise typer.Exit(EXIT_DIFFERS)
