"""`pip install pecc` is the core; the ops server and the site service are extras that say when they are missing."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pecc_core.extras import missing_extra, require

ROOT = Path(__file__).resolve().parents[2]

# Import names of what each extra brings, and the one plugin package allowed to import them.
EXTRA_MODULES = {
    "aiohttp": ("ops", "plugins/pecc_plugins/ctl"),
    "prometheus_client": ("ops", "plugins/pecc_plugins/ctl"),
    "aiomqtt": ("site", "plugins/pecc_plugins/site"),
    "paho": ("site", "plugins/pecc_plugins/site"),
}


def _project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def _names(requirements: list[str]) -> set[str]:
    """Distribution names, normalized: `prometheus_client>=0.20` is `prometheus-client`."""
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_the_core_dependencies_leave_the_extras_out() -> None:
    project = _project()
    extras = project["optional-dependencies"]
    assert _names(project["dependencies"]).isdisjoint({"aiohttp", "prometheus-client", "aiomqtt", "paho-mqtt"})
    assert _names(extras["ops"]) == {"aiohttp", "prometheus-client"}
    assert _names(extras["site"]) == {"aiomqtt", "paho-mqtt"}
    # `make run` and `make test` install `.[test]`: everything
    assert "pecc[ops,site]" in extras["test"]


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, wherever in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_only_the_plugin_of_an_extra_imports_its_packages() -> None:
    sources = [*(ROOT / "pecc_core").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    assert len(sources) > 100
    wrong = []
    for path in sources:
        relative = path.relative_to(ROOT).as_posix()
        for module in _imports(path) & EXTRA_MODULES.keys():
            extra, home = EXTRA_MODULES[module]
            if not relative.startswith(f"{home}/"):
                wrong.append(f"{relative} imports {module} (pecc[{extra}])")
    assert wrong == []


def _distribution(tmp_path: Path, *requires: str) -> importlib.metadata.PathDistribution:
    info = tmp_path / "pecc_acme-1.0.dist-info"
    info.mkdir()
    lines = [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(["Metadata-Version: 2.1", "Name: pecc-acme", "Version: 1.0", *lines]) + "\n")
    return importlib.metadata.PathDistribution(info)


def test_a_missing_module_is_found_among_the_extras_of_the_plugins_distribution(tmp_path: Path) -> None:
    dist = _distribution(
        tmp_path,
        "marshmallow>=4",
        'Prometheus-Client>=0.20; extra == "ops"',
        "acme.modbus ; python_version >= '3.11' and extra == 'modbus'",
        "ruff; extra == 'test'",
    )

    def missing(name: str | None) -> str | None:
        return missing_extra(ModuleNotFoundError(f"No module named {name!r}", name=name), dist)

    assert missing("prometheus_client.core") == "pip install pecc-acme[ops]"
    assert missing("acme_modbus") == "pip install pecc-acme[modbus]"
    assert missing("ruff") == "pip install pecc-acme[test]"
    # a core dependency, a module no extra brings, no module name, another error: nothing to install
    assert missing("marshmallow") is None
    assert missing("acme") is None
    assert missing(None) is None
    assert missing_extra(ImportError("cannot import name 'x'", name="prometheus_client"), dist) is None
    assert missing_extra(ModuleNotFoundError("No module named 'acme_modbus'", name="acme_modbus"), None) is None


def test_require_looks_for_the_modules_without_importing_them() -> None:
    require("pecc_core", "json")
    with pytest.raises(ModuleNotFoundError, match="No module named 'pecc_no_such_module'") as raised:
        require("json", "pecc_no_such_module", "pecc_no_such_module_either")
    assert raised.value.name == "pecc_no_such_module"


# -- the installed PECC without an extra: a fresh interpreter where the extra's package is absent ---------


@pytest.fixture
def installed() -> None:
    """PECC's installed metadata has the extras (the messages come from it): not an install older than them."""
    requires = importlib.metadata.distribution("pecc").requires or []
    assert any('extra == "ops"' in r for r in requires), "PECC is installed from an older pyproject.toml: make setup"


def pecc_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``pecc ARGS`` in a fresh interpreter where ``module`` cannot be imported, as if its extra were left out."""
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        f"sys.argv = ['pecc', *{args!r}]\n"
        "from pecc_core.cli import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"}
    )


def test_a_profile_with_the_ctl_service_and_no_ops_extra_says_what_to_install(installed: None) -> None:
    result = pecc_without("aiohttp", "profiles", "validate", "sim")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(
        r"services\[\d\]\.name: got 'ctl'; unknown service 'ctl' \(installed: [^)]*\); "
        r"plugin 'ctl' not loaded: needs `pip install pecc\[ops\]` \(No module named 'aiohttp'\)$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr


def test_plugins_list_shows_the_plugin_and_its_extra(installed: None) -> None:
    result = pecc_without("aiohttp", "plugins", "list")
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if "FAILED TO LOAD" in line]
    assert re.search(r"\bctl\b.*FAILED TO LOAD.*needs `pip install pecc\[ops\]` \(No module named 'aiohttp'\)", row)
    # what the core offers is still listed
    assert "pepws" in result.stdout and "uugreen" in result.stdout


@pytest.mark.parametrize(
    ("module", "args", "extra"),
    [
        ("aiohttp", ("ctl", "guns", "--json"), "ops"),
        ("prometheus_client", ("ctl", "--help"), "ops"),
        ("aiomqtt", ("site", "status", "--profile", "site.toml"), "site"),
    ],
)
def test_a_command_of_a_plugin_without_its_extra_says_what_to_install(
    installed: None, module: str, args: tuple[str, ...], extra: str
) -> None:
    result = pecc_without(module, *args)
    assert result.returncode == 2
    assert result.stderr == (
        f"pecc {args[0]}: plugin {args[0]!r} not loaded: needs `pip install pecc[{extra}]` "
        f"(No module named {module!r})\n"
    )
