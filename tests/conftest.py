"""Shared test configuration: the fixtures come from the `pecc` pytest plugin (pecc_core.testing).

Hypothesis profiles. No profile has a per-example deadline: a deadline is a
timed assertion, and the suite must pass on a small machine shared with
other jobs (a slow example there says nothing about the code).

- ``ci`` (chosen when the environment sets ``CI``): derandomized, so a CI
  run is repeatable and a red build is the code's fault, not the draw's;
  prints the reproduction blob of a failure.
- ``explore`` (the default, e.g. ``make test`` by hand): random examples,
  so local runs keep finding new cases.

``HYPOTHESIS_PROFILE=ci|explore`` picks one by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_LOADED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, print_blob=True, **_LOADED)  # type: ignore[arg-type]
settings.register_profile("explore", **_LOADED)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "explore"))


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's stations keep their history and runtime files in the test's own directory."""
    directory = tmp_path / "state"
    monkeypatch.setenv("PECC_STATE_DIR", str(directory))
    monkeypatch.delenv("PECC_CTL_PORT", raising=False)
    return directory
