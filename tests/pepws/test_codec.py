"""Frames in and out: strict JSON, sequence numbers, integer mode, the status template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.model import Contactors, Isolation, Operational, Status
from pecc_plugins.pepws.codec import Encoder, FrameError, SequenceCounter, integers, parse, sequence_of
from pecc_plugins.pepws.handlers import conservative_integer

from .helpers import OfficialSchemas, floats_in


def test_sequence_counter_runs_from_1_and_wraps_to_1() -> None:
    counter = SequenceCounter()
    assert [counter.next(), counter.next()] == [1, 2]
    counter.last = 2**31 - 2
    assert [counter.next(), counter.next(), counter.next()] == [2**31 - 1, 1, 2]


@pytest.mark.parametrize(
    ("message", "seq"),
    [
        ({"sequenceNumber": 7}, 7),
        ({"sequenceNumber": 7.0}, 7),
        ({"sequenceNumber": 0}, 0),
        ({"sequenceNumber": 2**31 - 1}, 2**31 - 1),
        ({"sequenceNumber": 2**31}, 0),
        ({"sequenceNumber": -1}, 0),
        ({"sequenceNumber": 7.5}, 0),
        ({"sequenceNumber": "7"}, 0),
        ({"sequenceNumber": True}, 0),
        ({"sequenceNumber": float("nan")}, 0),
        ({}, 0),
        ([7], 0),
    ],
)
def test_sequence_of(message: Any, seq: int) -> None:
    assert sequence_of(message) == seq


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "{", "", "{'a': 1}"])
def test_parse_refuses_what_is_not_json(text: str) -> None:
    with pytest.raises(FrameError, match="not valid JSON"):
        parse(text)


def test_parse_survives_absurd_nesting() -> None:
    with pytest.raises(FrameError):
        parse("[" * 100_000 + "]" * 100_000)


def test_integers_rounds_every_float_at_any_depth_and_keeps_booleans() -> None:
    value = {"a": 1.5, "b": [2.4, {"c": -0.6}], "d": True, "e": "x", "f": 3}
    assert integers(value) == {"a": 2, "b": [2, {"c": -1}], "d": True, "e": "x", "f": 3}


def test_message_is_compact_in_protocol_order() -> None:
    frame = Encoder(True).message("response", "reset", {}, 5)
    assert frame == b'{"type":"response","kind":"reset","sequenceNumber":5,"payload":{}}'


@pytest.mark.parametrize("float_values", [True, False])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_message_refuses_what_is_no_json_number_at_any_depth(float_values: bool, bad: float) -> None:
    with pytest.raises(ValueError, match="not a JSON number"):
        Encoder(float_values).message("info", "event", {"x": [1, {"y": bad}]})


@pytest.mark.parametrize(
    "text",
    [
        '{"sequenceNumber": 7, "v": 1e400}',  # beyond a double: orjson refuses, JSON allows
        '{"sequenceNumber": 7, "v": "\\ud800"}',  # an escaped lone surrogate: likewise
        '{"sequenceNumber": 7, "v": 100000000000000000000000000000}',
    ],
)
def test_json_beyond_orjson_is_still_parsed_with_its_sequence_number(text: str) -> None:
    assert sequence_of(parse(text)) == 7


readings = st.floats() | st.integers(-(2**40), 2**40)


@given(
    values=st.tuples(readings, readings, readings, readings, readings),
    states=st.tuples(st.sampled_from(Contactors), st.sampled_from(Isolation), st.sampled_from(Operational)),
    float_values=st.booleans(),
)
def test_status_is_always_valid_whatever_the_readings(
    official: OfficialSchemas, values: tuple[float, ...], states: tuple[Any, ...], float_values: bool
) -> None:
    text = Encoder(float_values).status(Status(*values, *states))
    message = json.loads(text)
    assert official.problems(message) == []
    if not float_values:
        assert floats_in(message) == []


def test_status_keeps_precise_values_in_float_mode() -> None:
    status = Status(401.25, 10.5, 400, 0.0, -12.5, Contactors.CLOSED, Isolation.WARNING, Operational.OPERATIVE)
    assert json.loads(Encoder(True).status(status))["payload"] == {
        "measuredVoltage": 401.25,
        "measuredCurrent": 10.5,
        "drivenVoltage": 400,
        "drivenCurrent": 0,
        "temperature": -12.5,
        "contactorsStatus": "closed",
        "isolationStatus": "warning",
        "operationalStatus": "operative",
    }


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("limitVoltageMax", 999.6, 999),
        ("limitVoltageMin", 150.2, 151),
        ("limitCurrentMax", 200.0, 200),
        ("limitPowerMin", 0.0, 0),
        ("limitDischargeCurrentMax", -80.7, -80),
        ("limitDischargeCurrentMin", -0.4, -1),
    ],
)
def test_integer_limits_never_promise_more(key: str, value: float, expected: int) -> None:
    assert conservative_integer(key, value) == expected
