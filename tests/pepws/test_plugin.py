"""How the plugin plugs in: the transport by name, handlers a vendor may override."""

from __future__ import annotations

from typing import Any

import pytest

from pecc_core import hookimpl
from pecc_core.plugins import default_manager

from .conftest import StartPecc


def test_pepws_is_the_registered_transport_and_handles_every_secc_kind() -> None:
    plugins = default_manager()
    assert plugins.registry("transport").get("pepws").plugin == "pepws"
    assert set(plugins.message_handlers()) >= {
        ("request", "configuration"),
        ("request", "cableCheck"),
        ("request", "targetValues"),
        ("request", "contactorsStatus"),
        ("request", "reset"),
        ("info", "evConnectionState"),
        ("info", "chargingSession"),
    }


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
