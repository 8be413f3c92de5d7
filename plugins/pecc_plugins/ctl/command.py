"""``pecc ctl``: talk to a running PECC's control API (see docs/control-api.md).

The URL comes from ``--url`` or from the ``ctl`` service of ``--profile``.
Answers are printed as JSON. Exit codes: 1 when no API answers, 2 when the
API refuses the request (its message is printed), never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from pecc_plugins.ctl import client
from pecc_plugins.ctl.state import runtime_file, state_dir

EXIT_UNREACHABLE = 1
EXIT_REFUSED = 2

ctl_app = typer.Typer(help="Control a running PECC: guns, modules, limits, SECC requests, sim faults.",
                      no_args_is_help=True)
sim_app = typer.Typer(help="Inject faults into a station running the simulated I/O.", no_args_is_help=True)
ctl_app.add_typer(sim_app, name="sim")


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


def _exit(message: str, code: int) -> Any:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@ctl_app.callback()
def ctl_callback(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Control API URL, e.g. http://127.0.0.1:8766.")] = None,
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile whose 'ctl' service to reach.")] = "sim",
) -> None:
    """Talk to a running PECC."""
    ctx.obj = (url, profile)  # inherited by every sub-command's context


def _call(ctx: typer.Context, method: str, path: str, body: Any = None) -> None:
    url, profile = ctx.obj
    url = url or profile_url(profile)
    try:
        answer = client.call(url, method, path, body)
    except client.Unreachable as exc:
        _exit(str(exc), EXIT_UNREACHABLE)
    except client.Refused as exc:
        _exit(f"refused: {exc}", EXIT_REFUSED)
    typer.echo(json.dumps(answer, indent=2))


@ctl_app.command()
def guns(ctx: typer.Context) -> None:
    """Every gun: state, contactors, isolation, measurements, modules, limits, SECC."""
    _call(ctx, "GET", "/api/guns")


@ctl_app.command()
def modules(ctx: typer.Context) -> None:
    """Every power module: readings, mode, faults, gun."""
    _call(ctx, "GET", "/api/modules")


@ctl_app.command()
def limits(ctx: typer.Context) -> None:
    """The run-time limits: site cap, per-gun caps, policy params."""
    _call(ctx, "GET", "/api/limits")


@ctl_app.command("set-limits")
def set_limits(
    ctx: typer.Context,
    site_max_power_w: Annotated[float | None, typer.Option(help="Site grid cap (W); negative: no cap.")] = None,
    gun: Annotated[str | None, typer.Option(help="The gun the caps below apply to.")] = None,
    max_current: Annotated[float | None, typer.Option(help="Gun current cap (A).")] = None,
    max_power: Annotated[float | None, typer.Option(help="Gun power cap (W).")] = None,
    priority: Annotated[int | None, typer.Option(help="Gun priority (higher first).")] = None,
    policy: Annotated[list[str] | None, typer.Option(help="Policy param KEY=VALUE (JSON value).")] = None,
) -> None:
    """Change run-time limits (only what is given); refused as a whole if any value is bad."""
    body: dict[str, Any] = {}
    if site_max_power_w is not None:
        body["site_max_power_w"] = None if site_max_power_w < 0 else site_max_power_w
    caps = {
        k: v
        for k, v in (("max_current_a", max_current), ("max_power_w", max_power), ("priority", priority))
        if v is not None
    }
    if caps:
        if gun is None:
            _exit("--max-current, --max-power and --priority need --gun", EXIT_REFUSED)
        body["guns"] = {gun: caps}
    if policy:
        body["policy"] = dict(_assignment(p) for p in policy)
    if not body:
        _exit("nothing to change: give --site-max-power-w, --gun with caps, or --policy", EXIT_REFUSED)
    _call(ctx, "PUT", "/api/limits", body)


@ctl_app.command("stop-charging")
def stop_charging(ctx: typer.Context, gun: str) -> None:
    """Ask the gun's SECC to end its session (PEP-WS stopCharging)."""
    _call(ctx, "POST", f"/api/guns/{gun}/stop-charging")


@ctl_app.command("get-input")
def get_input(ctx: typer.Context, gun: str, ids: list[str]) -> None:
    """Read SECC hardware inputs (PEP-WS getInput)."""
    _call(ctx, "POST", f"/api/guns/{gun}/inputs", {"ids": ids})


@ctl_app.command("set-output")
def set_output(ctx: typer.Context, gun: str, assignments: list[str]) -> None:
    """Set SECC hardware outputs ID=VALUE (VALUE as JSON, else a string) (PEP-WS setOutput)."""
    _call(ctx, "POST", f"/api/guns/{gun}/outputs", {"values": dict(_assignment(a) for a in assignments)})


@sim_app.command("imd")
def sim_imd(ctx: typer.Context, gun: str, result: str) -> None:
    """Make the gun's isolation tests end in RESULT: warning, fault or clear."""
    _call(ctx, "POST", f"/api/sim/guns/{gun}/imd", {"result": None if result == "clear" else result})


@sim_app.command("supervision")
def sim_supervision(ctx: typer.Context, gun: str, allowed: bool) -> None:
    """Allow or refuse closing the gun's contactors (CP/PP): true or false."""
    _call(ctx, "POST", f"/api/sim/guns/{gun}/supervision", {"allowed": allowed})


@sim_app.command("silence")
def sim_silence(
    ctx: typer.Context,
    address: int,
    off: Annotated[bool, typer.Option("--off", help="Make it answer again.")] = False,
) -> None:
    """Make a simulated power module deaf and mute (or answer again with --off)."""
    _call(ctx, "POST", f"/api/sim/modules/{address}/silence", {"silent": not off})


@sim_app.command("module-fault")
def sim_module_fault(
    ctx: typer.Context,
    address: int,
    fault: str,
    clear: Annotated[bool, typer.Option("--clear", help="Stop reporting it.")] = False,
) -> None:
    """Make a simulated module report FAULT: a name (hardware, over_temperature, ...) or a status bit number (21)."""
    what: dict[str, Any] = {"bit": int(fault)} if fault.isdigit() else {"fault": fault}
    _call(ctx, "POST", f"/api/sim/modules/{address}/fault", {**what, "active": not clear})


@sim_app.command("clear")
def sim_clear(ctx: typer.Context, address: int) -> None:
    """Undo every injection on a simulated module."""
    _call(ctx, "POST", f"/api/sim/modules/{address}/clear")


def _assignment(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        _exit(f"expected KEY=VALUE, got {text!r}", EXIT_REFUSED)
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value
