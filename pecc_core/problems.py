"""marshmallow's nested error messages as ``key: got VALUE; MESSAGE`` lines.

One flattener for every place that validates with marshmallow: profiles,
run-time limits, PEP-WS messages, SECC-simulator scenarios. It works on
the plain error tree (dicts, lists, strings), so importing it costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_MISSING: Any = object()


def describe(messages: Any, raw: Any = _MISSING, prefix: str = "", top: str = "(top level)") -> Iterator[str]:
    """One line per leaf of ``messages``, keyed by its path under ``prefix``.

    With ``raw`` (the data that was validated) a line shows the offending
    value, ``key: got VALUE; MESSAGE``, unless the key is missing or names a
    table or list (the message then says what is wrong inside). ``top`` keys
    a message about the whole document.
    """
    for path, message in _leaves(messages, ()):
        value = _lookup(raw, path)
        key = _key(prefix, path) or top
        yield f"{key}: {message}" if value is _MISSING else f"{key}: got {value!r}; {message}"


def _leaves(messages: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(messages, Mapping):
        for k, v in messages.items():
            yield from _leaves(v, path if k == "_schema" else (*path, k))
    elif isinstance(messages, list):
        for m in messages:
            yield from _leaves(m, path)
    else:
        yield path, str(messages)


def _lookup(raw: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        in_table = isinstance(raw, Mapping) and part in raw
        in_list = isinstance(raw, list) and isinstance(part, int) and 0 <= part < len(raw)
        if not (in_table or in_list):
            return _MISSING
        raw = raw[part]
    if isinstance(raw, (Mapping, list)):
        return _MISSING
    return raw


def _key(prefix: str, path: tuple[Any, ...]) -> str:
    key = prefix
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key
