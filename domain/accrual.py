"""An accrual (返利计提): basis, tier, gross (with the year-to-date true-up), then net."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.calculation import (
    CalculationStep,
    basis_step,
    money_figure,
    rebate_steps,
    terms_step,
    tier_step,
)
from domain.money import ZERO, trim
from domain.net import (
    AccrualStatus,
    Adjustment,
    Deduction,
    NetFigures,
    ScorecardResult,
    net_from_gross,
)
from domain.periods import Period, period_window, year_to_date_window
from domain.programs import Accumulation, ProgramRules, Terms
from domain.text import Listing, Money, Text
from domain.tiers import RateKind, Tier, TierMode, rate_reached, rebate

__all__ = [
    "AccrualFigures",
    "AccrualStatus",
    "Adjustment",
    "CalculationStep",
    "Deduction",
    "EarlierGross",
    "NetFigures",
    "ScorecardResult",
    "accrue",
    "net_from_gross",
    "period_gross",
    "true_up_gross",
]


@dataclass(frozen=True)
class EarlierGross:
    period_name: str
    amount: Decimal  # the already-rounded gross of that period


@dataclass(frozen=True)
class AccrualFigures:
    basis: Decimal
    cumulative_basis: Decimal
    rate: Decimal
    gross_amount: Decimal
    score_multiplier: Decimal
    deduction_percent: Decimal
    deduction_amount: Decimal
    cap_reduction: Decimal
    adjustment_amount: Decimal
    net_amount: Decimal
    status: AccrualStatus
    calculation: tuple[CalculationStep, ...]
    currency: str = ""


def period_gross(
    tiers: Sequence[Tier], basis: Decimal, mode: TierMode, rate_kind: RateKind
) -> Decimal:
    """PER_PERIOD: gross_n = R(basis of period n), rounded once."""
    return money_figure(rebate(tiers, basis, mode, rate_kind))


def true_up_gross(
    tiers: Sequence[Tier],
    cumulative_basis: Decimal,
    earlier_gross: Sequence[Decimal],
    mode: TierMode,
    rate_kind: RateKind,
) -> Decimal:
    """YEAR_TO_DATE: gross_n = round(R(A_n)) − Σ earlier gross (already rounded).

    Subtracting the rounded earlier figures, not recomputing them, makes the periods' gross
    telescope to exactly round(R(annual basis)); gross_n < 0 is a clawback after returns.
    """
    return money_figure(rebate(tiers, cumulative_basis, mode, rate_kind)) - sum(earlier_gross, ZERO)


def _gross_steps(
    program: ProgramRules,
    terms: Terms,
    period: Period,
    basis: Decimal,
    cumulative: Decimal,
    earlier_gross: Sequence[EarlierGross],
    segment_name: str | None,
) -> tuple[Decimal, list[CalculationStep]]:
    window = period_window(period, program.valid_from, program.valid_to)
    if window is None:
        raise ValueError(f"period {period.name} is outside program {program.code}'s validity")
    currency = program.currency
    steps = [basis_step(Text("Basis {period}", period=period.name), program.basis, window,
                        basis, currency)]
    ytd = program.accumulation is Accumulation.YEAR_TO_DATE
    if ytd:
        to_date = year_to_date_window(period, program.valid_from, program.valid_to)
        assert to_date is not None  # the period intersects the validity (checked above)
        steps.append(basis_step(Text("Cumulative basis"), program.basis, to_date, cumulative,
                                currency))
    steps.append(terms_step(terms.segment_code, segment_name))
    steps.append(tier_step(terms.tiers, cumulative, program.basis, program.rate_kind, currency))
    label = Text("Rebate on cumulative basis") if ytd else Text("Gross rebate")
    rebate_part, rounded = rebate_steps(
        label, terms.tiers, cumulative, program.tier_mode, program.rate_kind, program.basis,
        currency,
    )
    steps += rebate_part
    if not ytd:
        return rounded, steps
    earlier = sum((item.amount for item in earlier_gross), ZERO)
    listed = (Listing(tuple(Text("{amount} ({period})", amount=Money(item.amount, currency),
                                 period=item.period_name) for item in earlier_gross), " + ")
              if earlier_gross else Text("none: {amount}", amount=Money(earlier, currency)))
    steps.append(CalculationStep(Text("Gross of earlier periods"), Text("{listed}", listed=listed),
                                 trim(earlier)))
    gross = rounded - earlier
    formula = Text("{cumulative} − {earlier} = {gross}", cumulative=Money(rounded, currency),
                   earlier=Money(earlier, currency), gross=Money(gross, currency))
    steps.append(CalculationStep(Text("Gross (true-up)"), formula, gross))
    return gross, steps


def accrue(
    program: ProgramRules,
    terms: Terms,
    period: Period,
    *,
    basis: Decimal,
    cumulative_basis: Decimal | None = None,
    earlier_gross: Sequence[EarlierGross] = (),
    scorecard: ScorecardResult | None = None,
    deductions: Sequence[Deduction] = (),
    cap_used: Decimal = ZERO,
    forfeitures: Sequence[Text | str] = (),
    adjustments: Sequence[Adjustment] = (),
    segment_name: str | None = None,
) -> AccrualFigures:
    """Every figure of one dealer × program × period, with its trace.

    YEAR_TO_DATE needs `cumulative_basis` (validFrom through the period's end) and the gross
    of the program's earlier periods; PER_PERIOD ignores both. `segment_name` names the
    terms' segment in the trace.
    """
    if program.accumulation is Accumulation.YEAR_TO_DATE:
        if cumulative_basis is None:
            raise ValueError("a YEAR_TO_DATE accrual needs the cumulative basis")
        cumulative = cumulative_basis
    else:
        cumulative, earlier_gross = basis, ()
    gross, steps = _gross_steps(program, terms, period, basis, cumulative, earlier_gross,
                                segment_name)
    net = net_from_gross(
        gross,
        period_name=period.name,
        currency=program.currency,
        scorecard_template_code=program.scorecard_template_code,
        scorecard=scorecard,
        deductions=deductions,
        cap=terms.cap,
        cap_used=cap_used,
        forfeitures=forfeitures,
        adjustments=adjustments,
    )
    return AccrualFigures(
        basis=basis,
        cumulative_basis=cumulative,
        rate=rate_reached(terms.tiers, cumulative),
        gross_amount=gross,
        score_multiplier=net.score_multiplier,
        deduction_percent=net.deduction_percent,
        deduction_amount=net.deduction_amount,
        cap_reduction=net.cap_reduction,
        adjustment_amount=net.adjustment_amount,
        net_amount=net.net_amount,
        status=net.status,
        calculation=(*steps, *net.calculation),
        currency=program.currency,
    )
