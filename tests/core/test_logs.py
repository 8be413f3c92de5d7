"""The operator's log: formats, journald detection, per-logger levels from the profile."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pecc_core.logs import configure, under_journald
from pecc_core.plugins import default_manager
from pecc_core.profile import ProfileError
from pecc_core.profile import load as load_profile
from pecc_core.testing import write_profile


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure() replaces the root's handlers and sets levels: put everything back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("websockets", "aiohttp.access", "pecc.test")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def journal_of(path: Path) -> dict[str, str]:
    """The environment systemd gives a service whose stderr is ``path`` in the journal."""
    stat = os.stat(path)
    return {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}


def log_to(path: Path, log_format: str, environ: dict[str, str], **levels: str) -> None:
    with path.open("a") as stream:
        configure("INFO", log_format, levels, stream=stream, environ=environ)
        logger = logging.getLogger("pecc.test")
        logger.info("gun %s: connected", "1-1", extra={"gun": "1-1"})
        logger.warning("module %d: lost", 3, extra={"module_address": 3})
        logger.debug("hidden unless the logger's level says so")
        logging.getLogger().handlers[0].flush()


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_carry_a_time_except_under_journald(tmp_path: Path) -> None:
    plain = tmp_path / "plain.log"
    plain.touch()
    log_to(plain, "text", {})
    first = plain.read_text().splitlines()[0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO +pecc\.test: gun 1-1: connected$", first), first

    journal = tmp_path / "journal.log"
    journal.touch()
    log_to(journal, "text", journal_of(journal))
    # One time only (the journal's) and the syslog priority: 6 info, 4 warning.
    assert journal.read_text().splitlines() == ["<6>pecc.test: gun 1-1: connected", "<4>pecc.test: module 3: lost"]


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_have_level_logger_message_and_the_gun_or_module(tmp_path: Path) -> None:
    path = tmp_path / "json.log"
    path.touch()
    log_to(path, "json", {})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in lines] == [
        ("INFO", "pecc.test", "gun 1-1: connected"),
        ("WARNING", "pecc.test", "module 3: lost"),
    ]
    assert lines[0]["gun"] == "1-1" and lines[1]["module"] == 3
    assert all("time" in r for r in lines)
    journal = tmp_path / "journal.json"
    journal.touch()
    log_to(journal, "json", journal_of(journal))
    assert all("time" not in json.loads(line) for line in journal.read_text().splitlines())


@pytest.mark.usefixtures("restore_logging")
def test_per_logger_levels_and_quiet_libraries(tmp_path: Path) -> None:
    path = tmp_path / "levels.log"
    path.touch()
    log_to(path, "text", {}, **{"pecc.test": "DEBUG"})
    assert "hidden unless" in path.read_text()
    # websockets logs every connection open/close that pepws logs with its gun: quiet by default
    assert logging.getLogger("websockets").level == logging.WARNING


def test_journald_is_detected_from_the_stream_not_just_the_variable(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.touch()
    other.touch()
    with mine.open() as stream:
        assert under_journald(stream, journal_of(mine))
        assert not under_journald(stream, journal_of(other))  # inherited from a parent service
        assert not under_journald(stream, {})
        assert not under_journald(stream, {"JOURNAL_STREAM": "nonsense"})


def profile_with(tmp_path: Path, overrides: dict[str, Any]) -> Any:
    return load_profile(str(write_profile("sim", tmp_path, overrides)), default_manager())


def test_the_profile_sets_format_and_levels_per_logger(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, {"log_format": "json", "log_levels": {"pecc_plugins.pepws": "DEBUG"}})
    assert profile.log_format == "json"
    assert profile.log_levels == {"pecc_plugins.pepws": "DEBUG"}
    assert profile_with(tmp_path, {}).log_format == "text"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"log_format": "xml"}, "log_format: got 'xml'; expected one of text, json"),
        (
            {"log_levels": {"websockets": "LOUD"}},
            "log_levels.websockets: got 'LOUD'; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        ({"log_levels": {"no such!": "INFO"}}, "expected a logger name like pecc_plugins.pepws, not 'no such!'"),
    ],
)
def test_bad_log_settings_are_refused_naming_the_key(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as refused:
        profile_with(tmp_path, overrides)
    assert message in str(refused.value)
