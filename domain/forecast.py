"""What a partner portal shows a dealer: "sell X more to reach the next tier"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.calculation import money_figure
from domain.tiers import RateKind, Tier, TierMode, next_tier, rate_reached, rebate


@dataclass(frozen=True)
class Forecast:
    current_basis: Decimal
    current_rate: Decimal
    current_rebate: Decimal
    projected_basis: Decimal
    projected_rate: Decimal
    projected_rebate: Decimal
    next_tier_threshold: Decimal | None  # None at the top tier
    amount_to_next_tier: Decimal | None
    rebate_at_next_tier: Decimal | None


def forecast(
    tiers: Sequence[Tier],
    mode: TierMode,
    rate_kind: RateKind,
    current_basis: Decimal,
    additional_basis: Decimal,
) -> Forecast:
    """R before scorecard, deductions and cap, each figure rounded once.

    `current_basis` is the basis the accrual uses: cumulative for YEAR_TO_DATE (so the next
    tier is the next annual threshold), the period's own for PER_PERIOD.
    """
    projected = current_basis + additional_basis
    upcoming = next_tier(tiers, current_basis)
    threshold = upcoming.threshold if upcoming is not None else None
    return Forecast(
        current_basis=current_basis,
        current_rate=rate_reached(tiers, current_basis),
        current_rebate=money_figure(rebate(tiers, current_basis, mode, rate_kind)),
        projected_basis=projected,
        projected_rate=rate_reached(tiers, projected),
        projected_rebate=money_figure(rebate(tiers, projected, mode, rate_kind)),
        next_tier_threshold=threshold,
        amount_to_next_tier=threshold - current_basis if threshold is not None else None,
        rebate_at_next_tier=(
            money_figure(rebate(tiers, threshold, mode, rate_kind))
            if threshold is not None
            else None
        ),
    )
