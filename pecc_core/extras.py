"""Plugins that need a pip extra: the message says which one, never a traceback.

``pip install pecc`` is the core (PEP-WS, CAN, the simulators); the ops
server comes with ``pecc[ops]``, the site service with ``pecc[site]``. A
plugin that needs an extra fails to import without it (:func:`require`);
the plugin manager then finds the missing module among the requirements
of the plugin's own distribution (:func:`missing_extra`), so a vendor's
package with extras of its own gets the same message with its own name.
"""

from __future__ import annotations

import importlib.util
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.metadata import Distribution

# A requirement as the metadata spells it: `aiohttp>=3.9; extra == "ops"`.
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def require(*modules: str) -> None:
    """Raise ModuleNotFoundError for the first of ``modules`` that is not installed.

    A plugin calls it as it is imported, with the packages of its extra.
    They are looked for, not imported: every ``pecc`` command loads every
    plugin, and importing aiohttp would cost each command its import time.
    """
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)


def missing_extra(exc: BaseException, dist: Distribution | None) -> str | None:
    """``pip install DIST[EXTRA]`` if an extra of ``dist`` brings the module ``exc`` misses; else None.

    A requirement brings a module when its name and the module's top-level
    name are the same once normalized (``prometheus-client`` brings
    ``prometheus_client``); a module installed under another name than its
    distribution's is not recognized, and its error is shown as it is.
    """
    if not isinstance(exc, ModuleNotFoundError) or not exc.name or dist is None:
        return None
    module = _normalized(exc.name.partition(".")[0])
    for requirement in dist.requires or ():
        spec, _, marker = requirement.partition(";")
        name, extra = _NAME.match(spec), _EXTRA.search(marker)
        if name and extra and _normalized(name.group(1)) == module:
            return f"pip install {dist.name}[{extra.group(1)}]"
    return None


def _normalized(name: str) -> str:
    """A distribution or module name compared as PEP 503 compares project names."""
    return re.sub(r"[-_.]+", "-", name).lower()
