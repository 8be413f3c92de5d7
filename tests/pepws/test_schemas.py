"""The compiled validators accept exactly what the official JSON schemas accept.

The oracle is ``jsonschema`` (draft-06) on the files of the specification;
the validators under test are fastjsonschema's compilation of the copies the
package ships.
"""

from __future__ import annotations

import copy
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pecc_plugins.pepws import schemas

from .conftest import OFFICIAL
from .helpers import OfficialSchemas, find_official_schemas

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


def fast_accepts(key: tuple[str, str], message: Any) -> bool:
    validate = schemas.ERROR if key[0] == "error" else schemas.MESSAGES[key]
    return schemas.problem(validate, message) is None


def test_the_shipped_schemas_are_the_official_files(official: OfficialSchemas) -> None:
    directory = find_official_schemas()
    assert directory is not None
    shipped = {f.name: f.read_bytes() for f in files("pecc_plugins.pepws").joinpath("official").iterdir()}
    assert shipped == {path.name: path.read_bytes() for path in directory.glob("*.json")}


def test_every_official_schema_is_compiled(official: OfficialSchemas) -> None:
    assert set(official.validators) == {*schemas.MESSAGES, ("error", "error")}


def error(kind: Any) -> dict[str, Any]:
    payload = {"errorCategory": "value", "errorDetails": "x"}
    return {"type": "error", "kind": kind, "sequenceNumber": 1, "payload": payload}


@pytest.mark.parametrize("kind", [*schemas.REQUEST_KINDS, *schemas.INFO_KINDS, "error"])
def test_an_error_may_carry_any_kind_of_the_protocol(official: OfficialSchemas, kind: str) -> None:
    """The one widening: the official enum lists seven kinds, while the protocol text says
    an error carries the kind of the request it answers."""
    oracle = official.validators[("error", "error")]
    assert fast_accepts(("error", "error"), error(kind))
    assert oracle.is_valid(error(kind)) == (kind in oracle.schema["definitions"]["kindType"]["enum"])


@pytest.mark.parametrize("kind", ["vendorThing", "", "Reset", 5])
def test_an_error_of_no_protocol_kind_is_refused(kind: Any) -> None:
    assert not fast_accepts(("error", "error"), error(kind))


@pytest.mark.parametrize(
    ("items", "where"),
    [([1] * 32_000, "[0]: must be string"), ([[]] * 32_000, "[0]: must be string"), (["a"] * 31_999 + [7], "[31999]:")],
)
def test_validation_reports_the_first_failure_only(items: list[Any], where: str) -> None:
    """A hostile array costs one description, not one per item."""
    message = {"type": "request", "kind": "getInput", "sequenceNumber": 3, "payload": {"inputIdentifiers": items}}
    problem = schemas.problem(schemas.MESSAGES[("request", "getInput")], message)
    assert problem is not None and problem.startswith("payload.inputIdentifiers" + where)
    assert len(problem) < 100


@pytest.mark.parametrize("key", NAMES, ids=["-".join(k) for k in NAMES])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_compiled_validator_agrees_with_the_official_schema(official: OfficialSchemas, key: tuple[str, str], data: st.DataObject) -> None:
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
    assert fast_accepts(key, message) == official_verdict, message
