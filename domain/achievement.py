"""Targets and achievement tiers (销售任务 / 任务完成率): thresholds as percentages of a target.

A dealer's target for an accrual's window is its period's target (PER_PERIOD) or the sum of
the targets of the program's periods 1..n (YEAR_TO_DATE). A percentage tier t applies when
basis × 100 ≥ t × target — exactly, no rounding — and R is then the ordinary R over the
thresholds read as the amounts t × target / 100. In the EXACT context that division by 100
is exact, so comparing the basis with the amount is the same comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from domain.money import EXACT, HUNDRED, ZERO, round_money
from domain.tiers import Tier

# Thresholds of TARGET_ACHIEVEMENT tiers are percentages: 1000 % is far beyond any policy
# and keeps a typed amount (2000000 meant as a basis) from passing as a percentage.
MAX_ACHIEVEMENT_PERCENT = Decimal("1000")


def reaches(threshold_percent: Decimal, basis: Decimal, target: Decimal) -> bool:
    """basis × 100 ≥ t × target, exactly."""
    with localcontext(EXACT):
        return basis * HUNDRED >= threshold_percent * target


def absolute_tiers(tiers: Sequence[Tier], target: Decimal) -> tuple[Tier, ...]:
    """The percentage tiers read as amounts of this target: t × target / 100, exact."""
    with localcontext(EXACT):
        return tuple(Tier(tier.threshold * target / HUNDRED, tier.rate) for tier in tiers)


def achieved_tier(tiers: Sequence[Tier], basis: Decimal, target: Decimal) -> Tier | None:
    """The percentage tier with the highest threshold the basis reaches (None: below all)."""
    reached = [tier for tier in tiers if reaches(tier.threshold, basis, target)]
    return max(reached, key=lambda tier: tier.threshold) if reached else None


def achievement_percent(basis: Decimal, target: Decimal) -> Decimal:
    """basis / target × 100, rounded to 2 places half up: for display only, never compared."""
    with localcontext(EXACT):
        return round_money(basis * HUNDRED / target) + ZERO


@dataclass(frozen=True)
class WindowTarget:
    """The target of an accrual's window, from the periods' own targets.

    `amount` is None when some period of the window has no target (`missing` names them):
    the accrual then waits ON_HOLD until it is set.
    """

    parts: tuple[tuple[str, Decimal], ...]  # (period name, target), in window order
    missing: tuple[str, ...]

    @property
    def amount(self) -> Decimal | None:
        if self.missing:
            return None
        return sum((amount for _, amount in self.parts), ZERO)


def window_target(period_names: Sequence[str],
                  targets: Mapping[str, Decimal]) -> WindowTarget:
    """`period_names`: the window's periods in order (one for PER_PERIOD, 1..n for
    YEAR_TO_DATE); `targets`: the dealer's targets by period name. A target that is not
    positive counts as missing (a target is > 0 by definition)."""
    parts, missing = [], []
    for name in period_names:
        amount = targets.get(name)
        if amount is None or not amount.is_finite() or amount <= 0:
            missing.append(name)
        else:
            parts.append((name, amount))
    return WindowTarget(tuple(parts), tuple(missing))
