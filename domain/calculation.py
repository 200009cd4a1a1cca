"""The calculation trace: each step of an accrual in words a dealer can check with a calculator.

Steps are `Text` (domain/text.py), rendered in the reader's language; every money figure
carries the program's currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.money import ZERO, format_amount, format_percent, round_money, trim
from domain.periods import DateRange
from domain.text import Listing, Money, Param, Text, Window, joined
from domain.tiers import (
    RateKind,
    RebateBasis,
    Slice,
    Tier,
    TierMode,
    rebate,
    slices,
    tier_reached,
)
from domain.transaction_tiers import EachTransaction, TierCount

_BASIS_WORDS = {
    RebateBasis.SALES_AMOUNT: Text("net sales (invoices − returns)"),
    RebateBasis.QUANTITY: Text("net units (invoiced − returned)"),
    RebateBasis.COLLECTED_AMOUNT: Text("cash collected"),
}


NOTHING = Decimal("0.00")


@dataclass(frozen=True)
class CalculationStep:
    label: Text
    formula: Text
    amount: Decimal | None


def money_figure(value: Decimal) -> Decimal:
    """round_money, and never a negative zero on a dealer's statement."""
    return round_money(value) + ZERO


def show_money(value: Decimal, currency: str) -> Money:
    return Money(value, currency)


def show_plus(left: Decimal, right: Decimal, currency: str) -> Text:
    """`CNY 13,600.00 − CNY 100.00` rather than `CNY 13,600.00 + CNY -100.00`."""
    if right >= 0:
        return Text("{left} + {right}", left=Money(left, currency), right=Money(right, currency))
    return Text("{left} − {right}", left=Money(left, currency), right=Money(-right, currency))


def show_units(value: Decimal) -> Text:
    return Text("{count} units", count=format_amount(value, 0))


def show_basis(value: Decimal, basis_kind: RebateBasis, currency: str) -> Param:
    if basis_kind is RebateBasis.QUANTITY:
        return show_units(value)
    return Money(value, currency)


def show_rate(rate: Decimal, rate_kind: RateKind, currency: str) -> Param:
    if rate_kind is RateKind.PERCENT:
        return format_percent(rate)
    if rate_kind is RateKind.PER_UNIT:
        return Text("{amount} per unit", amount=Money(rate, currency))
    return Text("a lump sum of {amount}", amount=Money(rate, currency))


def show_rounding(exact: Decimal, rounded: Decimal, currency: str) -> Text:
    """`= CNY 22,000.00`, or `= CNY 10.005 → CNY 10.01 (rounded half up …)` when it changed."""
    if exact == rounded:
        return Text("= {amount}", amount=Money(rounded, currency))
    return Text("= {exact} → {rounded} (rounded half up to the cent)",
                exact=Money(exact, currency), rounded=Money(rounded, currency))


def basis_step(label: Text, basis_kind: RebateBasis, window: DateRange, value: Decimal,
               currency: str) -> CalculationStep:
    """`cash collected from 2026-10-01 to date (as of 2026-11-20): CNY 500,000.00` while the
    window is open on the day it is read; its end date once it is over."""
    formula = Text("{basis} {window}: {value}", basis=_BASIS_WORDS[basis_kind],
                   window=Window(window.start, window.end),
                   value=show_basis(value, basis_kind, currency))
    places = 0 if basis_kind is RebateBasis.QUANTITY else 2
    return CalculationStep(label, formula, trim(value, places))


def terms_step(segment_code: str | None, segment_name: str | None) -> CalculationStep:
    """Which terms applied: the dealer's segment's (SPEC §3 "Terms"), or the default ones."""
    if segment_code is None:
        formula = Text("default terms")
    elif segment_name:
        formula = Text("terms for segment {code} ({name})", code=segment_code, name=segment_name)
    else:
        formula = Text("terms for segment {code}", code=segment_code)
    return CalculationStep(Text("Terms"), formula, None)


def tier_step(tiers: Sequence[Tier], basis: Decimal, basis_kind: RebateBasis,
              rate_kind: RateKind, currency: str) -> CalculationStep:
    tier = tier_reached(tiers, basis)
    shown = show_basis(basis, basis_kind, currency)
    if tier is None:
        first = min(t.threshold for t in tiers)
        return CalculationStep(
            Text("Tier reached"),
            Text("none: {basis} is below the first threshold {threshold}", basis=shown,
                 threshold=show_basis(first, basis_kind, currency)),
            None,
        )
    return CalculationStep(
        Text("Tier reached"),
        Text("{basis} ≥ threshold {threshold}: rate {rate}", basis=shown,
             threshold=show_basis(tier.threshold, basis_kind, currency),
             rate=show_rate(tier.rate, rate_kind, currency)),
        None,
    )


def _slice_product(part: Slice, basis_kind: RebateBasis, rate_kind: RateKind,
                   currency: str) -> Text:
    if rate_kind is RateKind.FIXED:
        return Text("lump sum for reaching {threshold}",
                    threshold=show_basis(part.tier.threshold, basis_kind, currency))
    rate: Param
    if rate_kind is RateKind.PERCENT:
        rate = format_percent(part.tier.rate)
    else:
        rate = Money(part.tier.rate, currency)
    return Text("{size} × {rate}", size=show_basis(part.size, basis_kind, currency), rate=rate)


def _slice_label(part: Slice, basis_kind: RebateBasis, currency: str) -> Text:
    low = show_basis(part.tier.threshold, basis_kind, currency)
    if part.upper is None:
        return Text("Slice from {low}", low=low)
    return Text("Slice from {low} to {high}", low=low,
                high=show_basis(part.upper, basis_kind, currency))


def rebate_steps(
    label: Text,
    tiers: Sequence[Tier],
    basis: Decimal,
    mode: TierMode,
    rate_kind: RateKind,
    basis_kind: RebateBasis,
    currency: str,
    target: Decimal | None = None,
) -> tuple[tuple[CalculationStep, ...], Decimal]:
    """The steps of round(R(basis)) and that figure, rounded once over the whole basis.

    Slices are shown exact: rounding each slice would let the cents drift with the tier count.
    """
    parts = slices(tiers, basis, mode, rate_kind, target)
    exact = rebate(tiers, basis, mode, rate_kind, target)
    rounded = money_figure(exact)
    if not parts:
        nothing = Text("no tier reached: {amount}", amount=Money(rounded, currency))
        return (CalculationStep(label, nothing, rounded),), rounded
    if mode is TierMode.ON_EXCESS_OVER_TARGET and target is not None:
        formula = Text("({basis} − target {target}) × {rate} {rounding}",
                       basis=show_basis(basis, basis_kind, currency),
                       target=show_basis(target, basis_kind, currency),
                       rate=show_rate(parts[0].tier.rate, rate_kind, currency),
                       rounding=show_rounding(exact, rounded, currency))
        return (CalculationStep(label, formula, rounded),), rounded
    if mode is TierMode.RETROACTIVE:
        product = _slice_product(parts[0], basis_kind, rate_kind, currency)
        formula = Text("{product} {rounding}", product=product,
                       rounding=show_rounding(exact, rounded, currency))
        return (CalculationStep(label, formula, rounded),), rounded
    steps = [
        CalculationStep(
            _slice_label(part, basis_kind, currency),
            Text("{product} = {earned}",
                 product=_slice_product(part, basis_kind, rate_kind, currency),
                 earned=Money(part.earned, currency)),
            trim(part.earned),
        )
        for part in parts
    ]
    total = Listing(tuple(Money(part.earned, currency) for part in parts), " + ")
    steps.append(CalculationStep(label, Text("{product} {rounding}", product=total,
                                             rounding=show_rounding(exact, rounded, currency)),
                                 rounded))
    return tuple(steps), rounded


def foreign_currency_step(count: int, currencies: Sequence[str], program_currency: str,
                          period_name: str) -> CalculationStep:
    """SPEC §3: a transaction in another currency is not counted, and the dealer is told."""
    values: dict[str, Param] = {"period": period_name, "currencies": joined(currencies),
                                "currency": program_currency}
    if count == 1:
        formula = Text("1 transaction of {period} in {currencies}: this program counts "
                       "{currency} only", **values)
    else:
        formula = Text("{count} transactions of {period} in {currencies}: this program counts "
                       "{currency} only", count=count, **values)
    return CalculationStep(Text("Not counted (currency)"), formula, None)


def on_hold_step(reason: Text) -> CalculationStep:
    return CalculationStep(Text("On hold"), reason, None)


def late_data_step(items: Sequence[tuple[str, int]]) -> CalculationStep:
    """Late transactions for closed periods: a year-to-date true-up absorbs them."""
    listed = joined([Text("{count} for {period}", count=count, period=name)
                     for name, count in items])
    return CalculationStep(
        Text("Late data"),
        Text("the cumulative basis includes transactions recorded after their period was "
             "closed ({listed}); this true-up absorbs them", listed=listed), None)


def dispute_steps(cause: Text | str, adjustment: Decimal, net_before: Decimal,
                  currency: str) -> tuple[CalculationStep, CalculationStep]:
    """An accepted dispute's adjustment, added to an approved accrual's net."""
    net = net_before + adjustment
    return (
        CalculationStep(Text("Adjustment: {cause}", cause=cause),
                        Text("{amount}", amount=Money(adjustment, currency)), adjustment),
        CalculationStep(Text("Net after dispute"),
                        Text("{sum} = {net}", sum=show_plus(net_before, adjustment, currency),
                             net=Money(net, currency)), net),
    )


def forfeited_after_approval_step() -> CalculationStep:
    return CalculationStep(Text("Forfeited after approval"),
                           Text("a FORFEIT violation covers this period: not payable"), None)



def show_achievement(value: Decimal) -> str:
    """`92.40%`: an achievement keeps its two places (a rate drops trailing zeros)."""
    return f"{format_amount(value)}%"


def target_step(period_name: str, parts: Sequence[tuple[str, Decimal]],
                missing: Sequence[str], basis_kind: RebateBasis,
                currency: str) -> CalculationStep:
    """The target of the window: the period's own, or the sum of periods 1..n (year to date)."""
    if missing:
        return CalculationStep(Text("Target"), Text("no target set for {periods}",
                                                    periods=joined(list(missing))), None)
    total = sum((amount for _, amount in parts), ZERO)
    shown = show_basis(total, basis_kind, currency)
    places = 0 if basis_kind is RebateBasis.QUANTITY else 2
    if len(parts) == 1 and parts[0][0] == period_name:
        return CalculationStep(Text("Target"), Text("target for {period}: {amount}",
                                                    period=period_name, amount=shown),
                               trim(total, places))
    listed = Listing(tuple(Text("{amount} ({period})",
                                amount=show_basis(amount, basis_kind, currency), period=name)
                           for name, amount in parts), " + ")
    return CalculationStep(Text("Target (year to date)"),
                           Text("{listed} = {total}", listed=listed, total=shown),
                           trim(total, places))


def achievement_step(tiers: Sequence[Tier], basis: Decimal, target: Decimal,
                     achievement: Decimal, basis_kind: RebateBasis, rate_kind: RateKind,
                     currency: str) -> CalculationStep:
    """`target CNY 500,000.00, reached CNY 462,000.00 = 92.40% ≥ 90%: rate 2%`; the tier is
    chosen by the exact comparison basis × 100 ≥ t × target, not by the rounded figure."""
    from domain.achievement import achieved_tier
    tier = achieved_tier(tiers, basis, target)
    values: dict[str, Param] = {"target": show_basis(target, basis_kind, currency),
                                "basis": show_basis(basis, basis_kind, currency),
                                "percent": show_achievement(achievement)}
    if tier is None:
        first = min(t.threshold for t in tiers)
        return CalculationStep(Text("Tier reached"), Text(
            "target {target}, reached {basis} = {percent} < {threshold}: no tier reached",
            threshold=format_percent(first), **values), None)
    return CalculationStep(Text("Tier reached"), Text(
        "target {target}, reached {basis} = {percent} ≥ {threshold}: rate {rate}",
        threshold=format_percent(tier.threshold),
        rate=show_rate(tier.rate, rate_kind, currency), **values), None)


def each_transaction_steps(result: EachTransaction, basis_kind: RebateBasis,
                           rate_kind: RateKind, currency: str,
                           ) -> tuple[tuple[CalculationStep, ...], Decimal]:
    """`12 transactions: 3 at tier ≥ CNY 100,000.00 (2%), 9 below the first tier; 1 return
    reversed CNY 2,000.00`, then the gross rounded once over the sum."""
    def group_text(group: TierCount) -> Text:
        if group.tier is None:
            return Text("{count} below the first tier", count=group.count)
        return Text("{count} at tier ≥ {threshold} ({rate}): {earned}", count=group.count,
                    threshold=show_basis(group.tier.threshold, basis_kind, currency),
                    rate=show_rate(group.tier.rate, rate_kind, currency),
                    earned=Money(group.earned, currency))

    listed = Listing(tuple(group_text(group) for group in result.sales), ", ")
    count = result.sale_count
    summary = (Text("no counted transactions") if count == 0 and not result.return_count
               else Text("1 transaction: {listed}", listed=listed) if count == 1
               else Text("{count} transactions: {listed}", count=count, listed=listed)
               if count else Text("no sales"))
    if result.return_count:
        reversed_part = Money(result.reversed, currency)
        summary = (Text("{summary}; 1 return reversed {amount}", summary=summary,
                        amount=reversed_part) if result.return_count == 1
                   else Text("{summary}; {count} returns reversed {amount}", summary=summary,
                             count=result.return_count, amount=reversed_part))
    rounded = money_figure(result.earned)
    steps = (
        CalculationStep(Text("Each transaction"), summary, None),
        CalculationStep(Text("Gross rebate"), Text(
            "{sales} − {returns} {rounding}",
            sales=Money(result.earned + result.reversed, currency),
            returns=Money(result.reversed, currency),
            rounding=show_rounding(result.earned, rounded, currency)), rounded),
    )
    return steps, rounded
