"""SECC -> PECC requests and infos over a real connection: replies, errors, mapping to the gun."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from pecc_core.errors import InoperativeRefused, InternalRefused, Refused, ValueRefused
from pecc_core.model import ChargeMode, EvConnection, Limits, Phase, Target
from pecc_core.power import ModuleId
from pecc_core.testing import eventually

from .conftest import Pecc, assert_valid
from .helpers import PepClient

VALID: dict[str, Any] = {
    "configuration": {},
    "cableCheck": {"voltage": 500},
    "targetValues": {
        "targetVoltage": 400.5,
        "targetCurrent": 10,
        "batteryStateOfCharge": 50,
        "chargingState": "preCharge",
    },
    "contactorsStatus": {"contactorsStatus": "closed"},
    "reset": {},
}
TARGET = VALID["targetValues"]


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def pecc(shared_pecc: Pecc) -> AsyncIterator[Pecc]:
    """The module's station; each test's clients are closed (and checked) after it."""
    yield shared_pecc
    assert_valid(await shared_pecc.close_clients())


@pytest_asyncio.fixture(loop_scope="module")
async def client(pecc: Pecc) -> PepClient:
    return await pecc.connect()


class GunCalls:
    """Replaces a gun's request methods by recorders that accept everything."""

    def __init__(self, pecc: Pecc, monkeypatch: pytest.MonkeyPatch, gun_id: str = "1-1") -> None:
        self.calls: list[tuple[str, Any]] = []
        gun = pecc.gun(gun_id)
        for name in ("cable_check", "target_values", "set_contactors", "reset"):
            monkeypatch.setattr(gun, name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(*args: Any) -> None:
            self.calls.append((name, args[0] if args else None))

        return record


@pytest.mark.parametrize(
    ("kind", "call"),
    [
        ("configuration", None),
        ("cableCheck", ("cable_check", 500)),
        ("targetValues", ("target_values", Target(400.5, 10, 50, Phase.PRECHARGE))),
        ("contactorsStatus", ("set_contactors", True)),
        ("reset", ("reset", None)),
    ],
)
async def test_valid_request_gets_response_and_reaches_the_gun(
    pecc: Pecc, client: PepClient, kind: str, call: tuple[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    gun = GunCalls(pecc, monkeypatch)
    reply = await client.call(kind, VALID[kind], seq=41)
    assert (reply["type"], reply["kind"], reply["sequenceNumber"]) == ("response", kind, 41)
    assert gun.calls == ([call] if call else [])
    if kind != "configuration":
        assert reply["payload"] == {}


async def test_contactors_open_maps_to_false(pecc: Pecc, client: PepClient, monkeypatch: pytest.MonkeyPatch) -> None:
    gun = GunCalls(pecc, monkeypatch)
    await client.call("contactorsStatus", {"contactorsStatus": "open"})
    assert gun.calls == [("set_contactors", False)]


async def test_configuration_reports_the_gun_and_station(pecc: Pecc, client: PepClient) -> None:
    # The gun's 120 kW cap, narrowed to the 2 x 30 kW modules `static` gives it on sim
    # once they answered (a fresh station has not heard them yet).
    modules = (ModuleId("can", 1), ModuleId("can", 5))
    await eventually(lambda: pecc.station.pool.modules_of("1-1") == modules, 3.0, "modules 1 and 5 on gun 1-1")
    payload = (await client.call("configuration"))["payload"]
    assert payload == {
        "firmwareVersion": payload["firmwareVersion"],
        "manufacturer": "PECC",
        "limitVoltageMin": 150.0,
        "limitVoltageMax": 1000.0,
        "limitCurrentMin": 0.0,
        "limitCurrentMax": 200.0,
        "limitPowerMin": 0.0,
        "limitPowerMax": 60000.0,
        "floatValues": True,
    }
    assert payload["firmwareVersion"]


async def test_configuration_has_bpt_fields_only_when_the_hardware_discharges(
    pecc: Pecc, client: PepClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pecc.gun(), "offered_limits", lambda: Limits(150, 1000, 0, 200, 0, 120000, -1, -200, -500, -120000))
    payload = (await client.call("configuration"))["payload"]
    assert payload["limitDischargeCurrentMin"] == -1
    assert payload["limitDischargeCurrentMax"] == -200
    assert payload["limitDischargePowerMin"] == -500
    assert payload["limitDischargePowerMax"] == -120000


INVALID: list[tuple[str, Any]] = [
    ("cableCheck", {}),
    ("cableCheck", {"voltage": -1}),
    ("cableCheck", {"voltage": "500"}),
    ("cableCheck", {"voltage": True}),
    ("cableCheck", {"voltage": 2**31}),
    ("cableCheck", []),
    ("targetValues", {k: v for k, v in TARGET.items() if k != "chargingState"}),
    ("targetValues", {**TARGET, "batteryStateOfCharge": 100.5}),
    ("targetValues", {**TARGET, "chargingState": "drive"}),
    ("targetValues", {**TARGET, "targetCurrent": None}),
    ("contactorsStatus", {"contactorsStatus": "half"}),
    ("contactorsStatus", {"contactorsStatus": "Closed"}),
    ("contactorsStatus", None),
]


@pytest.mark.parametrize(("kind", "payload"), INVALID)
async def test_schema_invalid_request_gets_format_error_with_its_seq(
    pecc: Pecc, client: PepClient, kind: str, payload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gun = GunCalls(pecc, monkeypatch)
    reply = await client.call(kind, payload, seq=77)
    assert (reply["type"], reply["kind"], reply["sequenceNumber"]) == ("error", kind, 77)
    assert reply["payload"]["errorCategory"] == "format"
    assert reply["payload"]["errorDetails"]
    assert gun.calls == []


@pytest.mark.parametrize("kind", ["configuration", "reset"])
async def test_missing_payload_is_a_format_error(client: PepClient, kind: str) -> None:
    await client.send({"type": "request", "kind": kind, "sequenceNumber": 5})
    reply = await client.reply()
    assert (reply["kind"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == (kind, 5, "format")
    assert "payload" in reply["payload"]["errorDetails"]


@pytest.mark.parametrize("payload", [None, 5, "x", [1], {"anything": True}])
async def test_empty_schema_payload_accepts_any_value(pecc: Pecc, client: PepClient, payload: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The official ``"payload": {}`` allows any JSON value: mirrored on purpose."""
    GunCalls(pecc, monkeypatch)
    reply = await client.call("reset", payload)
    assert reply["type"] == "response"


async def test_extra_properties_are_accepted(pecc: Pecc, client: PepClient, monkeypatch: pytest.MonkeyPatch) -> None:
    gun = GunCalls(pecc, monkeypatch)
    await client.send(
        {"type": "request", "kind": "cableCheck", "sequenceNumber": 9, "vendor": 1, "payload": {"voltage": 400, "x": 2}}
    )
    reply = await client.reply()
    assert reply["type"] == "response"
    assert gun.calls == [("cable_check", 400)]


async def test_integral_float_sequence_number_is_an_integer(pecc: Pecc, client: PepClient, monkeypatch: pytest.MonkeyPatch) -> None:
    GunCalls(pecc, monkeypatch)
    await client.send('{"type":"request","kind":"reset","sequenceNumber":12.0,"payload":{}}')
    reply = await client.reply()
    assert (reply["type"], reply["sequenceNumber"]) == ("response", 12)


@pytest.mark.parametrize("seq", ["7", -1, 2**31, 1.5, True, None])
async def test_unreadable_sequence_number_is_answered_with_0(client: PepClient, seq: Any) -> None:
    await client.send({"type": "request", "kind": "reset", "sequenceNumber": seq, "payload": {}})
    reply = await client.reply()
    assert (reply["type"], reply["kind"], reply["sequenceNumber"]) == ("error", "reset", 0)
    assert reply["payload"]["errorCategory"] == "format"
    assert "sequenceNumber" in reply["payload"]["errorDetails"]


@pytest.mark.parametrize("text", ["", "{", "nonsense", "NaN", '{"type": "request", "kind": Infinity}', "[1,", "\ufeff{}"])
async def test_non_json_gets_format_error_with_seq_0(client: PepClient, text: str) -> None:
    await client.send(text)
    reply = await client.reply()
    assert (reply["type"], reply["kind"], reply["sequenceNumber"]) == ("error", "error", 0)
    assert reply["payload"]["errorCategory"] == "format"


@pytest.mark.parametrize("text", ["[]", "5", '"request"', "null"])
async def test_json_that_is_not_an_object_gets_format_error(client: PepClient, text: str) -> None:
    await client.send(text)
    reply = await client.reply()
    assert (reply["kind"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("error", 0, "format")


async def test_binary_frame_gets_format_error(client: PepClient) -> None:
    await client.send(b'{"type":"request","kind":"reset","sequenceNumber":3,"payload":{}}')
    reply = await client.reply()
    assert (reply["kind"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("error", 0, "format")
    assert "binary" in reply["payload"]["errorDetails"]


async def test_unknown_request_kind_gets_format_error_of_kind_error(client: PepClient) -> None:
    reply = await client.call("selfDestruct", {}, seq=8)
    assert (reply["type"], reply["kind"], reply["sequenceNumber"]) == ("error", "error", 8)
    assert reply["payload"]["errorCategory"] == "format"
    assert "selfDestruct" in reply["payload"]["errorDetails"]


async def test_info_kind_sent_as_request_is_an_unknown_request(client: PepClient) -> None:
    reply = await client.call("status", {}, seq=4)
    assert (reply["kind"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("error", 4, "format")


@pytest.mark.parametrize("msg_type", ["Request", "command", None, 1])
async def test_unknown_type_gets_format_error(client: PepClient, msg_type: Any) -> None:
    await client.send({"type": msg_type, "kind": "reset", "sequenceNumber": 6, "payload": {}})
    reply = await client.reply()
    assert (reply["kind"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("reset", 6, "format")


async def test_request_the_pecc_only_sends_gets_generic_error(client: PepClient) -> None:
    reply = await client.call("getInput", {"inputIdentifiers": ["d1"]}, seq=10)
    assert (reply["kind"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("getInput", 10, "generic")


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (ValueRefused("target voltage 1200 V above the limit 1000 V"), "value"),
        (InoperativeRefused("transition to standby"), "inoperative"),
        (InternalRefused("CP/PP supervision forbids closing"), "internal"),
        (Refused("not now"), "generic"),
        (RuntimeError("driver exploded"), "internal"),
    ],
)
async def test_gun_refusals_map_to_error_categories(
    pecc: Pecc, client: PepClient, exc: Exception, category: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(target: Target) -> None:
        raise exc

    monkeypatch.setattr(pecc.gun(), "target_values", refuse)
    reply = await client.call("targetValues", TARGET, seq=21)
    assert (reply["type"], reply["kind"], reply["sequenceNumber"]) == ("error", "targetValues", 21)
    assert reply["payload"]["errorCategory"] == category
    assert str(exc) in reply["payload"]["errorDetails"]
    if category == "internal" and isinstance(exc, RuntimeError):
        assert "driver exploded" in caplog.text  # an unexpected failure leaves a log line
    # the connection stays up and serves the next request
    assert (await client.call("configuration"))["type"] == "response"


async def test_ev_connection_state_is_stored_on_the_gun(pecc: Pecc, client: PepClient) -> None:
    gun = pecc.gun()
    await client.send({"type": "info", "kind": "evConnectionState", "payload": {"evConnectionState": "connected", "vehicleId": "WVW-42"}})
    await client.call("configuration")  # infos and requests are handled in arrival order
    assert (gun.ev_connection, gun.vehicle_id) == (EvConnection.CONNECTED, "WVW-42")
    await client.send({"type": "info", "kind": "evConnectionState", "payload": {"evConnectionState": "energyTransferAllowed"}})
    await client.call("configuration")
    assert (gun.ev_connection, gun.vehicle_id) == (EvConnection.ENERGY_TRANSFER_ALLOWED, "WVW-42")


async def test_charging_session_merges_partial_updates(pecc: Pecc, client: PepClient) -> None:
    ev = pecc.gun().ev
    ev.clear()
    await client.send({"type": "info", "kind": "chargingSession", "payload": {"evMaxVoltageVolts": 800, "evMaxCurrentAmperes": 300, "chargeMode": "dynamic"}})
    await client.send({"type": "info", "kind": "chargingSession", "payload": {"evMaxCurrentAmperes": 250.5, "evMaxDischargePowerWatts": -7000}})
    await client.call("configuration")
    assert ev.ev_max_voltage_volts == 800
    assert ev.ev_max_current_amperes == 250.5
    assert ev.ev_max_discharge_power_watts == -7000
    assert ev.charge_mode is ChargeMode.DYNAMIC
    assert ev.ev_min_voltage_volts is None


async def test_infos_and_stray_replies_get_no_reply(pecc: Pecc, client: PepClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    ignored = [
        {"type": "info", "kind": "chargingSession", "payload": {"evMaxVoltageVolts": -5}},  # invalid
        {"type": "info", "kind": "evConnectionState", "payload": {}},  # invalid
        {"type": "info", "kind": "weather", "payload": {"sunny": True}},  # unknown kind
        {"type": "info", "kind": "status", "payload": {}},  # a kind the PECC sends
        {"type": "info", "kind": "event", "payload": {"eventDetails": "door open"}},
        {"type": "response", "kind": "getInput", "sequenceNumber": 99, "payload": {}},  # nothing pending
        {"type": "error", "kind": "getInput", "sequenceNumber": 99, "payload": {"errorCategory": "value", "errorDetails": ""}},
        {"type": "response", "kind": "teleport", "sequenceNumber": 1, "payload": {}},
    ]
    for message in ignored:
        await client.send(message)
    reply = await client.call("configuration", seq=1234)
    assert reply["sequenceNumber"] == 1234  # the first reply is the one to the request
    assert client.replies.empty()
    assert pecc.gun().ev.ev_max_voltage_volts != -5
    assert "door open" in caplog.text
    assert "weather" in caplog.text


async def test_pecc_event_reaches_the_secc(pecc: Pecc, client: PepClient) -> None:
    await client.call("configuration")  # connected and attached
    pecc.gun().link().send_event("module 3 over-temperature")
    event = await asyncio.wait_for(client.infos.get(), 2)
    assert event == {"type": "info", "kind": "event", "payload": {"eventDetails": "module 3 over-temperature"}}
