"""What a partner portal shows a dealer: "sell X more to reach the next tier"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from domain.calculation import money_figure, show_basis
from domain.money import ZERO
from domain.periods import DateRange
from domain.text import Listing, Money, Param, Text, Window
from domain.tiers import RateKind, RebateBasis, Tier, TierMode, next_tier, rate_reached, rebate


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


class ForecastScope(StrEnum):
    PERIOD = "PERIOD"
    YEAR_TO_DATE = "YEAR_TO_DATE"


@dataclass(frozen=True)
class PeriodShare:
    """A forecast's figures as the period's own accrual would show them.

    Under YEAR_TO_DATE the forecast's rebates are cumulative (R of the basis from validFrom
    through the period's end); the period's accrual is the true-up: that minus the gross the
    program's earlier periods already accrued. Under PER_PERIOD both are the same.
    """

    scope: ForecastScope
    earlier_periods_rebate: Decimal
    period_rebate: Decimal
    projected_period_rebate: Decimal
    period_rebate_at_next_tier: Decimal | None


def period_share(result: Forecast, scope: ForecastScope,
                 earlier_gross: Sequence[Decimal] = ()) -> PeriodShare:
    """`earlier_gross`: the already-rounded gross of the earlier periods (YEAR_TO_DATE only)."""
    earlier = sum(earlier_gross, ZERO) if scope is ForecastScope.YEAR_TO_DATE else ZERO
    earlier = money_figure(earlier)
    return PeriodShare(
        scope=scope,
        earlier_periods_rebate=earlier,
        period_rebate=result.current_rebate - earlier,
        projected_period_rebate=result.projected_rebate - earlier,
        period_rebate_at_next_tier=(result.rebate_at_next_tier - earlier
                                    if result.rebate_at_next_tier is not None else None),
    )


def explanation(result: Forecast, share: PeriodShare, *, period: str, window: DateRange,
                basis_kind: RebateBasis, currency: str) -> Text:
    """The forecast in sentences: what its figures cover, the way to the next tier, and what
    the additional basis would earn — for this period too when the figures are cumulative."""
    ytd = share.scope is ForecastScope.YEAR_TO_DATE

    def basis(value: Decimal) -> Param:
        return show_basis(value, basis_kind, currency)

    def money(value: Decimal) -> Money:
        return Money(value, currency)

    span = Window(window.start, window.end)
    sentences: list[Param] = []
    if ytd:
        sentences.append(Text(
            "Year to date, {window}: a basis of {basis} earns {rebate}; the earlier periods "
            "already accrued {earlier}, so the true-up of {period} is {period_rebate}.",
            window=span, basis=basis(result.current_basis), rebate=money(result.current_rebate),
            earlier=money(share.earlier_periods_rebate), period=period,
            period_rebate=money(share.period_rebate)))
    else:
        sentences.append(Text("{period} on its own, {window}: a basis of {basis} earns "
                              "{rebate}.", period=period, window=span,
                              basis=basis(result.current_basis),
                              rebate=money(result.current_rebate)))
    if result.next_tier_threshold is None or result.amount_to_next_tier is None \
            or result.rebate_at_next_tier is None:
        sentences.append(Text("The top tier is reached."))
    elif ytd and share.period_rebate_at_next_tier is not None:
        sentences.append(Text(
            "{more} more reaches the next tier at {threshold}, where the rebate would be "
            "{rebate} ({period_rebate} for {period}).", more=basis(result.amount_to_next_tier),
            threshold=basis(result.next_tier_threshold), rebate=money(result.rebate_at_next_tier),
            period_rebate=money(share.period_rebate_at_next_tier), period=period))
    else:
        sentences.append(Text(
            "{more} more reaches the next tier at {threshold}, where the rebate would be "
            "{rebate}.", more=basis(result.amount_to_next_tier),
            threshold=basis(result.next_tier_threshold), rebate=money(result.rebate_at_next_tier)))
    additional = result.projected_basis - result.current_basis
    if additional > 0:
        if ytd:
            sentences.append(Text("With {more} more: {rebate} ({period_rebate} for {period}).",
                                  more=basis(additional), rebate=money(result.projected_rebate),
                                  period_rebate=money(share.projected_period_rebate),
                                  period=period))
        else:
            sentences.append(Text("With {more} more: {rebate}.", more=basis(additional),
                                  rebate=money(result.projected_rebate)))
    sentences.append(Text("All before scorecard, deductions and cap."))
    return Text("{sentences}", sentences=Listing(tuple(sentences), " "))
