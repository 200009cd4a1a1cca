"""The calculation trace: each step of an accrual in words a dealer can check with a calculator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.money import ZERO, format_amount, format_percent, round_money, trim
from domain.periods import DateRange
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

_BASIS_WORDS = {
    RebateBasis.SALES_AMOUNT: "net sales (invoices − returns)",
    RebateBasis.QUANTITY: "net units (invoiced − returned)",
    RebateBasis.COLLECTED_AMOUNT: "cash collected",
}


NOTHING = Decimal("0.00")


@dataclass(frozen=True)
class CalculationStep:
    label: str
    formula: str
    amount: Decimal | None


def money_figure(value: Decimal) -> Decimal:
    """round_money, and never a negative zero on a dealer's statement."""
    return round_money(value) + ZERO


def show_money(value: Decimal) -> str:
    return format_amount(value)


def show_plus(left: Decimal, right: Decimal) -> str:
    """`13,600.00 − 100.00` rather than `13,600.00 + -100.00`."""
    sign = "+" if right >= 0 else "−"
    return f"{show_money(left)} {sign} {show_money(abs(right))}"


def show_basis(value: Decimal, basis_kind: RebateBasis) -> str:
    if basis_kind is RebateBasis.QUANTITY:
        return f"{format_amount(value, 0)} units"
    return format_amount(value)


def show_rate(rate: Decimal, rate_kind: RateKind) -> str:
    if rate_kind is RateKind.PERCENT:
        return format_percent(rate)
    if rate_kind is RateKind.PER_UNIT:
        return f"{format_amount(rate)} per unit"
    return f"a lump sum of {format_amount(rate)}"


def show_rounding(exact: Decimal, rounded: Decimal) -> str:
    """`= 22,000.00`, or `= 10.005 → 10.01 (rounded half up)` when rounding changed it."""
    if exact == rounded:
        return f"= {show_money(rounded)}"
    return f"= {format_amount(exact)} → {show_money(rounded)} (rounded half up to the cent)"


def basis_step(
    label: str, basis_kind: RebateBasis, window: DateRange, value: Decimal
) -> CalculationStep:
    formula = (
        f"{_BASIS_WORDS[basis_kind]} from {window.start.isoformat()} to "
        f"{window.end.isoformat()}: {show_basis(value, basis_kind)}"
    )
    places = 0 if basis_kind is RebateBasis.QUANTITY else 2
    return CalculationStep(label, formula, trim(value, places))


def tier_step(
    tiers: Sequence[Tier], basis: Decimal, basis_kind: RebateBasis, rate_kind: RateKind
) -> CalculationStep:
    tier = tier_reached(tiers, basis)
    shown = show_basis(basis, basis_kind)
    if tier is None:
        first = min(t.threshold for t in tiers)
        return CalculationStep(
            "Tier reached",
            f"none: {shown} is below the first threshold {show_basis(first, basis_kind)}",
            None,
        )
    return CalculationStep(
        "Tier reached",
        f"{shown} ≥ threshold {show_basis(tier.threshold, basis_kind)}: "
        f"rate {show_rate(tier.rate, rate_kind)}",
        None,
    )


def _slice_product(part: Slice, basis_kind: RebateBasis, rate_kind: RateKind) -> str:
    if rate_kind is RateKind.FIXED:
        return f"lump sum for reaching {show_basis(part.tier.threshold, basis_kind)}"
    if rate_kind is RateKind.PERCENT:
        rate = format_percent(part.tier.rate)
    else:
        rate = format_amount(part.tier.rate)
    return f"{show_basis(part.size, basis_kind)} × {rate}"


def _slice_label(part: Slice, basis_kind: RebateBasis) -> str:
    low = show_basis(part.tier.threshold, basis_kind)
    if part.upper is None:
        return f"Slice from {low}"
    return f"Slice from {low} to {show_basis(part.upper, basis_kind)}"


def rebate_steps(
    label: str,
    tiers: Sequence[Tier],
    basis: Decimal,
    mode: TierMode,
    rate_kind: RateKind,
    basis_kind: RebateBasis,
) -> tuple[tuple[CalculationStep, ...], Decimal]:
    """The steps of round(R(basis)) and that figure, rounded once over the whole basis.

    Slices are shown exact: rounding each slice would let the cents drift with the tier count.
    """
    parts = slices(tiers, basis, mode, rate_kind)
    exact = rebate(tiers, basis, mode, rate_kind)
    rounded = money_figure(exact)
    if not parts:
        return (CalculationStep(label, "no tier reached: 0.00", rounded),), rounded
    if mode is TierMode.RETROACTIVE:
        product = _slice_product(parts[0], basis_kind, rate_kind)
        step = CalculationStep(label, f"{product} {show_rounding(exact, rounded)}", rounded)
        return (step,), rounded
    steps = [
        CalculationStep(
            _slice_label(part, basis_kind),
            f"{_slice_product(part, basis_kind, rate_kind)} = {format_amount(part.earned)}",
            trim(part.earned),
        )
        for part in parts
    ]
    total = " + ".join(format_amount(part.earned) for part in parts)
    steps.append(CalculationStep(label, f"{total} {show_rounding(exact, rounded)}", rounded))
    return tuple(steps), rounded


def foreign_currency_step(count: int, currencies: Sequence[str], program_currency: str,
                          period_name: str) -> CalculationStep:
    """SPEC §3: a transaction in another currency is not counted, and the dealer is told."""
    noun = "transaction" if count == 1 else "transactions"
    return CalculationStep(
        "Not counted (currency)",
        f"{count} {noun} of {period_name} in {', '.join(currencies)}: this program counts "
        f"{program_currency} only",
        None,
    )


def on_hold_step(reason: str) -> CalculationStep:
    return CalculationStep("On hold", reason, None)


def late_data_step(items: Sequence[tuple[str, int]]) -> CalculationStep:
    """Late transactions for closed periods: a year-to-date true-up absorbs them."""
    listed = ", ".join(f"{count} for {name}" for name, count in items)
    return CalculationStep(
        "Late data", f"the cumulative basis includes transactions recorded after their "
        f"period was closed ({listed}); this true-up absorbs them", None)
