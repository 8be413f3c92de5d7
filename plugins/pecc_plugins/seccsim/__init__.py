"""SECC simulator: a real PEP-WS client that charges simulated cars (``pecc secc-sim``).

Only the command's signature lives here: every ``pecc`` invocation loads
every plugin, so the simulator itself (websockets client, rich display) is
imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pecc_core import hookimpl


def secc_sim(
    urls: Annotated[
        list[str] | None,
        typer.Argument(help="Gun URLs, e.g. ws://127.0.0.1:8765/secc1/gun1.", show_default=False),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Take every gun URL of this PECC profile.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="With --profile: connect to this host instead.")] = None,
    port: Annotated[int | None, typer.Option(help="With --profile: connect to this port instead.")] = None,
    guns: Annotated[
        int | None, typer.Option("--guns", "-n", min=1, help="Simulate only the first N guns.")
    ] = None,
    sessions: Annotated[int, typer.Option("--sessions", "-s", min=1, help="Charging sessions per gun.")] = 1,
    period_ms: Annotated[
        float, typer.Option("--period-ms", min=10, help="targetValues period during preCharge and charge.")
    ] = 100.0,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="TOML file: battery, EV limits, charging curve.")
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            min=0.001,
            help="Battery time runs this much faster (600: 30 min of charging in 3 s).",
        ),
    ] = 1.0,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            min=0.1,
            help="After this many seconds end running sessions gracefully, start no more.",
        ),
    ] = None,
    reply_timeout_ms: Annotated[
        float,
        typer.Option(
            "--reply-timeout-ms",
            min=1,
            help="A request unanswered this long is a protocol error (PEP-WS: 500 ms).",
        ),
    ] = 500.0,
    live: Annotated[
        bool | None, typer.Option("--live/--no-live", help="Live table (default: when on a terminal).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the results as JSON to this file.")
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="wss://: the CA of the PECC's certificate (PEM).")
    ] = None,
    cert: Annotated[
        Path | None, typer.Option("--cert", help="wss://: client certificate (PEM) for every gun.")
    ] = None,
    key: Annotated[Path | None, typer.Option("--key", help="wss://: the key of --cert (PEM).")] = None,
    certs: Annotated[
        Path | None,
        typer.Option("--certs", help="wss:// with --profile: DIR/<secc id>.pem/.key per SECC (pecc tls init)."),
    ] = None,
) -> None:
    """Simulate SECCs: run complete charging sessions against PECC gun URLs.

    Exit code 0 when every session completed with no protocol error, 1
    otherwise, 2 for bad arguments.
    """
    from pecc_plugins.seccsim.command import secc_sim as run

    run(
        urls or [],
        profile,
        host,
        port,
        guns,
        sessions,
        period_ms,
        scenario,
        time_scale,
        duration,
        reply_timeout_ms / 1000,
        live,
        report,
        (ca, cert, key, certs),
    )


@hookimpl
def pecc_add_commands(app: typer.Typer) -> None:
    app.command("secc-sim")(secc_sim)
