"""Max-min fair sharing (water filling): one definition for every split of a budget.

Used to share a gun's current over its modules (the CAN module drivers)
and the site's power over guns (the ``dynamic`` policy).
"""

from __future__ import annotations

from collections.abc import Sequence


def fair_shares(budget: float, ceilings: Sequence[float]) -> list[float]:
    """Split ``budget`` into equal shares, none above its ceiling, in the ceilings' order.

    What a low ceiling cannot take is shared over the others, so the shares
    sum to ``min(budget, sum(ceilings))``; a negative budget or ceiling
    counts as 0.
    """
    shares = [0.0] * len(ceilings)
    budget = max(budget, 0.0)
    left = len(ceilings)
    for i in sorted(range(len(ceilings)), key=ceilings.__getitem__):
        share = min(max(ceilings[i], 0.0), budget / left)
        shares[i] = share
        budget -= share
        left -= 1
    return shares
