"""``pecc ctl``: talk to a running PECC's ops server (see docs/control-api.md).

The URL comes from ``--url``, else from the state directory of the
``--profile``'s ``ctl`` service (where a running PECC writes its bound
URL), else from that service's host and port. Answers are ``rich`` tables,
or JSON with ``--json``. ``--url``, ``--profile`` and ``--json`` work before
or after the sub-command. Exit codes: 1 when no API answers, 2 when the
API refuses the request (its message is printed), never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote, urlencode

import typer
from rich.console import Console

from pecc_plugins.ctl import client, tables
from pecc_plugins.ctl.state import runtime_file, state_dir

EXIT_UNREACHABLE = 1
EXIT_REFUSED = 2
FOLLOW_EVERY_S = 1.0

ctl_app = typer.Typer(help="Control a running PECC: guns, modules, limits, history, SECC requests, sim faults.",
                      no_args_is_help=True)
sim_app = typer.Typer(help="Inject faults into a station running the simulated I/O.", no_args_is_help=True)
ctl_app.add_typer(sim_app, name="sim")

UrlOpt = Annotated[str | None, typer.Option(help="Control API URL, e.g. http://127.0.0.1:8766.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", "-p", help="Profile whose 'ctl' service to reach.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer instead of a table.")]
ModuleArg = Annotated[
    str, typer.Argument(metavar="MODULE", help="BUS:ADDRESS, e.g. can1:5 (on a station of one bus, the address alone).")
]
TokenOpt = Annotated[
    str | None,
    typer.Option(envvar="PECC_CTL_TOKEN", help="Bearer token (better: the PECC_CTL_TOKEN variable)."),
]
CaOpt = Annotated[
    str | None, typer.Option("--ca", envvar="PECC_CTL_CA", help="CA file (PEM) to check an https API's certificate."),
]


@dataclass
class Target:
    """Where to send the request and how to print the answer."""

    url: str | None = None
    profile: str | None = None
    json: bool = False
    token: str | None = None
    ca: str | None = None


def profile_url(name: str) -> str:
    """The control API URL of profile ``name``'s ``ctl`` service (refused if it has none)."""
    from pecc_core.plugins import PluginError, default_manager
    from pecc_core.profile import ProfileError
    from pecc_core.profile import load as load_profile

    try:
        profile = load_profile(name, default_manager())
    except (ProfileError, PluginError) as exc:
        _exit(str(exc), EXIT_REFUSED)
    for service in profile.services:
        if service.name == "ctl":
            running = _running_url(state_dir(service.params["state_dir"], profile.name))
            if running is not None:
                return running
            host = service.params["host"]
            return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{service.params['port']}"
    _exit(f"profile {name!r} runs no 'ctl' service: give --url", EXIT_REFUSED)


def _running_url(directory: Path) -> str | None:
    """The URL a running PECC wrote to its state directory, if that process still lives."""
    try:
        written = json.loads(runtime_file(directory).read_text())
        os.kill(int(written["pid"]), 0)
        return str(written["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _exit(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@ctl_app.callback()
def ctl_callback(
    ctx: typer.Context,
    url: UrlOpt = None,
    profile: ProfileOpt = None,
    json_: JsonOpt = False,
    token: TokenOpt = None,
    ca: CaOpt = None,
) -> None:
    """Talk to a running PECC."""
    ctx.obj = Target(url, profile, json_, token, ca)  # inherited by every sub-command's context


def _target(ctx: typer.Context, url: str | None, profile: str | None, json_: bool) -> Target:
    """The options given before the sub-command, overridden by those given after it."""
    before = ctx.find_object(Target) or Target()
    return Target(url or before.url, profile or before.profile, json_ or before.json, before.token, before.ca)


def _call(target: Target, method: str, path: str, body: Any = None) -> Any:
    url = target.url or profile_url(target.profile or "sim")
    try:
        return client.call(url, method, path, body, target.token, target.ca)
    except client.Unreachable as exc:
        _exit(str(exc), EXIT_UNREACHABLE)
    except client.Refused as exc:
        _exit(f"refused: {exc}", EXIT_REFUSED)


def _send(
    ctx: typer.Context, url: str | None, profile: str | None, json_: bool,
    method: str, path: str, body: Any = None, table: Callable[[Any], Any] | None = None,
) -> None:
    """The sub-command's one request, with its options; the answer printed (as ``table`` unless --json)."""
    target = _target(ctx, url, profile, json_)
    _show(target, _call(target, method, path, body), table)


def _show(target: Target, answer: Any, table: Callable[[Any], Any] | None = None) -> None:
    if target.json or table is None:
        typer.echo(json.dumps(answer, indent=2))
    else:
        Console().print(table(answer))


@ctl_app.command()
def guns(ctx: typer.Context, url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False) -> None:
    """Every gun: state, contactors, isolation, V, A, kW, session energy, modules, faults."""
    _send(ctx, url, profile, json_, "GET", "/api/guns", table=tables.guns)


@ctl_app.command()
def gun(
    ctx: typer.Context, gun_id: Annotated[str, typer.Argument(metavar="GUN")],
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """One gun in detail: measurements, limits, caps, session, faults."""
    _send(ctx, url, profile, json_, "GET", f"/api/guns/{gun_id}", table=tables.gun)


@ctl_app.command()
def modules(ctx: typer.Context, url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False) -> None:
    """Every power module: gun, online, usable, mode, V, A, kW, temperature, faults."""
    _send(ctx, url, profile, json_, "GET", "/api/modules", table=tables.modules)


@ctl_app.command()
def limits(
    ctx: typer.Context,
    reset: Annotated[bool, typer.Option("--reset", help="Go back to the profile's limits.")] = False,
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """The run-time limits: site cap, per-gun caps, policy params (--reset: the profile's)."""
    if reset:
        _send(ctx, url, profile, json_, "POST", "/api/limits/reset", {}, table=tables.limits)
    else:
        _send(ctx, url, profile, json_, "GET", "/api/limits", table=tables.limits)


def _cap(text: str | None, option: str) -> float | str | None:
    """A cap option: a number >= 0, or ``none`` to remove the cap ("" when not given)."""
    if text is None:
        return ""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        _exit(f"{option}: got {text!r}; expected a number or 'none'", EXIT_REFUSED)


@ctl_app.command("set-limits")
def set_limits(
    ctx: typer.Context,
    site_max_power_w: Annotated[
        str | None, typer.Option(help="Site grid cap (W); 'none' (or negative): no cap.")] = None,
    gun: Annotated[str | None, typer.Option(help="The gun the caps below apply to.")] = None,
    max_current: Annotated[str | None, typer.Option(help="Gun current cap (A); 'none' removes it.")] = None,
    max_power: Annotated[str | None, typer.Option(help="Gun power cap (W); 'none' removes it.")] = None,
    priority: Annotated[int | None, typer.Option(help="Gun priority (higher first).")] = None,
    policy: Annotated[list[str] | None, typer.Option(help="Policy param KEY=VALUE (JSON value).")] = None,
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """Change run-time limits (only what is given); refused as a whole if any value is bad."""
    body: dict[str, Any] = {}
    site = _cap(site_max_power_w, "--site-max-power-w")
    if site != "":
        body["site_max_power_w"] = None if site is None or float(site) < 0 else site
    caps: dict[str, Any] = {
        k: v
        for k, v in (("max_current_a", _cap(max_current, "--max-current")),
                     ("max_power_w", _cap(max_power, "--max-power")))
        if v != ""
    }
    if priority is not None:
        caps["priority"] = priority
    if caps:
        if gun is None:
            _exit("--max-current, --max-power and --priority need --gun", EXIT_REFUSED)
        body["guns"] = {gun: caps}
    if policy:
        body["policy"] = dict(_assignment(p) for p in policy)
    if not body:
        _exit("nothing to change: give --site-max-power-w, --gun with caps, or --policy", EXIT_REFUSED)
    _send(ctx, url, profile, json_, "PUT", "/api/limits", body, table=tables.limits)


@ctl_app.command()
def events(
    ctx: typer.Context,
    gun: Annotated[str | None, typer.Option(help="Only this gun's events.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only events of this kind (state, fault, refused, ...).")] = None,
    since: Annotated[str | None, typer.Option(help="Unix seconds or an ISO 8601 time.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (the newest).")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")] = False,
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """The station's event history: transitions, faults, SECCs, refusals, limits, operator actions."""
    target = _target(ctx, url, profile, json_)
    query = {k: v for k, v in (("gun", gun), ("kind", kind), ("since", since)) if v is not None}
    answer = _call(target, "GET", "/api/events?" + urlencode({**query, "limit": limit}))
    _show(target, answer, tables.events)
    if follow:
        last = answer["events"][-1]["id"] if answer["events"] else 0
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends following, quietly
            _follow(target, query, last)


def _follow(target: Target, query: dict[str, str], last: int) -> None:
    """Print the events stored after event ``last``, every second, forever."""
    console = Console()
    while True:
        time.sleep(FOLLOW_EVERY_S)
        new = _call(target, "GET", "/api/events?" + urlencode({**query, "after": last, "limit": 10_000}))
        for event in new["events"]:
            if target.json:
                typer.echo(json.dumps(event))
            else:
                console.print("  ".join(tables.event_row(event)), highlight=False)
            last = event["id"]


@ctl_app.command()
def sessions(
    ctx: typer.Context,
    gun: Annotated[str | None, typer.Option(help="Only this gun's sessions.")] = None,
    since: Annotated[str | None, typer.Option(help="Unix seconds or an ISO 8601 time.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (the newest).")] = 50,
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """Charging sessions: gun, vehicle, start, end, energy, peak power, outcome."""
    query = {k: v for k, v in (("gun", gun), ("since", since)) if v is not None}
    path = "/api/sessions?" + urlencode({**query, "limit": limit})
    _send(ctx, url, profile, json_, "GET", path, table=tables.sessions)


@ctl_app.command()
def incidents(
    ctx: typer.Context,
    incident: Annotated[str | None, typer.Argument(help="Download this incident (its id).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write it (default: ID.zip).")] = None,
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """The flight recorder's incidents (docs/incidents.md); with an ID, download its zip archive."""
    if incident is None:
        _send(ctx, url, profile, json_, "GET", "/api/incidents", table=tables.incidents)
        return
    target = _target(ctx, url, profile, json_)
    address = target.url or profile_url(target.profile or "sim")
    try:
        archive = client.download(address, f"/api/incidents/{quote(incident, safe='')}", target.token, target.ca)
    except client.Unreachable as exc:
        _exit(str(exc), EXIT_UNREACHABLE)
    except client.Refused as exc:
        _exit(f"refused: {exc}", EXIT_REFUSED)
    path = out or Path(f"{incident}.zip")
    try:
        path.write_bytes(archive)
    except OSError as exc:
        _exit(f"cannot write {path}: {exc}", EXIT_REFUSED)
    typer.echo(f"incident {incident}: {len(archive)} bytes written to {path}")


@ctl_app.command("stop-charging")
def stop_charging(
    ctx: typer.Context, gun: str, url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False
) -> None:
    """Ask the gun's SECC to end its session (PEP-WS stopCharging)."""
    _send(ctx, url, profile, json_, "POST", f"/api/guns/{gun}/stop-charging", {})


@ctl_app.command("get-input")
def get_input(
    ctx: typer.Context, gun: str, ids: list[str],
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """Read SECC hardware inputs (PEP-WS getInput)."""
    _send(ctx, url, profile, json_, "POST", f"/api/guns/{gun}/inputs", {"ids": ids})


@ctl_app.command("set-output")
def set_output(
    ctx: typer.Context, gun: str, assignments: list[str],
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """Set SECC hardware outputs ID=VALUE (VALUE as JSON, else a string) (PEP-WS setOutput)."""
    values = dict(_assignment(a) for a in assignments)
    _send(ctx, url, profile, json_, "POST", f"/api/guns/{gun}/outputs", {"values": values})


@sim_app.command("imd")
def sim_imd(
    ctx: typer.Context, gun: str, result: str, url: UrlOpt = None, profile: ProfileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Make the gun's isolation tests end in RESULT: warning, fault or clear."""
    body = {"result": None if result == "clear" else result}
    _send(ctx, url, profile, json_, "POST", f"/api/sim/guns/{gun}/imd", body)


@sim_app.command("imd-resistance")
def sim_imd_resistance(
    ctx: typer.Context, gun: str, ohm: str, url: UrlOpt = None, profile: ProfileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Set the gun's simulated insulation resistance OHM (e.g. 50000: a fault), or clear."""
    try:
        value = None if ohm == "clear" else float(ohm)
    except ValueError:
        _exit(f"ohm: got {ohm!r}; expected a number or clear", EXIT_REFUSED)
    _send(ctx, url, profile, json_, "POST", f"/api/sim/guns/{gun}/imd/resistance", {"ohm": value})


@sim_app.command("supervision")
def sim_supervision(
    ctx: typer.Context, gun: str, allowed: bool, url: UrlOpt = None, profile: ProfileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Allow or refuse closing the gun's contactors (CP/PP): true or false."""
    _send(ctx, url, profile, json_, "POST", f"/api/sim/guns/{gun}/supervision", {"allowed": allowed})


@sim_app.command("silence")
def sim_silence(
    ctx: typer.Context,
    module: ModuleArg,
    off: Annotated[bool, typer.Option("--off", help="Make it answer again.")] = False,
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """Make a simulated power module deaf and mute (or answer again with --off)."""
    _send(ctx, url, profile, json_, "POST", f"/api/sim/modules/{module}/silence", {"silent": not off})


@sim_app.command("module-fault")
def sim_module_fault(
    ctx: typer.Context,
    module: ModuleArg,
    fault: str,
    clear: Annotated[bool, typer.Option("--clear", help="Stop reporting it.")] = False,
    url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False,
) -> None:
    """Make a simulated module report FAULT: a name (hardware, over_temperature, ...) or a status bit number (21)."""
    what: dict[str, Any] = {"bit": int(fault)} if fault.isdigit() else {"fault": fault}
    _send(ctx, url, profile, json_, "POST", f"/api/sim/modules/{module}/fault", {**what, "active": not clear})


@sim_app.command("clear")
def sim_clear(
    ctx: typer.Context, module: ModuleArg, url: UrlOpt = None, profile: ProfileOpt = None, json_: JsonOpt = False
) -> None:
    """Undo every injection on a simulated module."""
    _send(ctx, url, profile, json_, "POST", f"/api/sim/modules/{module}/clear", {})


@ctl_app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="Who or what the token is for (recorded with every operate call).")],
    role: Annotated[str, typer.Option(help="read, operate or sim.")] = "read",
) -> None:
    """Make a new bearer token: prints it once, and the line to store in the profile (its hash only)."""
    from pecc_plugins.ctl.auth import new_token, token_hash
    from pecc_plugins.ctl.tokens import Role

    if role not in Role.__members__:
        _exit(f"--role: got {role!r}; expected one of {', '.join(Role.__members__)}", EXIT_REFUSED)
    secret = new_token()
    typer.echo(f"token (give it to {name}; PECC keeps only its hash): {secret}")
    typer.echo("add to the ctl service's tokens (or to its tokens_file, mode 0600):")
    typer.echo(f'{{ name = "{name}", role = "{role}", hash = "{token_hash(secret)}" }}')


def _assignment(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        _exit(f"expected KEY=VALUE, got {text!r}", EXIT_REFUSED)
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value
