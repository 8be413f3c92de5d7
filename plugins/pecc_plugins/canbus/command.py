"""``pecc can monitor``: each module's decoded traffic on a profile's bus, live.

For bring-up on a cabinet: which setpoints go to which module, what each
one reads, which status bits it raises, which commands it refuses. The
bus and the protocol come from the profile's power driver (its params and
its :meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.frame_decoder`);
the monitor only listens. Output: a live table (a terminal), one line per
frame (``--lines``, or when the output is not a terminal) or one JSON
object per frame (``--json``, for scripts).

Buses of the ``virtual`` family exist inside one process: to watch a sim
profile, ``--with-station`` runs the profile's station in this process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any, NoReturn

import can
import typer
from rich.console import Console
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


def _driver(profile_name: str) -> tuple[Any, BusConfig, FrameDecoder]:
    """The profile, its bus and its protocol's decoder; exit 2 with a message if any is missing."""
    from pecc_core.plugins import PluginError, default_manager
    from pecc_core.profile import ProfileError
    from pecc_core.profile import load as load_profile

    plugins = default_manager()
    try:
        profile = load_profile(profile_name, plugins)
    except (ProfileError, PluginError) as exc:
        _exit(str(exc), EXIT_USAGE)
    choice = profile.power.buses[0].driver
    found = driver_bus(plugins.registry("power_driver").get(choice.name).factory, choice.params)
    if found is None:
        return _exit(f"power.driver.name: got {choice.name!r}; expected a CAN driver with a frame decoder", EXIT_USAGE)
    return profile, *found


def table(traffic: Traffic, bus: BusConfig) -> Table:
    """The live view: one row per module heard or addressed."""
    view = Table(
        title=f"{bus.interface}/{bus.channel} at {bus.bitrate} bit/s: {traffic.frames} frames "
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


def _as_json(msg: can.Message, decoded: tuple[Decoded, ...]) -> str:
    return json.dumps(
        {
            "time": msg.timestamp,
            "id": f"{msg.arbitration_id:08X}",
            "data": bytes(msg.data).hex(),
            "decoded": [item.as_json() for item in decoded],
        }
    )


async def _monitor(profile: Any, bus: BusConfig, decoder: FrameDecoder, mode: str, seconds: float | None,
                   with_station: bool) -> None:
    from pecc_core.testing import running

    out = Console()
    traffic = Traffic()
    stop = asyncio.Event()

    def on_frame(msg: can.Message, decoded: tuple[Decoded, ...]) -> None:
        traffic.add(decoded)
        if mode == "json":
            print(_as_json(msg, decoded), flush=True)
        elif mode == "lines":
            text = "; ".join(item.text() for item in decoded) or "not decoded"
            print(f"{msg.timestamp:.3f} {msg.arbitration_id:08X} {bytes(msg.data).hex(' ')}  {text}", flush=True)

    async def body() -> None:
        if seconds is not None:
            asyncio.get_running_loop().call_later(seconds, stop.set)
        watching = asyncio.create_task(watch(bus, decoder, on_frame, stop))
        if mode != "table":
            await watching
            return
        with Live(table(traffic, bus), console=out, refresh_per_second=4) as live:
            while not watching.done():
                await asyncio.wait((watching,), timeout=0.25)
                live.update(table(traffic, bus))
        await watching

    if with_station:
        async with running(profile):
            await body()
    else:
        await body()


@can_app.command()
def monitor(
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile whose power bus to watch.")] = "sim",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per frame, for scripts.")] = False,
    lines: Annotated[bool, typer.Option("--lines", help="One line per frame instead of the live table.")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).", min=0.0)
    ] = None,
    with_station: Annotated[
        bool, typer.Option("--with-station", help="Run the profile's station in this process (sim profiles).")
    ] = False,
) -> None:
    """Show each module's decoded traffic on the profile's bus: setpoints, readings, status bits, errors."""
    loaded, bus, decoder = _driver(profile)
    if bus.interface in IN_PROCESS and not with_station:
        typer.echo(
            f"note: interface {bus.interface!r} exists only inside one process; "
            "add --with-station to watch this profile's simulated station",
            err=True,
        )
    mode = "json" if as_json else "lines" if lines or not sys.stdout.isatty() else "table"
    try:
        asyncio.run(_monitor(loaded, bus, decoder, mode, duration, with_station))
    except KeyboardInterrupt:
        pass
    except (can.CanError, OSError, NotImplementedError, ValueError) as exc:
        _exit(f"power.driver.params: cannot watch {bus.interface}/{bus.channel}: {exc}", EXIT_FAILED)
