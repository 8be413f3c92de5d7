"""How the plugin plugs in: the transport by name, handlers a vendor may override."""

from __future__ import annotations

import types
from typing import Any

import pytest

from pecc_core import hookimpl
from pecc_core.plugins import PluginManager, default_manager
from pecc_plugins.pepws import hookspecs
from pecc_plugins.pepws.dispatch import message_handlers

from .conftest import StartPecc


def test_pepws_is_the_registered_transport_and_handles_every_secc_kind() -> None:
    plugins = default_manager()
    assert plugins.registry("transport").get("pepws").plugin == "pepws"
    assert set(message_handlers(plugins.pluggy_manager)) >= {
        ("request", "configuration"),
        ("request", "cableCheck"),
        ("request", "targetValues"),
        ("request", "contactorsStatus"),
        ("request", "reset"),
        ("info", "evConnectionState"),
        ("info", "chargingSession"),
    }


def test_later_plugins_override_message_handlers() -> None:
    def plugin(tag: str) -> types.SimpleNamespace:
        @hookimpl
        def pecc_register_message_handlers(register):  # type: ignore[no-untyped-def]
            register("info", "event", tag)
            register("info", tag, tag)

        return types.SimpleNamespace(pecc_register_message_handlers=pecc_register_message_handlers)

    pm = PluginManager()
    pm.pluggy_manager.add_hookspecs(hookspecs)
    pm.register(plugin("builtin"), "builtin")
    pm.register(plugin("vendor"), "vendor")
    handlers = message_handlers(pm.pluggy_manager)
    assert handlers[("info", "event")] == "vendor"
    assert handlers[("info", "builtin")] == "builtin"


class Vendor:
    """A vendor plugin that overrides one kind and breaks another on purpose."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def pecc_register_message_handlers(self, register: Any) -> None:
        register("info", "event", lambda gun, payload, link: self.events.append(payload["eventDetails"]))
        register("request", "configuration", lambda gun, payload, link: {"manufacturer": 42})


async def test_vendor_handlers_override_and_invalid_replies_become_internal_errors(
    start_pecc: StartPecc, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = default_manager()
    vendor = Vendor()
    plugins.register(vendor, "vendor")
    pecc = await start_pecc(plugins=plugins)
    client = await pecc.connect()
    await client.send({"type": "info", "kind": "event", "payload": {"eventDetails": "lid open"}})
    reply = await client.call("configuration", seq=3)
    assert vendor.events == ["lid open"]
    assert (reply["type"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("error", 3, "internal")
    assert "invalid configuration response" in reply["payload"]["errorDetails"]
    assert "invalid response" in caplog.text
