"""Power-sharing policies: static, equal, dynamic.

Each policy is a pure function of the guns' demands and the module pool
(see :mod:`pecc_core.policy`); the station applies its answer safely.
Every policy applies the same limits on top (module ratings at the gun's
voltage, thermal derating, the gun's ``power_max``, the site cap): see
:mod:`pecc_plugins.policies.capacity`.
"""

from __future__ import annotations

from typing import Any

from pecc_core import hookimpl
from pecc_core.hookspecs import LimitPolicyFactory, Register
from pecc_plugins.policies.dynamic import DynamicSchema, make_dynamic
from pecc_plugins.policies.equal import EqualSchema, make_equal
from pecc_plugins.policies.static import StaticSchema, make_static


@hookimpl
def pecc_register_limit_policies(register: Register[LimitPolicyFactory]) -> None:
    register(
        "static",
        make_static,
        params=StaticSchema,
        summary="fixed modules per gun (round-robin over the matrix, or an explicit assignment)",
    )
    register(
        "equal",
        make_equal,
        params=EqualSchema,
        summary="the usable modules shared equally among the active guns",
    )
    register(
        "dynamic",
        make_dynamic,
        params=DynamicSchema,
        summary="each active gun what it can use (demand, car limit, SOC), spare to the others",
    )


@hookimpl
def pecc_add_commands(app: Any) -> None:
    from pecc_plugins.policies.command import simulate

    app.command("simulate")(simulate)
