"""Per-transaction tiers (现返, immediate rebates): every counted transaction is its own basis.

gross = Σ R(value) over the period's INVOICE/PAYMENT transactions − Σ R(value) over its
RETURNs: a return reverses what the same amount would have earned on its own. The sum is
exact and rounded once, as the accrual's gross (never per transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from domain.money import EXACT, ZERO
from domain.tiers import RateKind, Tier, TierMode, rebate, tier_reached


@dataclass(frozen=True)
class CountedTransaction:
    """A counted transaction's value (amount or quantity, positive); `reverses`: a RETURN."""

    value: Decimal
    reverses: bool = False


@dataclass(frozen=True)
class TierCount:
    """How many transactions reached this tier (None: below the first) and what they earned."""

    tier: Tier | None
    count: int
    earned: Decimal  # exact


@dataclass(frozen=True)
class EachTransaction:
    earned: Decimal  # exact: Σ R(sales) − Σ R(returns)
    sales: tuple[TierCount, ...]  # highest tier first, "below the first tier" last
    returns: tuple[TierCount, ...]
    top_rate: Decimal  # rate of the highest tier any sale reached; 0 if none

    @property
    def sale_count(self) -> int:
        return sum(group.count for group in self.sales)

    @property
    def return_count(self) -> int:
        return sum(group.count for group in self.returns)

    @property
    def reversed(self) -> Decimal:
        return sum((group.earned for group in self.returns), ZERO)


def _grouped(tiers: Sequence[Tier], values: Sequence[Decimal], mode: TierMode,
             rate_kind: RateKind) -> tuple[TierCount, ...]:
    groups: dict[Tier | None, tuple[int, Decimal]] = {}
    with localcontext(EXACT):
        for value in values:
            tier = tier_reached(tiers, value)
            count, earned = groups.get(tier, (0, ZERO))
            groups[tier] = (count + 1, earned + rebate(tiers, value, mode, rate_kind))
    ordered = sorted(groups.items(), key=lambda item: (
        item[0] is None, -(item[0].threshold if item[0] is not None else ZERO)))
    return tuple(TierCount(tier, count, earned) for tier, (count, earned) in ordered)


def each_transaction(tiers: Sequence[Tier], transactions: Sequence[CountedTransaction],
                     mode: TierMode, rate_kind: RateKind) -> EachTransaction:
    """R of every transaction on its own, sales minus returns, UNROUNDED."""
    sales = _grouped(tiers, [t.value for t in transactions if not t.reverses], mode, rate_kind)
    returns = _grouped(tiers, [t.value for t in transactions if t.reverses], mode, rate_kind)
    with localcontext(EXACT):
        earned = (sum((group.earned for group in sales), ZERO)
                  - sum((group.earned for group in returns), ZERO))
    reached = [group.tier for group in sales if group.tier is not None]
    top = max(reached, key=lambda tier: tier.threshold).rate if reached else ZERO
    return EachTransaction(earned, sales, returns, top)
