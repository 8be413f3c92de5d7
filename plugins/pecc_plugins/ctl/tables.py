"""``pecc ctl`` answers as rich tables: numbers rounded, station totals last."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from pecc_core.gun.table import GunState

S = GunState
#: A gun's state as the API names it (a ``GunState`` equals its name) -> its style.
STATE_STYLE = {
    S.STANDBY: "dim", S.CABLE_CHECK: "cyan", S.READY: "cyan", S.PRECHARGE: "yellow", S.CHARGE: "green",
    S.POSTCHARGE: "cyan", S.STOPPING: "magenta", S.INOPERATIVE: "bold red",
}


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _kw(watts: float | None) -> str:
    return "-" if watts is None else f"{watts / 1000:,.2f}"


def _time(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _yes(value: bool) -> str:
    return "yes" if value else "[red]no[/red]"


def guns(answer: dict[str, Any]) -> Table:
    table = Table(title="Guns")
    for name in ("Gun", "SECC", "State", "Contactors", "Isolation"):
        table.add_column(name)
    for name in ("V", "A", "kW", "Session kWh"):
        table.add_column(name, justify="right")
    table.add_column("Modules")
    table.add_column("Faults")
    total_w = total_wh = 0.0
    charging = 0
    for gun in answer["guns"]:
        session = gun.get("session") or {}
        total_w += gun["power_w"]
        total_wh += session.get("energy_wh", 0.0)
        charging += gun["state"] == S.CHARGE
        style = STATE_STYLE.get(gun["state"], "")
        table.add_row(
            gun["id"],
            gun["secc"] + ("" if gun["secc_connected"] else " [dim](offline)[/dim]"),
            f"[{style}]{gun['state']}[/{style}]" if style else gun["state"],
            gun["contactors"], gun["isolation"],
            _num(gun["measured_voltage"]), _num(gun["measured_current"]), _kw(gun["power_w"]),
            _num(session["energy_wh"] / 1000, 3) if session else "-",
            " ".join(str(m) for m in gun["modules"]) or "-",
            "; ".join(gun["faults"]) or "-",
        )
    table.add_section()
    table.add_row(f"{len(answer['guns'])} guns", "", f"{charging} charging", "", "", "", "",
                  _kw(total_w), _num(total_wh / 1000, 3), "", "")
    return table


def gun(view: dict[str, Any]) -> Table:
    table = Table(title=f"Gun {view['id']}", show_header=False)
    table.add_column("key")
    table.add_column("value")
    session = view.get("session")
    rows = [
        ("SECC", f"{view['secc']} ({'connected' if view['secc_connected'] else 'not connected'}) {view['path']}"),
        ("state", view["state"]), ("operational", view["operational"]),
        ("contactors", view["contactors"]), ("isolation", view["isolation"]),
        ("measured", (f"{_num(view['measured_voltage'])} V  {_num(view['measured_current'])} A  "
                      f"{_kw(view['power_w'])} kW")),
        ("driven", f"{_num(view['driven_voltage'])} V  {_num(view['driven_current'])} A"),
        ("temperature", f"{_num(view['temperature'])} °C"),
        ("modules", " ".join(str(m) for m in view["modules"]) or "-"),
        ("power cap", f"{_kw(view['power_cap_w'])} kW"),
        ("limits", ", ".join(f"{k} {_num(v)}" for k, v in view["limits"].items())),
        ("operator caps", ", ".join(f"{k} {v if v is not None else '-'}" for k, v in view["caps"].items())),
        ("energy since start", f"{_num(view.get('energy_wh', 0.0) / 1000, 3)} kWh"),
        ("session", "-" if not session else (
            f"since {_time(session['start'])}, {_num(session['energy_wh'] / 1000, 3)} kWh, "
            f"peak {_kw(session['peak_power_w'])} kW, vehicle {session['vehicle_id'] or '-'}")),
        ("faults", "; ".join(view["faults"]) or "-"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def modules(answer: dict[str, Any]) -> Table:
    table = Table(title="Power modules")
    for name, justify in (("Bus", "left"), ("Module", "right"), ("Gun", "left"), ("Online", "left"), ("Usable", "left"),
                          ("Mode", "left"), ("V", "right"), ("A", "right"), ("kW", "right"), ("°C", "right"),
                          ("Faults", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    online = usable = 0
    total_w = 0.0
    for module in answer["modules"]:
        online += module["online"]
        usable += module["usable"]
        power = module["voltage"] * module["current"]
        total_w += power
        table.add_row(
            module["bus"], str(module["address"]), module["gun"] or "-", _yes(module["online"]), _yes(module["usable"]),
            module["mode"], _num(module["voltage"]), _num(module["current"]), _kw(power),
            _num(module["temperature"]), ", ".join(module["faults"]) or "-",
        )
    table.add_section()
    table.add_row("", f"{len(answer['modules'])}", "", f"{online} online", f"{usable} usable", "", "", "",
                  _kw(total_w), "", "")
    return table


def limits(answer: dict[str, Any]) -> Table:
    site, share = answer["site_max_power_w"], answer.get("site_share_w")
    table = Table(title=f"Run-time limits: site cap {'none' if site is None else _kw(site) + ' kW'}, "
                        + ("" if share is None else f"site share {_kw(share)} kW, ")
                        + f"policy {answer['policy']['name']}")
    table.add_column("Gun")
    table.add_column("Max A", justify="right")
    table.add_column("Max kW", justify="right")
    table.add_column("Priority", justify="right")
    for gun_id, caps in answer["guns"].items():
        table.add_row(gun_id, _num(caps["max_current_a"]), _kw(caps["max_power_w"]), str(caps["priority"]))
    params = answer["policy"]["params"]
    if params:
        table.caption = "policy params: " + ", ".join(f"{k}={v}" for k, v in params.items())
    return table


def events(answer: dict[str, Any]) -> Table:
    table = Table(title="Events")
    for name in ("Id", "Time", "Gun", "Kind", "Details"):
        table.add_column(name, justify="right" if name == "Id" else "left")
    for event in answer["events"]:
        table.add_row(*event_row(event))
    return table


def event_row(event: dict[str, Any]) -> tuple[str, ...]:
    details = {k: v for k, v in event.items() if k not in ("id", "ts", "gun", "kind")}
    if event["kind"] == "state":
        text = f"{details['from']} -> {details['to']}: {details['reason']}"
    elif event["kind"] == "incident":
        text = (f"{details['incident']}: {details['reason']}, guns {', '.join(details['guns'])}, "
                f"{_num(details['size'] / 1000)} kB")
    else:
        text = ", ".join(f"{k}={v}" for k, v in details.items())
    return str(event["id"]), _time(event["ts"]), event["gun"] or "-", event["kind"], text


def incidents(answer: dict[str, Any]) -> Table:
    table = Table(title="Incidents (pecc ctl incidents ID --out FILE.zip downloads one)")
    for name in ("Id", "Time", "Guns", "Reason", "kB"):
        table.add_column(name, justify="right" if name == "kB" else "left")
    for incident in answer["incidents"]:
        table.add_row(
            incident["id"], _time(incident["ts"]), ", ".join(incident["guns"]), incident["reason"],
            _num(incident["size"] / 1000),
        )
    return table


def sessions(answer: dict[str, Any]) -> Table:
    table = Table(title="Charging sessions")
    for name in ("Gun", "Vehicle", "Start", "End", "Min", "kWh", "Peak kW", "Outcome", "End reason"):
        table.add_column(name, justify="right" if name in ("Min", "kWh", "Peak kW") else "left")
    total_wh = 0.0
    for session in answer["sessions"]:
        outcome = session["outcome"] or "running"
        total_wh += session["energy_wh"]
        end = session["end"]
        until = end if end is not None else (datetime.now().timestamp() if outcome == "running" else None)
        minutes = None if until is None else (until - session["start"]) / 60
        style = {"completed": "green", "failed": "red"}.get(outcome, "yellow")
        table.add_row(
            session["gun"], session["vehicle_id"] or "-", _time(session["start"]), _time(end), _num(minutes),
            _num(session["energy_wh"] / 1000, 3), _kw(session["peak_power_w"]),
            f"[{style}]{outcome}[/{style}]", session["end_reason"] or "-",
        )
    table.add_section()
    table.add_row(f"{len(answer['sessions'])} sessions", "", "", "", "", _num(total_wh / 1000, 3), "", "", "")
    return table
