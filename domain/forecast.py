"""What a partner portal shows a dealer: "sell X more to reach the next tier"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from domain.achievement import achievement_percent
from domain.calculation import money_figure, show_achievement, show_basis
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
    target: Decimal | None = None,
) -> Forecast:
    """R before scorecard, deductions and cap, each figure rounded once.

    `current_basis` is the basis the accrual uses: cumulative for YEAR_TO_DATE (so the next
    tier is the next annual threshold), the period's own for PER_PERIOD. Under
    TARGET_ACHIEVEMENT `tiers` are already read as amounts of `target` (achievement.py).
    """
    projected = current_basis + additional_basis
    upcoming = next_tier(tiers, current_basis)
    threshold = upcoming.threshold if upcoming is not None else None
    return Forecast(
        current_basis=current_basis,
        current_rate=rate_reached(tiers, current_basis),
        current_rebate=money_figure(rebate(tiers, current_basis, mode, rate_kind, target)),
        projected_basis=projected,
        projected_rate=rate_reached(tiers, projected),
        projected_rebate=money_figure(rebate(tiers, projected, mode, rate_kind, target)),
        next_tier_threshold=threshold,
        amount_to_next_tier=threshold - current_basis if threshold is not None else None,
        rebate_at_next_tier=(
            money_figure(rebate(tiers, threshold, mode, rate_kind, target))
            if threshold is not None
            else None
        ),
    )


def order_forecast(tiers: Sequence[Tier], mode: TierMode, rate_kind: RateKind,
                   period_basis: Decimal, earned: Decimal, order: Decimal) -> Forecast:
    """EACH_TRANSACTION (现返): every order earns on its own, so the forecast's question is
    what one more order of `order` would add. `earned` is what the period's counted
    transactions earned so far (Σ R(value) − returns, exact); the next tier is the lowest
    threshold above the order's size — the size an order needs to earn more — and every
    figure is the period's: so far plus that one order."""
    upcoming = next_tier(tiers, order)
    threshold = upcoming.threshold if upcoming is not None else None
    return Forecast(
        current_basis=period_basis,
        current_rate=rate_reached(tiers, order),
        current_rebate=money_figure(earned),
        projected_basis=period_basis + order,
        projected_rate=rate_reached(tiers, order),
        projected_rebate=money_figure(earned + rebate(tiers, order, mode, rate_kind)),
        next_tier_threshold=threshold,
        amount_to_next_tier=threshold - order if threshold is not None else None,
        rebate_at_next_tier=(money_figure(earned + rebate(tiers, threshold, mode, rate_kind))
                             if threshold is not None else None),
    )


def order_explanation(result: Forecast, *, period: str, window: DateRange,
                      basis_kind: RebateBasis, currency: str) -> Text:
    """An immediate-rebate forecast in sentences: so far, and one more order."""
    order = result.projected_basis - result.current_basis
    sentences: list[Param] = [Text(
        "{period}, {window}: every order earns on its own; the orders so far ({basis}) earned "
        "{rebate}.", period=period, window=Window(window.start, window.end),
        basis=show_basis(result.current_basis, basis_kind, currency),
        rebate=Money(result.current_rebate, currency))]
    if order > 0:
        sentences.append(Text("One more order of {order} would bring the period to {rebate}.",
                              order=show_basis(order, basis_kind, currency),
                              rebate=Money(result.projected_rebate, currency)))
    if result.next_tier_threshold is not None and result.rebate_at_next_tier is not None:
        sentences.append(Text(
            "An order of at least {threshold} reaches the next tier: the period would then "
            "hold {rebate}.", threshold=show_basis(result.next_tier_threshold, basis_kind,
                                                   currency),
            rebate=Money(result.rebate_at_next_tier, currency)))
    else:
        sentences.append(Text("An order of this size reaches the top tier."))
    sentences.append(Text("All before scorecard, deductions and cap."))
    return Text("{sentences}", sentences=Listing(tuple(sentences), " "))


@dataclass(frozen=True)
class TargetProgress:
    """Where a dealer stands against its target (TARGET_ACHIEVEMENT programs).

    `target` None: some period of the window has no target yet (`missing` names them).
    """

    target: Decimal | None
    achievement_percent: Decimal | None
    amount_to_target: Decimal | None  # what is left to reach 100 %; 0 once reached
    missing: tuple[str, ...] = ()


def target_progress(current_basis: Decimal, target: Decimal | None,
                    missing: Sequence[str] = ()) -> TargetProgress:
    if target is None:
        return TargetProgress(None, None, None, tuple(missing))
    return TargetProgress(target, achievement_percent(current_basis, target),
                          max(target - current_basis, ZERO), ())


def progress_sentence(progress: TargetProgress, basis_kind: RebateBasis,
                      currency: str) -> Text:
    """"Target CNY 500,000.00, reached 92.40%: sell CNY 38,000.00 more to reach 100%."."""
    if progress.target is None or progress.achievement_percent is None \
            or progress.amount_to_target is None:
        return Text("No target set for {periods}: the rebate is 0 until it is set.",
                    periods=Listing(progress.missing, ", "))
    values: dict[str, Param] = {
        "target": show_basis(progress.target, basis_kind, currency),
        "percent": show_achievement(progress.achievement_percent)}
    if progress.amount_to_target > 0:
        return Text("Target {target}, reached {percent}: sell {more} more to reach 100%.",
                    more=show_basis(progress.amount_to_target, basis_kind, currency), **values)
    return Text("Target {target}, reached {percent}: the target is met.", **values)


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
                basis_kind: RebateBasis, currency: str,
                progress: TargetProgress | None = None) -> Text:
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
    if progress is not None:
        sentences.append(progress_sentence(progress, basis_kind, currency))
    if progress is not None and progress.target is None:
        pass
    elif result.next_tier_threshold is None or result.amount_to_next_tier is None \
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
