"""The marshmallow schemas accept exactly what the official JSON schemas accept."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from pecc_plugins.pepws import schemas

from .conftest import OFFICIAL
from .helpers import OfficialSchemas

NAMES = sorted(OFFICIAL.validators) if OFFICIAL is not None else []
ENUM_WORDS = [
    "open", "closed", "standby", "preCharge", "charge", "postCharge", "valid", "invalid", "warning",
    "fault", "operative", "inoperative", "disconnected", "connected", "energyTransferAllowed", "error",
    "scheduled", "dynamic", "dynamicBpt", "format", "value", "internal", "generic", "Open", "",
]
EDGES = [
    -(2**31), -(2**31 - 1), -1, -0.5, 0, 0.0, 0.5, 1, 5.0, 99.9, 100, 100.5,
    2**31 - 1, float(2**31 - 1), 2**31, 1e300, -1e300, True, False, None,
]
values = st.sampled_from(EDGES) | st.sampled_from(ENUM_WORDS) | st.sampled_from(
    [[], ["d1"], [1], ["d1", 2], {}, {"a": 1}, {"d1": True}]
)


def valid(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under a (small) JSON schema node: enough for the PEP-WS files."""
    if "$ref" in node:
        node = root["definitions"][node["$ref"].rpartition("/")[2]]
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    lo, hi = node.get("minimum"), node.get("maximum")
    if kind == "number":
        return st.integers(lo, hi) | st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if kind == "integer":
        return st.integers(lo, hi)
    if kind == "string":
        return st.text(max_size=5)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(valid(node["items"], root), max_size=3)
    if kind == "object":
        props = node.get("properties", {})
        required = node.get("required", [])
        return st.fixed_dictionaries(
            {k: valid(props[k], root) for k in required},
            optional={k: valid(v, root) for k, v in props.items() if k not in required},
        )
    return values  # the empty schema {}: anything


def marshmallow_accepts(key: tuple[str, str], message: Any) -> bool:
    schema = schemas.ERROR if key[0] == "error" else schemas.MESSAGES[key]
    try:
        schema.load(message)
    except ValidationError:
        return False
    return True


def test_every_official_schema_has_a_marshmallow_twin(official: OfficialSchemas) -> None:
    mirrored = {*schemas.MESSAGES, ("error", "error")}
    assert set(official.validators) == mirrored


def test_error_kind_enum_quirk_is_the_only_widening(official: OfficialSchemas) -> None:
    """Ours accepts every protocol kind in an error; the official enum only seven."""
    enum = official.validators[("error", "error")].schema["definitions"]["kindType"]["enum"]
    assert tuple(enum) == schemas.OFFICIAL_ERROR_KINDS
    assert official.quirk_kinds == set(schemas.REQUEST_KINDS) - set(enum)


@pytest.mark.parametrize("key", NAMES, ids=["-".join(k) for k in NAMES])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_marshmallow_agrees_with_the_official_schema(official: OfficialSchemas, key: tuple[str, str], data: st.DataObject) -> None:
    schema = official.validators[key].schema
    # deep copies: the pools hold shared lists and dicts that must not be mutated
    message = copy.deepcopy(data.draw(valid(schema, schema)))
    for _ in range(data.draw(st.integers(0, 2))):  # break (or not) one or two things
        payload = message.get("payload")
        target = payload if isinstance(payload, dict) and data.draw(st.booleans()) else message
        name = data.draw(st.sampled_from([*sorted(target), "extra"]))
        if name in target and data.draw(st.booleans()):
            del target[name]
        else:
            target[name] = copy.deepcopy(data.draw(values))
    official_verdict = official.validators[key].is_valid(message)
    event("valid" if official_verdict else "invalid")
    assert marshmallow_accepts(key, message) == official_verdict, message
