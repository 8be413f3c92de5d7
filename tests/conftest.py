"""Shared test configuration: the fixtures come from the `pecc` pytest plugin (pecc_core.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's stations keep their history and runtime files in the test's own directory."""
    directory = tmp_path / "state"
    monkeypatch.setenv("PECC_STATE_DIR", str(directory))
    monkeypatch.delenv("PECC_CTL_PORT", raising=False)
    return directory
