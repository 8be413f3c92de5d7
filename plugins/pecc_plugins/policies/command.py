"""``pecc simulate``: every installed policy on the shipped scenarios, side by side.

Kept light at import time (every ``pecc`` invocation loads every plugin):
the profile loader, the plugin registry and the harness are imported when
the command runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from pecc_plugins.policies.harness import Report

EXIT_BAD_INPUT = 2

#: The table's rows: label and how to show one report's figure.
ROWS: tuple[tuple[str, Callable[[Report], str]], ...] = (
    ("cars", lambda r: f"{r.cars}"),
    ("energy delivered (kWh)", lambda r: f"{r.energy_kwh:.1f}"),
    ("reached 80 % SOC", lambda r: f"{r.reached_80}/{r.below_80}"),
    ("mean time to 80 % (min)", lambda r: _minutes(r.mean_to_80_min)),
    ("p95 time to 80 % (min)", lambda r: _minutes(r.p95_to_80_min)),
    ("fairness (Jain)", lambda r: f"{r.fairness:.3f}"),
    ("peak site power (kW)", lambda r: f"{r.peak_kw:.1f}" + (f" / {r.cap_kw:.0f}" if r.cap_kw else "")),
    ("steps over the site cap", lambda r: f"{r.over_cap_steps}"),
    ("module switches", lambda r: f"{r.switches}"),
    ("moves under load", lambda r: f"{r.hot_moves}"),
    ("hottest module (°C)", lambda r: f"{r.hottest_c:.1f}"),
)


def _minutes(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def simulate(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(help="Shipped scenario names or scenario JSON files; default: every shipped one."),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", "-P", help="Only this policy (repeatable); default: every installed one."),
    ] = None,
    markdown: Annotated[bool, typer.Option(help="Print Markdown tables (as in docs/policies.md).")] = False,
) -> None:
    """Replay a day of arrivals through every installed power-sharing policy.

    Simulated time, no hardware, no sockets: the same scenario gives the same
    table on every machine. Each policy runs with its default parameters.
    """
    from pecc_core.plugins import default_manager
    from pecc_core.profile import ProfileError
    from pecc_core.profile import load as load_profile
    from pecc_plugins.policies import harness
    from pecc_plugins.policies.scenario import ScenarioError, load, shipped

    registry = default_manager().registry("limit_policy")
    names = policy or sorted(registry.entries)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise _fail("; ".join(registry.unknown(n) for n in unknown))
    try:
        loaded = [load(s) for s in (scenarios or list(shipped()))]
        profiles = {s.profile: load_profile(s.profile) for s in loaded}
    except (ScenarioError, ProfileError) as exc:
        raise _fail(str(exc)) from None
    for scenario in loaded:
        reports = []
        for name in names:
            registration = registry.get(name)
            params: Any = registration.params().load({}) if registration.params else {}
            try:
                reports.append(harness.run(scenario, profiles[scenario.profile], registration.factory(params), name))
            except ScenarioError as exc:
                raise _fail(str(exc)) from None
        title = f"{scenario.name} on {scenario.profile} (seed {scenario.seed}, step {scenario.step_s:g} s)"
        if markdown:
            typer.echo(_markdown(title, scenario.description, reports))
        else:
            _print_table(title, scenario.description, reports)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"pecc simulate: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _markdown(title: str, description: str, reports: Sequence[Report]) -> str:
    lines = [f"### {title}", "", description, "", "| | " + " | ".join(r.policy for r in reports) + " |"]
    lines.append("|---|" + "---:|" * len(reports))
    lines.extend(f"| {label} | " + " | ".join(show(r) for r in reports) + " |" for label, show in ROWS)
    return "\n".join(lines) + "\n"


def _print_table(title: str, description: str, reports: Sequence[Report]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=description, title_justify="left")
    table.add_column("")
    for report in reports:
        table.add_column(report.policy, justify="right")
    for label, show in ROWS:
        table.add_row(label, *(show(r) for r in reports))
    Console(width=max(100, 28 + 14 * len(reports))).print(table)
