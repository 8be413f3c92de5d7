"""``pecc site``: run the coordinator, read the site's state from the broker, change the cap."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Annotated, Any

import typer

from pecc_core.clock import wall

site_app = typer.Typer(help="Site power across cabinets over MQTT (docs/site.md).", no_args_is_help=True)

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="The site profile (TOML).")]
EXIT_BAD_PROFILE = 2


def _profile(path: str, keys: bool = True) -> Any:
    from pecc_plugins.site.profile import SiteProfileError, load

    try:
        return load(path, keys)
    except SiteProfileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_BAD_PROFILE) from None


@site_app.command("init")
def init(
    profile: ProfileOpt,
    out: Annotated[str, typer.Option("--out", "-o", help="The folder to write into (created).")] = "site",
) -> None:
    """Write the site's keys, its broker's password file, ACL and config, and each client's login."""
    from pathlib import Path

    from pecc_plugins.site.credentials import write

    site = _profile(profile, keys=False)
    try:
        written = write(site, Path(out))
    except (FileExistsError, OSError) as exc:
        typer.echo(f"pecc site init: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"site {site.id}: keys, broker configuration and client logins in {written.directory}/")
    for client, path in written.clients.items():
        typer.echo(f"  {client:12} {path}")
    typer.echo("Deploy: docs/site.md, 'Securing the broker'.")


@site_app.command("run")
def run(
    profile: ProfileOpt,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run the site coordinator until SIGINT or SIGTERM."""
    site = _profile(profile)
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        typer.echo(f"--log-level: got {log_level!r}; expected DEBUG, INFO, WARNING or ERROR", err=True)
        raise typer.Exit(EXIT_BAD_PROFILE)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    asyncio.run(_serve(site))


async def _serve(site: Any) -> None:
    """The coordinator, made on the loop it reads the time of, until a signal stops it."""
    import signal

    from pecc_plugins.site.coordinator import Coordinator

    loop = asyncio.get_running_loop()
    runner = asyncio.create_task(Coordinator(site).run())
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runner.cancel)
    try:
        await runner
    except asyncio.CancelledError:
        logging.getLogger(__name__).info("coordinator stopped")


@site_app.command("status")
def status(
    profile: ProfileOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to collect the retained messages.")] = 1.0,
) -> None:
    """The site as the broker tells it: coordinator, cabinets, demands, shares, ages."""
    import aiomqtt

    site = _profile(profile, keys=False)
    try:
        view = asyncio.run(_collect(site, wait))
    except aiomqtt.MqttError as exc:
        typer.echo(f"pecc site: no broker at {site.broker['host']}:{site.broker['port']}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(view, indent=2))
    else:
        _table(view)


async def _collect(site: Any, wait: float) -> dict[str, Any]:
    from pecc_plugins.site import broker
    from pecc_plugins.site.topics import Topics

    topics = Topics(site.id)
    coordinator: dict[str, Any] = {}
    cabinets: dict[str, dict[str, Any]] = {c: {} for c in site.safe}
    async with broker.client(site.broker, f"pecc-site-status-{secrets.token_hex(4)}") as client:
        for topic in (topics.coordinator, topics.presences, topics.demands):
            await client.subscribe(topic)
        deadline = asyncio.get_running_loop().time() + wait
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                async with asyncio.timeout(left):
                    message = await anext(client.messages)
            except TimeoutError:
                break
            data = broker.decode(message) or {}
            topic = str(message.topic)
            if topic == topics.coordinator:
                coordinator = data
            elif (cabinet := topics.cabinet_of(topic)) is not None:
                cabinets.setdefault(cabinet, {})[topic.rsplit("/", 1)[1]] = data
    now = wall()
    rows = {}
    for cabinet, parts in cabinets.items():
        presence, demand = parts.get("presence", {}), parts.get("demand", {})
        granted = coordinator.get("cabinets", {}).get(cabinet, {})
        rows[cabinet] = {
            "online": bool(presence.get("online")),
            "safe_share_w": presence.get("safe_share_w", site.safe.get(cabinet)),
            "demand_w": demand.get("demand_w"),
            "share_w": granted.get("share_w"),
            "limit_w": demand.get("limit_w"),
            "measured_w": demand.get("measured_w"),
            "age_s": round(now - demand["at"], 1) if "at" in demand else None,
        }
    return {
        "site": site.id,
        "coordinator": {
            "online": bool(coordinator.get("online")),
            "max_power_w": coordinator.get("max_power_w"),
            "policy": coordinator.get("policy"),
            "age_s": round(now - coordinator["at"], 1) if "at" in coordinator else None,
        },
        "cabinets": rows,
    }


def _table(view: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    coordinator = view["coordinator"]
    title = (f"site {view['site']}: coordinator {'online' if coordinator['online'] else 'OFFLINE'}, "
             f"cap {_kw(coordinator['max_power_w'])}, policy {coordinator['policy'] or '-'}")
    table = Table(title=title)
    for column in ("cabinet", "online", "safe", "demand", "share", "limit", "measured", "age s"):
        table.add_column(column, justify="left" if column == "cabinet" else "right")
    for cabinet, row in view["cabinets"].items():
        table.add_row(cabinet, "yes" if row["online"] else "no", _kw(row["safe_share_w"]), _kw(row["demand_w"]),
                      _kw(row["share_w"]), _kw(row["limit_w"]), _kw(row["measured_w"]),
                      "-" if row["age_s"] is None else f"{row['age_s']:.1f}")
    Console().print(table)


def _kw(watts: float | None) -> str:
    return "-" if watts is None else f"{watts / 1000:.1f} kW"


@site_app.command("set-cap")
def set_cap(
    profile: ProfileOpt,
    watts: Annotated[float, typer.Argument(help="The new grid cap (W); negative: back to the profile's.")],
) -> None:
    """Change the site's grid cap while it runs (kept on the broker: a restarted coordinator keeps it)."""
    import aiomqtt

    from pecc_plugins.site import broker, signing
    from pecc_plugins.site.topics import Topics

    site = _profile(profile)
    floor, ceiling = sum(site.safe.values()), site.max_power_w
    if watts >= 0 and not floor <= watts <= ceiling:
        typer.echo(f"watts: got {watts:g}; expected from the safe shares' sum ({floor:g} W) "
                   f"to the site's grid connection ({ceiling:g} W)", err=True)
        raise typer.Exit(EXIT_BAD_PROFILE)

    async def publish() -> None:
        async with broker.client(site.broker, f"pecc-site-cap-{secrets.token_hex(4)}") as client:
            topic = Topics(site.id).cap_set
            payload = signing.sign(site.site_key, topic, {"max_power_w": None if watts < 0 else watts, "at": wall()})
            await client.publish(topic, broker.encode(payload), qos=1, retain=True)

    try:
        asyncio.run(publish())
    except aiomqtt.MqttError as exc:
        typer.echo(f"pecc site: no broker at {site.broker['host']}:{site.broker['port']}: {exc}", err=True)
        raise typer.Exit(1) from None
