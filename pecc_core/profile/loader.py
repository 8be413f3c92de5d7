"""Finding, reading and checking a profile.

A profile is a TOML file, ``profiles/<name>.toml``, read with dynaconf so
that any key can be overridden from the environment with the ``PECC_``
prefix and ``__`` between levels (``PECC_SERVER__PORT=9000``). The result
is checked twice before anything starts: by the core's schemas, then by the
schema of every plugin it names (an unknown name lists the installed ones).
Every problem is reported as ``key: got VALUE; MESSAGE`` in one
:class:`ProfileError`, so a profile author fixes them all in one go. A
valid profile is then judged by the plugins (``pecc_check_profile``: a CAN
bus that cannot carry its modules), as ``key: detail; fix`` lines: a
refusal is a :class:`ProfileError` too, a warning goes to the caller.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dynaconf import Dynaconf
from marshmallow import ValidationError

from pecc_core.doctor import Status
from pecc_core.io import IO_ROLES
from pecc_core.plugins import DISABLE_PLUGINS_ENV, PLUGINS_ENV
from pecc_core.problems import describe
from pecc_core.profile import files, schema
from pecc_core.profile.model import PluginChoice, Profile

if TYPE_CHECKING:
    from pecc_core.plugins import PluginManager
    from pecc_core.registry import Registry

__all__ = [
    "ProfileError",
    "available",
    "check_plugins",
    "check_server_flags",
    "judge",
    "load",
    "read",
    "resolve",
    "search_path",
]

log = logging.getLogger(__name__)

ENV_PREFIX = "PECC"
PROFILES_ENV = "PECC_PROFILES_DIR"
#: ``PECC_*`` variables that configure the process, not a profile key.
PROCESS_ENV = (PROFILES_ENV, "PECC_STATE_DIR", "PECC_CTL_PORT")


class ProfileError(Exception):
    """A profile cannot be used; the message lists every problem."""

    def __init__(self, source: str, problems: list[str], what: str = "invalid profile") -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{what} {source}:\n" + "\n".join(f"  - {p}" for p in problems))


def search_path() -> list[Path]:
    """Where profiles are looked up by name, first match wins."""
    dirs = [Path(p) for p in os.environ.get(PROFILES_ENV, "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "profiles")
    dirs.append(Path(str(importlib.resources.files("pecc_profiles"))))
    return dirs


def available() -> dict[str, Path]:
    """Every profile found on the search path, by name."""
    found: dict[str, Path] = {}
    for directory in search_path():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def resolve(name_or_path: str) -> Path:
    """The file of a profile given by name (``sim``) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or os.sep in name_or_path:
        if candidate.is_file():
            return candidate.resolve()
        raise ProfileError(name_or_path, ["no such file"])
    found = available()
    if name_or_path in found:
        return found[name_or_path].resolve()
    raise ProfileError(
        repr(name_or_path),
        [f"no profile of that name (available: {', '.join(sorted(found)) or 'none'})"],
    )


def read(path: Path) -> dict[str, Any]:
    """The raw settings of ``path`` with ``PECC_*`` environment overrides applied."""
    try:
        settings = Dynaconf(
            settings_files=[str(path)],
            envvar_prefix=ENV_PREFIX,
            environments=False,
            load_dotenv=False,
            merge_enabled=True,
        )
        raw = settings.as_dict()
    except Exception as exc:  # dynaconf reports TOML syntax errors as assorted types
        raise ProfileError(str(path), [f"cannot be read: {exc}"]) from None
    # PECC_* variables that configure PECC itself, not the profile
    own = (*PROCESS_ENV, PLUGINS_ENV, DISABLE_PLUGINS_ENV)
    internal = {"LOAD_DOTENV", *(env[len(ENV_PREFIX) + 1 :] for env in own)}
    return {k.lower(): _lower_keys(v) for k, v in raw.items() if k not in internal}


def _lower_keys(value: Any) -> Any:
    # dynaconf upper-cases keys that only come from the environment.
    if isinstance(value, Mapping):
        return {str(k).lower() if str(k).isupper() else k: _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def load(
    name_or_path: str,
    plugins: PluginManager | None = None,
    *,
    tls_files: bool = True,
    warnings: list[str] | None = None,
) -> Profile:
    """Read, validate and build a profile; with ``plugins``, check every plugin choice and judge it too.

    ``tls_files=False`` leaves out :func:`check_files`: ``pecc doctor``
    reports those files itself, as rows beside the other checks. The
    plugins' warnings (:func:`judge`) go to ``warnings``, or, without it,
    to the log.
    """
    path = resolve(name_or_path)
    raw = read(path)
    try:
        profile = schema.build(raw, name=path.stem, source=path)
    except ValidationError as exc:
        raise ProfileError(str(path), list(describe(exc.messages, raw))) from None
    problems = check_files(profile) if tls_files else []
    if problems:
        raise ProfileError(str(path), problems)
    if plugins is not None:
        profile = check_plugins(profile, raw, plugins)
        found = judge(profile, plugins)
        if warnings is None:
            for line in found:
                log.warning("profile %s: %s", profile.name, line)
        else:
            warnings.extend(found)
    return profile


def judge(profile: Profile, plugins: PluginManager) -> list[str]:
    """What the plugins say of a valid profile (``pecc_check_profile``): its warnings, as ``key: detail; fix``.

    :raises ProfileError: listing every refusal (a bus that cannot carry its modules).
    """
    rows = plugins.check_profile(profile)
    refused = [f"{row.check}: {row.detail}; {row.fix}" for row in rows if row.status is Status.FAIL]
    warned = [f"{row.check}: {row.detail}; {row.fix}" for row in rows if row.status is Status.WARN]
    if refused:
        raise ProfileError(str(profile.source), refused)
    return warned


def check_server_flags(host: str | None, port: int | None) -> dict[str, Any]:
    """The command line's ``--host``/``--port``, checked by the profile's own fields.

    :returns: the given ones, to be set on ``server``.
    :raises ProfileError: ``--port: got 99999; expected a value from 0 to 65535``.
    """
    given = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    fields = schema.ServerSchema().fields
    problems: list[str] = []
    for key, value in given.items():
        try:
            fields[key].deserialize(value)
        except ValidationError as exc:
            problems.extend(describe(exc.messages, value, f"--{key}"))
    if problems:
        raise ProfileError("given", problems, what="invalid options")
    return given


def check_files(profile: Profile) -> list[str]:
    """The TLS files exist; the private key is readable by its owner only."""
    tls = profile.server.tls
    if tls is None:
        return []
    checks = [("server.tls.cert", tls.cert, False), ("server.tls.key", tls.key, True)]
    if tls.client_ca is not None:
        checks.append(("server.tls.client_ca", tls.client_ca, False))
    return [p for key, path, private in checks if (p := files.problem(key, path, private))]


def check_plugins(profile: Profile, raw: dict[str, Any], plugins: PluginManager) -> Profile:
    """Replace each plugin choice's params by the plugin's validated params.

    Raises :class:`ProfileError` listing unknown names and bad params.
    """
    problems: list[str] = []

    def check(key: str, choice: PluginChoice, registry: Registry) -> PluginChoice:
        if choice.name not in registry:
            problems.append(f"{key}.name: got {choice.name!r}; {registry.unknown(choice.name)}")
            return choice
        params_schema = registry.get(choice.name).params
        if params_schema is None:
            if choice.params:
                problems.append(f"{key}.params: got {choice.params!r}; {choice.name!r} takes no params")
            return choice
        try:
            return PluginChoice(choice.name, params_schema().load(choice.params), dict(choice.params))
        except ValidationError as exc:
            problems.extend(describe(exc.messages, choice.params, f"{key}.params"))
            return choice

    transport = profile.server.transport
    if transport not in plugins.registry("transport"):
        problems.append(
            f"server.transport: got {transport!r}; {plugins.registry('transport').unknown(transport)}"
        )
    power = profile.power
    buses = tuple(
        replace(bus, driver=check(f"{bus.key}.driver", bus.driver, plugins.registry("power_driver")))
        for bus in power.buses
    )
    io = {
        role: check(f"io.{role}", choice, plugins.registry(f"io.{role}"))
        for role in IO_ROLES
        if (choice := getattr(profile.io, role)) is not None
    }
    policy = check("policy", profile.policy, plugins.registry("limit_policy"))
    services = tuple(
        check(f"services[{i}]", s, plugins.registry("service")) for i, s in enumerate(profile.services)
    )
    if problems:
        raise ProfileError(str(profile.source), problems)
    return replace(
        profile,
        power=replace(power, buses=buses),
        io=replace(profile.io, **io),
        policy=policy,
        services=services,
    )
