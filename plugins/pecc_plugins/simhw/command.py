"""``pecc sim-hw --profile NAME``: run a profile's simulated hardware as its own process."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pecc_plugins.simhw.bench import Bench

EXIT_USAGE = 2


def sim_hw(
    profile: Annotated[str, typer.Option("--profile", "-p", help="A profile with a simhw service (e.g. sim-split).")],
) -> None:
    """Run the simulated modules, I/O and CAN wiring of PROFILE until SIGINT/SIGTERM.

    The PECC (``pecc run --profile PROFILE``) reaches them over the CAN hub
    and the I/O link; they hold their outputs when the PECC dies.
    """
    from pecc_core.plugins import PluginError, default_manager
    from pecc_core.profile import ProfileError, load
    from pecc_plugins.modsim import SimParams
    from pecc_plugins.simhw.bench import Bench

    plugins = default_manager()
    try:
        loaded = load(profile, plugins)
    except (ProfileError, PluginError) as exc:
        typer.echo(f"pecc sim-hw: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    service = next((s for s in loaded.services if s.name == "simhw"), None)
    if service is None:
        typer.echo(f"pecc sim-hw: profile {loaded.name}: got no simhw service; expected a [[services]] "
                   'entry name = "simhw" (e.g. profile sim-split)', err=True)
        raise typer.Exit(EXIT_USAGE)
    params = service.params
    logging.basicConfig(level=loaded.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    each = params["modsims"] or [params["modsim"]]
    settings = [SimParams().load(sim) for sim in each]
    bench = Bench(loaded, settings, params["channel"], plugins)
    asyncio.run(_serve(bench))


async def _serve(bench: Bench) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bench.start()
    # whatever the log level: a supervisor (or a test) waits for this line
    print(f"pecc sim-hw: {bench.profile.name} ready: CAN hubs {bench.hub_paths()}, I/O link", flush=True)
    try:
        await stop.wait()
    finally:
        await bench.stop()
