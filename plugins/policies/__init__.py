"""Power-sharing policies: static, equal, dynamic.

Each policy is a pure function of the guns' demands and the module pool
(see :mod:`pecc_core.limits`); the station applies its answer safely.
Every policy applies the same limits on top (module ratings at the gun's
voltage, thermal derating, the gun's ``power_max``, the site cap): see
:mod:`pecc_plugins.policies.capacity`.
"""

from __future__ import annotations

from typing import Any

from pecc_core import hookimpl
from pecc_plugins.policies.static import StaticSchema, make_static


@hookimpl
def pecc_register_limit_policies(register: Any) -> None:
    register(
        "static",
        make_static,
        params=StaticSchema,
        summary="fixed modules per gun (round-robin over the matrix, or an explicit assignment)",
    )
