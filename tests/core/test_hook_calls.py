"""Every hook is called through pluggy: wrappers and tracing see the calls, observers stay isolated."""

from __future__ import annotations

import logging
import types
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import pluggy
import pytest

from pecc_core import hookimpl
from pecc_core.gun import FaultChange
from pecc_core.plugins import PluginManager
from pecc_core.records import Session
from pecc_plugins.pepws.dispatch import message_handlers

GUN = types.SimpleNamespace(id="1-1")


def change(message: str, raised: bool = True) -> FaultChange:
    """A fault condition of kind ``message`` that says ``message``, raised or cleared."""
    return FaultChange(message, raised, message, message, emergency=False)


class Watcher:
    """A plain observer of gun faults; says what it saw."""

    def __init__(self) -> None:
        self.faults: list[tuple[str, bool]] = []

    @hookimpl
    def pecc_gun_fault(self, gun: Any, fault: str, active: bool) -> str:
        self.faults.append((fault, active))
        return f"seen {fault}"


class Raising:
    """An observer whose gun-fault hook raises until ``fixed``."""

    def __init__(self) -> None:
        self.calls = 0
        self.fixed = False

    @hookimpl
    def pecc_gun_fault(self, gun: Any, fault: str, active: bool) -> None:
        self.calls += 1
        if not self.fixed:
            raise RuntimeError("observer bug")


def test_a_wrapper_sees_an_observer_call_and_its_result() -> None:
    seen: list[tuple[str, object]] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def pecc_gun_fault(self, gun: Any, fault: str, active: bool) -> Generator[None, list[str], list[str]]:
            seen.append(("call", (gun.id, fault, active)))
            result = yield
            seen.append(("result", result))
            return result

    pm = PluginManager()
    watcher = Watcher()
    pm.register(watcher, "watcher")
    pm.register(Raising(), "raising")  # guarded: the wrapper sees the others' result, not its exception
    pm.register(Wrapper(), "wrapper")
    pm.gun_fault(GUN, change("imd"))  # type: ignore[arg-type]
    assert seen == [("call", ("1-1", "imd", True)), ("result", ["seen imd"])]
    assert watcher.faults == [("imd", True)]


def test_an_observer_takes_the_structured_fault_or_leaves_it_out() -> None:
    structured: list[FaultChange] = []

    class Structured:
        @hookimpl
        def pecc_gun_fault(self, change: FaultChange) -> None:
            structured.append(change)

    pm = PluginManager()
    watcher = Watcher()  # written before the structure came: gun, fault, active
    pm.register(watcher, "watcher")
    pm.register(Structured(), "structured")
    lost = FaultChange("power_stage", True, "gun 1-1: power stage lost", "power stage lost", emergency=False)
    pm.gun_fault(GUN, lost)  # type: ignore[arg-type]
    assert structured == [lost] and watcher.faults == [("gun 1-1: power stage lost", True)]


def test_an_old_style_hookwrapper_sees_the_call_too() -> None:
    outcomes: list[object] = []

    class OldWrapper:
        @hookimpl(hookwrapper=True)
        def pecc_gun_fault(self, fault: str) -> Generator[None, pluggy.Result[list[str]], None]:
            outcome = yield
            outcomes.append((fault, outcome.get_result()))

    pm = PluginManager()
    pm.register(Watcher(), "watcher")
    pm.register(OldWrapper(), "old")
    pm.gun_fault(GUN, change("estop", False))  # type: ignore[arg-type]
    assert outcomes == [("estop", ["seen estop"])]


def test_a_wrapper_of_a_registration_hook_sees_it_and_registers_under_its_own_name() -> None:
    class Offers:
        @hookimpl
        def pecc_register_limit_policies(self, register: Any) -> None:
            register("plain", object, summary="from offers")

    class Wraps:
        @hookimpl(wrapper=True)
        def pecc_register_limit_policies(self, register: Any) -> Generator[None, list[object], list[object]]:
            register("wrapped", object)
            return (yield)

    pm = PluginManager()
    pm.register(Offers(), "offers")
    pm.register(Wraps(), "wraps")
    registry = pm.registry("limit_policy")
    assert {name: reg.plugin for name, reg in registry.entries.items()} == {"plain": "offers", "wrapped": "wraps"}


def test_pluggy_tracing_sees_every_hook_call() -> None:
    pm = PluginManager()
    pm.load_entry_points(allow={"pepws", "policies"}, environ={})
    pm.register(Watcher(), "watcher")
    called: list[tuple[str, tuple[str, ...]]] = []

    def before(hook: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        called.append((hook, tuple(impl.plugin_name for impl in impls)))

    def after(outcome: pluggy.Result[object], hook: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        pass

    undo = pm.pluggy_manager.add_hookcall_monitoring(before, after)
    lines: list[str] = []
    pm.pluggy_manager.trace.root.setwriter(lines.append)
    untrace = pm.pluggy_manager.enable_tracing()
    try:
        assert "static" in pm.registry("limit_policy")
        assert ("request", "targetValues") in message_handlers(pm.pluggy_manager)
        pm.gun_fault(GUN, change("imd"))  # type: ignore[arg-type]
    finally:
        untrace()
        undo()
    assert ("pecc_register_limit_policies", ("policies",)) in called
    assert ("pecc_register_message_handlers", ("pepws",)) in called
    assert ("pecc_gun_fault", ("watcher",)) in called
    assert {"pecc_register_transports", "pecc_register_io_drivers"} <= {hook for hook, _ in called}
    assert any(line.startswith("  pecc_gun_fault [hook]") for line in lines), lines
    assert any("finish pecc_gun_fault --> ['seen imd']" in line for line in lines), lines


def test_a_raising_wrapper_of_an_observer_is_logged_and_the_call_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="pecc_core.plugins")

    class BadWrapper:
        @hookimpl(wrapper=True)
        def pecc_gun_fault(self) -> Generator[None, list[str], list[str]]:
            yield
            raise RuntimeError("wrapper bug")

    pm = PluginManager()
    watcher = Watcher()
    pm.register(watcher, "watcher")
    pm.register(BadWrapper(), "bad")
    pm.gun_fault(GUN, change("imd"))  # type: ignore[arg-type]
    pm.gun_fault(GUN, change("imd", False))  # type: ignore[arg-type]
    assert watcher.faults == [("imd", True), ("imd", False)]
    assert [r.getMessage() for r in caplog.records] == [
        "a wrapper of pecc_gun_fault raised; ignored: RuntimeError('wrapper bug') (wrappers: bad)"
    ]


def test_a_failing_registration_still_fails_loudly() -> None:
    class Broken:
        @hookimpl
        def pecc_register_services(self, register: Any) -> None:
            raise RuntimeError("vendor bug")

    pm = PluginManager()
    pm.register(Broken(), "broken")
    with pytest.raises(RuntimeError, match="vendor bug"):
        pm.registry("service")


class HistoryWatcher:
    """A service's own hooks: what the history recorded, for its station only."""

    def __init__(self, station: object) -> None:
        self.station = station
        self.seen: list[tuple[str, object]] = []

    @hookimpl
    def pecc_event_recorded(self, station: Any, event: Mapping[str, Any]) -> None:
        if station is self.station:
            self.seen.append(("event", dict(event)))

    @hookimpl
    def pecc_session_recorded(self, station: Any, session: Session) -> None:
        if station is self.station:
            self.seen.append(("session", session))


def test_an_object_registered_by_name_is_told_found_and_removed() -> None:
    pm = PluginManager()
    station, other = object(), object()
    watcher = HistoryWatcher(station)
    pm.register(watcher, "acme.watcher")
    assert pm.get_plugin("acme.watcher") is watcher  # the object itself, not what pluggy holds for it
    assert "pecc_event_recorded" in {h for p in pm.plugins() if p.name == "acme.watcher" for h in p.hooks}
    with pytest.raises(ValueError, match=r"acme\.watcher"):
        pm.register(HistoryWatcher(station), "acme.watcher")
    ended = Session("s1", "1-1", "VIN1", 100.0, 160.0, 1.5, 7000.0, "contactorsStatus open", "completed")
    pm.event_recorded(station, {"ts": 1.0, "gun": "1-1", "kind": "fault", "fault": "imd"})  # type: ignore[arg-type]
    pm.event_recorded(other, {"ts": 2.0, "gun": None, "kind": "station", "what": "started"})  # type: ignore[arg-type]
    pm.session_recorded(station, ended)  # type: ignore[arg-type]
    assert watcher.seen == [("event", {"ts": 1.0, "gun": "1-1", "kind": "fault", "fault": "imd"}), ("session", ended)]
    pm.unregister("acme.watcher")
    assert pm.get_plugin("acme.watcher") is None
    pm.event_recorded(station, {"ts": 3.0, "gun": None, "kind": "station", "what": "stopping"})  # type: ignore[arg-type]
    assert len(watcher.seen) == 2
    pm.register(watcher, "acme.watcher")  # the name is free again
    assert pm.get_plugin("acme.watcher") is watcher


def test_the_history_hooks_are_observers_a_raising_one_is_logged_and_the_others_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="pecc_core.standin")

    class Broken:
        @hookimpl
        def pecc_event_recorded(self) -> None:
            raise RuntimeError("publisher bug")

    pm = PluginManager()
    station = object()
    watcher = HistoryWatcher(station)
    pm.register(watcher, "watcher")
    pm.register(Broken(), "broken")
    pm.event_recorded(station, {"ts": 1.0, "gun": None, "kind": "station", "what": "started"})  # type: ignore[arg-type]
    assert [kind for kind, _ in watcher.seen] == ["event"]
    assert [r.getMessage().split(": raised")[0] for r in caplog.records] == ["plugin 'broken' in pecc_event_recorded"]
