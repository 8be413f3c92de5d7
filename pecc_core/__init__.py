"""PECC core: the minimal framework every plugin builds on.

A plugin is a module named by an entry point in the ``pecc`` group of its
package's metadata::

    [project.entry-points.pecc]
    acme = "pecc_acme.plugin"

and implements hooks from :mod:`pecc_core.hookspecs` with :data:`hookimpl`,
the one symbol a vendor needs to import.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

hookimpl = pluggy.HookimplMarker("pecc")

try:
    __version__ = version("pecc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "hookimpl"]
