"""``pecc can monitor``: each module's decoded traffic on a profile's buses, live.

For bring-up on a cabinet: which setpoints go to which module, what each
one reads, which status bits it raises, which commands it refuses. Each
bus and its protocol come from that bus's power driver (its params and
its :meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.frame_decoder`);
every bus of the profile with such a driver is watched, or the one
``--bus`` names; the monitor only listens. Output: a live table per bus
(a terminal), one line per frame (``--lines``, or when the output is not
a terminal; led by the bus's name when several are watched) or one JSON
object per frame with its ``bus`` (``--json``, for scripts).

Buses of the ``virtual`` family exist inside one process: to watch a sim
profile, ``--with-station`` runs the profile's station in this process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn

import can
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pecc_plugins.canbus.decoder import Decoded, FrameDecoder
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.monitor import Traffic, driver_bus, watch

EXIT_FAILED = 1
EXIT_USAGE = 2
IN_PROCESS = frozenset({"virtual", "timedvirtual"})

can_app = typer.Typer(help="CAN bus tools for bring-up.", no_args_is_help=True)


def _exit(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@dataclass(slots=True)
class Watched:
    """One bus of the profile the monitor watches: its name there, where it is, its protocol's decoder."""

    name: str
    bus: BusConfig
    decoder: FrameDecoder
    traffic: Traffic = field(default_factory=Traffic)


def _driver(profile_name: str, bus_name: str | None = None) -> tuple[Any, list[Watched]]:
    """The profile and the buses to watch (``bus_name``'s, else every CAN bus); exit 2 with a message if none."""
    from pecc_core.plugins import PluginError, default_manager
    from pecc_core.profile import ProfileError
    from pecc_core.profile import load as load_profile

    plugins = default_manager()
    try:
        profile = load_profile(profile_name, plugins)
    except (ProfileError, PluginError) as exc:
        _exit(str(exc), EXIT_USAGE)
    buses = profile.power.buses
    if bus_name is not None:
        buses = tuple(b for b in buses if b.name == bus_name)
        if not buses:
            _exit(f"--bus: got {bus_name!r}; expected one of {[b.name for b in profile.power.buses]}", EXIT_USAGE)
    watched = []
    for power_bus in buses:
        choice = power_bus.driver
        found = driver_bus(plugins.registry("power_driver").get(choice.name).factory, choice.params)
        if found is None:
            if bus_name is not None:
                _exit(f"{power_bus.key}.driver.name: got {choice.name!r}; "
                      "expected a CAN driver with a frame decoder", EXIT_USAGE)
            continue
        watched.append(Watched(power_bus.name, *found))
    if not watched:
        _exit("[power]: no bus with a CAN driver that has a frame decoder", EXIT_USAGE)
    return profile, watched


def table(traffic: Traffic, bus: BusConfig, name: str) -> Table:
    """The live view of bus ``name``: one row per module heard or addressed."""
    view = Table(
        title=f"{name}: {bus.interface}/{bus.channel} at {bus.bitrate} bit/s: {traffic.frames} frames "
        f"({traffic.broadcast} to all, {traffic.unknown} not decoded)",
        title_justify="left",
    )
    for column in ("module", "setpoints and commands", "readings", "status bits", "errors", "frames"):
        view.add_column(column, justify="right" if column in ("module", "errors", "frames") else "left")
    for address in sorted(traffic.modules):
        module = traffic.modules[address]
        view.add_row(
            str(address),
            "\n".join(f"{k}: {v}" for k, v in module.setpoints.items()),
            "\n".join(f"{k}: {v}" for k, v in module.readings.items()),
            "\n".join(module.flags),
            f"{module.errors} {module.last_error}".strip() if module.errors else "0",
            str(module.frames),
        )
    return view


def _as_json(bus: str, msg: can.Message, decoded: tuple[Decoded, ...]) -> str:
    return json.dumps(
        {
            "bus": bus,
            "time": msg.timestamp,
            "id": f"{msg.arbitration_id:08X}",
            "data": bytes(msg.data).hex(),
            "decoded": [item.as_json() for item in decoded],
        }
    )


async def _monitor(profile: Any, buses: list[Watched], mode: str, seconds: float | None,
                   with_station: bool) -> None:
    from pecc_core.testing import running

    out = Console()
    stop = asyncio.Event()
    named = len(buses) > 1  # a line says its bus when there are several

    def on_frame(one: Watched) -> Any:
        def shown(msg: can.Message, decoded: tuple[Decoded, ...]) -> None:
            one.traffic.add(decoded)
            if mode == "json":
                print(_as_json(one.name, msg, decoded), flush=True)
            elif mode == "lines":
                text = "; ".join(item.text() for item in decoded) or "not decoded"
                lead = f"{one.name} " if named else ""
                print(f"{lead}{msg.timestamp:.3f} {msg.arbitration_id:08X} {bytes(msg.data).hex(' ')}  {text}",
                      flush=True)

        return shown

    def tables() -> Group:
        return Group(*(table(one.traffic, one.bus, one.name) for one in buses))

    async def body() -> None:
        if seconds is not None:
            asyncio.get_running_loop().call_later(seconds, stop.set)
        watching = asyncio.gather(*(watch(one.bus, one.decoder, on_frame(one), stop) for one in buses))
        if mode != "table":
            await watching
            return
        with Live(tables(), console=out, refresh_per_second=4) as live:
            while not watching.done():
                await asyncio.wait((watching,), timeout=0.25)
                live.update(tables())
        await watching

    if with_station:
        async with running(profile):
            await body()
    else:
        await body()


@can_app.command()
def monitor(
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile whose power buses to watch.")] = "sim",
    bus: Annotated[
        str | None, typer.Option("--bus", help="Watch this bus of the profile only (default: every CAN bus).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per frame, for scripts.")] = False,
    lines: Annotated[bool, typer.Option("--lines", help="One line per frame instead of the live table.")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).", min=0.0)
    ] = None,
    with_station: Annotated[
        bool, typer.Option("--with-station", help="Run the profile's station in this process (sim profiles).")
    ] = False,
) -> None:
    """Show each module's decoded traffic on the profile's buses: setpoints, readings, status bits, errors."""
    loaded, watched = _driver(profile, bus)
    if any(one.bus.interface in IN_PROCESS for one in watched) and not with_station:
        typer.echo(
            f"note: interface {watched[0].bus.interface!r} exists only inside one process; "
            "add --with-station to watch this profile's simulated station",
            err=True,
        )
    mode = "json" if as_json else "lines" if lines or not sys.stdout.isatty() else "table"
    try:
        asyncio.run(_monitor(loaded, watched, mode, duration, with_station))
    except KeyboardInterrupt:
        pass
    except (can.CanError, OSError, NotImplementedError, ValueError) as exc:
        where = ", ".join(f"{one.name} ({one.bus.interface}/{one.bus.channel})" for one in watched)
        _exit(f"[power]: cannot watch {where}: {exc}", EXIT_FAILED)
