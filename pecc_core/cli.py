"""The ``pecc`` command line (typer).

Every command that takes a profile validates it fully (core schemas and
every plugin's params) before doing anything, and reports problems as a
list on stderr with exit code 2: an integrator sees what to fix, never a
traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from typer.main import get_command_name

from pecc_core import __version__
from pecc_core.errors import ConfigError
from pecc_core.hookspecs import CATEGORIES
from pecc_core.io import IO_ROLES
from pecc_core.logs import FORMATS, LEVELS
from pecc_core.logs import configure as configure_logging
from pecc_core.plugins import PluginError, PluginManager, default_manager
from pecc_core.profile import ProfileError, available
from pecc_core.profile import load as load_profile
from pecc_core.profile.loader import check_server_flags
from pecc_core.profile.model import Profile

log = logging.getLogger(__name__)

EXIT_BAD_PROFILE = 2

app = typer.Typer(
    help="PECC: the Power Electronics Communication Controller of a DC fast charger.\n\n"
    "Serves PEP-WS to the SECCs (one WebSocket URL per gun) and drives the cabinet's "
    "power modules over CAN. Start with: pecc run --profile sim",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
profiles_app = typer.Typer(help="List, show and validate profiles.", no_args_is_help=True)
plugins_app = typer.Typer(help="Show installed plugins.", no_args_is_help=True)
tls_app = typer.Typer(help="Certificates for wss:// with mutual TLS.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")
app.add_typer(plugins_app, name="plugins")
app.add_typer(tls_app, name="tls")

ProfileOpt = Annotated[
    str,
    typer.Option("--profile", "-p", help="Profile name (see 'pecc profiles list') or path to a .toml file."),
]
HostOpt = Annotated[str | None, typer.Option(help="Listen address; overrides server.host of the profile.")]
PortOpt = Annotated[int | None, typer.Option(help="Listen port; overrides server.port of the profile.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pecc {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """PECC command line."""


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_BAD_PROFILE)


def _load(
    name: str,
    host: str | None = None,
    port: int | None = None,
    build: bool = False,
    tls_files: bool = True,
    warnings: list[str] | None = None,
) -> tuple[Profile, PluginManager]:
    """The validated profile with CLI overrides, and the plugins it was checked against.

    With ``build``, every plugin of the profile is also built (not started),
    as ``pecc run`` builds them: a factory's refusal is reported here.
    ``tls_files=False``: the TLS files are not checked (``pecc doctor`` does).
    The plugins' warnings on the profile go to ``warnings``, or, without
    it, to the log.
    """
    try:
        changes = check_server_flags(host, port)
        plugins = default_manager()
        profile = load_profile(name, plugins, tls_files=tls_files, warnings=warnings)
    except (ProfileError, PluginError) as exc:
        raise _fail(str(exc)) from None
    if changes:
        profile = dataclasses.replace(profile, server=dataclasses.replace(profile.server, **changes))
    if build:
        from pecc_core.runtime import Runtime

        try:
            Runtime(profile, plugins).build()
        except ConfigError as exc:
            raise _fail(_invalid(profile, exc)) from None
    return profile, plugins


def _invalid(profile: Profile, exc: ConfigError) -> str:
    return f"invalid profile {profile.source}:\n  - {exc}"


@app.command()
def run(
    profile: ProfileOpt = "sim",
    host: HostOpt = None,
    port: PortOpt = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR; overrides the profile's log_level.")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text or json (JSON lines); overrides the profile's log_format.")
    ] = None,
    ctl_port: Annotated[
        int | None,
        typer.Option(help="Control API port (0: any free port); sets PECC_CTL_PORT for the 'ctl' service."),
    ] = None,
    event_loop: Annotated[
        str,
        typer.Option("--loop", help="auto (uvloop where installed, else asyncio), uvloop, or asyncio (standard)."),
    ] = "auto",
) -> None:
    """Run the PECC in the foreground until SIGINT or SIGTERM.

    On stop every gun goes to standby, every module is switched off and
    every connection is closed; the exit code is then 0.
    """
    from pecc_core.asyncutil import event_loop_factory
    from pecc_core.asyncutil import run as run_loop
    from pecc_core.runtime import serve

    try:
        event_loop_factory(event_loop)
    except ValueError as exc:
        raise _fail(f"--loop: {exc}") from None
    if ctl_port is not None:
        if not 0 <= ctl_port <= 65535:
            raise _fail(f"--ctl-port: got {ctl_port}; expected a port from 0 to 65535")
        os.environ["PECC_CTL_PORT"] = str(ctl_port)
    warned: list[str] = []
    loaded, plugins = _load(profile, host, port, warnings=warned)
    level = (log_level or loaded.log_level).upper()
    if level not in LEVELS:
        raise _fail(f"--log-level: got {log_level!r}; expected one of {', '.join(LEVELS)}")
    log_format = log_format or loaded.log_format
    if log_format not in FORMATS:
        raise _fail(f"--log-format: got {log_format!r}; expected one of {', '.join(FORMATS)}")
    configure_logging(level, log_format, loaded.log_levels)
    for line in warned:  # once the log is set up: where the profile's warnings belong when running
        log.warning("profile %s: %s", loaded.name, line)
    try:
        run_loop(serve(loaded, plugins), event_loop)
    except ConfigError as exc:
        raise _fail(_invalid(loaded, exc)) from None
    except OSError as exc:  # e.g. the port is taken
        typer.echo(f"pecc: cannot start: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def urls(profile: ProfileOpt = "sim", host: HostOpt = None, port: PortOpt = None) -> None:
    """Print the WebSocket URL of every gun, one per line."""
    loaded, _ = _load(profile, host, port)
    for gun in loaded.guns:
        typer.echo(loaded.url(gun))


@app.command()
def doctor(
    profile: ProfileOpt = "sim",
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of {check, status, detail, fix}.")] = False,
) -> None:
    """Check a field install before the first car: CAN, GPIO lines, ports, TLS files, state directory, clock.

    One row per check: ok, warn or fail, and what to do. Exit code 0 when
    nothing fails, 1 when something does, 2 for an invalid profile.
    """
    from rich.console import Console

    from pecc_core.asyncutil import run as run_loop
    from pecc_core.doctor import Status, report
    from pecc_core.doctor.runner import diagnose

    # the profile's warnings are rows of the doctor's own (``can load``)
    loaded, plugins = _load(profile, tls_files=False, warnings=[])
    findings = run_loop(diagnose(loaded, plugins), "asyncio")
    if as_json:
        typer.echo(report.as_json(findings))
    else:
        Console().print(report.table(findings, f"pecc doctor: {loaded.name} ({loaded.source})"))
        typer.echo(report.summary(findings))
    if any(row.status is Status.FAIL for row in findings):
        raise typer.Exit(1)


@profiles_app.command("list")
def profiles_list() -> None:
    """List the profiles found (PECC_PROFILES_DIR, ./profiles, the builtin ones)."""
    for name, path in sorted(available().items()):
        typer.echo(f"{name:<16} {path}")


@profiles_app.command("show")
def profiles_show(name: Annotated[str, typer.Argument(help="Profile name or path.")]) -> None:
    """Print a profile as valid TOML with every default filled in (after PECC_* overrides).

    The output is a profile itself: 'pecc profiles validate' accepts it back.
    """
    import tomli_w

    from pecc_core.profile.dump import to_mapping

    loaded, plugins = _load(name)
    typer.echo(f"# profile {loaded.name} ({loaded.source}), as PECC understands it: defaults filled in")
    typer.echo(tomli_w.dumps(to_mapping(loaded, plugins)), nl=False)


@profiles_app.command("validate")
def profiles_validate(name: Annotated[str, typer.Argument(help="Profile name or path.")]) -> None:
    """Check a profile as ``pecc run`` would, building its plugins without starting them.

    Exit code 2 and a list of problems if it is invalid; its warnings (a
    busy CAN bus) on stderr.
    """
    warned: list[str] = []
    loaded, _ = _load(name, build=True, warnings=warned)
    for line in warned:
        typer.echo(f"warning: {line}", err=True)
    typer.echo(f"{loaded.source}: valid ({len(loaded.seccs)} SECCs, {len(loaded.guns)} guns)")


@tls_app.command("init")
def tls_init(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the certificates and the new profile.")],
    profile: ProfileOpt = "sim",
    name: Annotated[
        list[str] | None,
        typer.Option("--name", help="Another host name or address the SECCs use to reach this PECC (repeatable)."),
    ] = None,
) -> None:
    """A lab CA, the PECC's certificate, one per SECC, and OUT/NAME-tls.toml serving wss:// with mutual TLS."""
    from pecc_core.labca import init

    loaded, _ = _load(profile)
    try:
        issued = init(loaded, out, tuple(name or ()))
    except OSError as exc:
        raise _fail(f"--out: got {str(out)!r}; cannot write there: {exc.strerror or exc}") from None
    typer.echo(f"CA {issued.ca} (keep {out / 'ca.key'} private)")
    typer.echo(f"server certificate {issued.server}")
    for secc, path in issued.clients.items():
        typer.echo(f"SECC {secc}: {path} and {path.with_suffix('.key')}")
    typer.echo(f"profile {issued.profile}: pecc run --profile {issued.profile}")


@plugins_app.command("list")
def plugins_list() -> None:
    """List every installed plugin (version, hooks) and the named things each offers to profiles."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    pm = default_manager()
    installed = Table("plugin", "version", "hooks", title="Installed plugins")
    for info in pm.plugins():
        installed.add_row(info.name, info.version, "\n".join(info.hooks))
    for name, error in sorted(pm.load_errors.items()):
        installed.add_row(name, Text("FAILED TO LOAD", style="red"), Text(error))
    offered = Table("kind", "name", "plugin", "summary", title="What profiles can name")
    try:
        for category in CATEGORIES:
            for reg in pm.registry(category).entries.values():
                offered.add_row(category, reg.name, reg.plugin, Text(reg.summary))
        for role in IO_ROLES:
            for reg in pm.registry(f"io.{role}").entries.values():
                offered.add_row(f"io {role}", reg.name, reg.plugin, Text(reg.summary))
    except PluginError as exc:
        raise _fail(f"pecc: {exc}") from None
    Console().print(installed, offered)


def _not_loaded(name: str, error: str) -> None:
    """``pecc NAME ...`` where plugin NAME did not load: says why (a missing extra: which), not "No such command".

    Hidden, and only for a name no command has: it cannot know what the
    plugin would have added, but ``ctl`` and ``site`` add commands of
    their names.
    """

    def explain() -> None:
        raise _fail(f"pecc {name}: plugin {name!r} not loaded: {error}")

    taken = {info.name for info in app.registered_groups} | {
        info.name or get_command_name(getattr(info.callback, "__name__", "")) for info in app.registered_commands
    }
    if name not in taken:
        settings = {"allow_extra_args": True, "ignore_unknown_options": True}
        app.command(name, hidden=True, add_help_option=False, context_settings=settings)(explain)


def main() -> None:
    """Console-script entry point: the core commands plus those plugins add."""
    plugins = default_manager()
    plugins.add_commands(app)
    for name, error in plugins.load_errors.items():
        _not_loaded(name, error)
    app(prog_name="pecc")


if __name__ == "__main__":
    main()
