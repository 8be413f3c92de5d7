"""docs/state-machine.md shows exactly the transition table of the code."""

from __future__ import annotations

from pathlib import Path

from pecc_core.gun import TABLE, Outcome

DOC = Path(__file__).resolve().parents[2] / "docs" / "state-machine.md"
CATEGORY = {"InternalRefused": "internal", "InoperativeRefused": "inoperative", "ValueRefused": "value"}


def outcome_text(outcome: object) -> str:
    if isinstance(outcome, Outcome):
        return outcome.value
    if isinstance(outcome, type):
        return f"error `{CATEGORY[outcome.__name__]}`"
    return f"**{outcome.value}**"  # type: ignore[attr-defined]


def test_the_documented_table_is_the_code_table() -> None:
    rows = [
        f"| {', '.join(s.value for s in states)} | {', '.join(e.value for e in events)} | {outcome_text(o)} |"
        for states, events, o in TABLE
    ]
    lines = DOC.read_text().splitlines()
    start = lines.index("| from | event | outcome |") + 2
    assert lines[start : start + len(rows) + 1] == [*rows, ""]
