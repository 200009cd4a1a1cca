"""An accrual (返利计提): basis, tier, gross (with the year-to-date true-up), then net."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from domain.achievement import WindowTarget, absolute_tiers, achievement_percent
from domain.calculation import (
    CalculationStep,
    achievement_step,
    basis_step,
    each_transaction_steps,
    money_figure,
    rebate_steps,
    target_step,
    terms_step,
    tier_step,
)
from domain.money import ZERO, trim
from domain.net import (
    AccrualStatus,
    Adjustment,
    Deduction,
    MinimumPayout,
    NetFigures,
    ScorecardResult,
    net_from_gross,
)
from domain.periods import Period, period_window, year_to_date_window
from domain.programs import Accumulation, ProgramRules, Terms
from domain.text import Listing, Money, Text
from domain.tiers import RateKind, Tier, TierMode, rate_reached, rebate
from domain.transaction_tiers import CountedTransaction, each_transaction

__all__ = [
    "AccrualFigures",
    "AccrualStatus",
    "Adjustment",
    "CalculationStep",
    "CarriedIn",
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
    target: Decimal | None = None  # TARGET_ACHIEVEMENT: the window's target
    achievement_percent: Decimal | None = None
    carried_forward: Decimal = ZERO  # step 6: the net moved to the next period, paid 0 now
    carried_in: Decimal = ZERO  # what the previous period carried here (in the adjustments)


@dataclass(frozen=True)
class CarriedIn:
    """A net the previous period carried forward under the minimum payout (step 6)."""

    period_name: str
    amount: Decimal

    def adjustment(self) -> Adjustment:
        return Adjustment(self.amount, Text("carried forward from {period}",
                                            period=self.period_name))


@dataclass(frozen=True)
class Gross:
    amount: Decimal
    rate: Decimal
    steps: list[CalculationStep]
    target: Decimal | None = None
    achievement: Decimal | None = None
    holds: tuple[Text, ...] = ()


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


def _tier_part(program: ProgramRules, terms: Terms, period: Period, cumulative: Decimal,
               target: WindowTarget | None, label: Text,
               ) -> tuple[Gross | None, list[CalculationStep], Decimal]:
    """Tier, rebate steps and round(R) of the cumulative basis; under TARGET_ACHIEVEMENT
    with the thresholds read against the window's target. A Gross is returned instead when
    there is no target to read them against (the accrual waits ON_HOLD)."""
    currency = program.currency
    if not program.on_target:
        steps = [tier_step(terms.tiers, cumulative, program.basis, program.rate_kind, currency)]
        parts, rounded = rebate_steps(label, terms.tiers, cumulative, program.tier_mode,
                                      program.rate_kind, program.basis, currency)
        return None, steps + list(parts), rounded
    if target is None:
        raise ValueError("a TARGET_ACHIEVEMENT accrual needs the window's target")
    steps = [target_step(period.name, target.parts, target.missing, program.basis, currency)]
    amount = target.amount
    if amount is None:
        reason = Text("no target set for {periods}", periods=Listing(target.missing, ", "))
        return Gross(money_figure(ZERO), ZERO, steps, holds=(reason,)), steps, ZERO
    achieved = achievement_percent(cumulative, amount)
    steps.append(achievement_step(terms.tiers, cumulative, amount, achieved, program.basis,
                                  program.rate_kind, currency))
    tiers = absolute_tiers(terms.tiers, amount)
    parts, rounded = rebate_steps(label, tiers, cumulative, program.tier_mode,
                                  program.rate_kind, program.basis, currency, target=amount)
    return None, steps + list(parts), rounded


def gross_of(
    program: ProgramRules,
    terms: Terms,
    period: Period,
    basis: Decimal,
    cumulative: Decimal,
    earlier_gross: Sequence[EarlierGross],
    segment_name: str | None,
    target: WindowTarget | None = None,
    transactions: Sequence[CountedTransaction] = (),
) -> Gross:
    """Steps of SPEC §3 up to the gross: basis, terms, target, tier, R, true-up."""
    window = period_window(period, program.valid_from, program.valid_to)
    if window is None:
        raise ValueError(f"period {period.name} is outside program {program.code}'s validity")
    currency = program.currency
    steps = [basis_step(Text("Basis {period}", period=period.name), program.basis, window,
                        basis, currency)]
    if program.each_transaction:
        result = each_transaction(terms.tiers, transactions, program.tier_mode,
                                  program.rate_kind)
        steps.append(terms_step(terms.segment_code, segment_name))
        parts, rounded = each_transaction_steps(result, program.basis, program.rate_kind,
                                                currency)
        return Gross(rounded, result.top_rate, steps + list(parts))
    ytd = program.accumulation is Accumulation.YEAR_TO_DATE
    if ytd:
        to_date = year_to_date_window(period, program.valid_from, program.valid_to)
        assert to_date is not None  # the period intersects the validity (checked above)
        steps.append(basis_step(Text("Cumulative basis"), program.basis, to_date, cumulative,
                                currency))
    steps.append(terms_step(terms.segment_code, segment_name))
    label = Text("Rebate on cumulative basis") if ytd else Text("Gross rebate")
    held, tier_steps, rounded = _tier_part(program, terms, period, cumulative, target, label)
    steps += tier_steps
    if held is not None:
        return replace(held, steps=steps)
    amount = target.amount if target is not None else None
    tiers = (absolute_tiers(terms.tiers, amount) if amount is not None else terms.tiers)
    rate = rate_reached(tiers, cumulative)
    achieved = achievement_percent(cumulative, amount) if amount is not None else None
    if not ytd:
        return Gross(rounded, rate, steps, amount, achieved)
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
    return Gross(gross, rate, steps, amount, achieved)


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
    target: WindowTarget | None = None,
    transactions: Sequence[CountedTransaction] = (),
    carried_in: CarriedIn | None = None,
    holds: Sequence[Text] = (),
    minimum_payout: bool = True,
) -> AccrualFigures:
    """Every figure of one dealer × program × period, with its trace.

    YEAR_TO_DATE needs `cumulative_basis` (validFrom through the period's end) and the gross
    of the program's earlier periods; PER_PERIOD ignores both. `segment_name` names the
    terms' segment in the trace. TARGET_ACHIEVEMENT needs the window's `target` (with a
    period missing, the accrual waits ON_HOLD); EACH_TRANSACTION the period's counted
    `transactions`. `carried_in` lands as an adjustment; `minimum_payout=False` leaves out
    step 6 (what a closed period is reconciled against).
    """
    if program.accumulation is Accumulation.YEAR_TO_DATE:
        if cumulative_basis is None:
            raise ValueError("a YEAR_TO_DATE accrual needs the cumulative basis")
        cumulative = cumulative_basis
    else:
        cumulative, earlier_gross = basis, ()
    found = gross_of(program, terms, period, basis, cumulative, earlier_gross, segment_name,
                     target, transactions)
    landed = [*adjustments, carried_in.adjustment()] if carried_in else list(adjustments)
    minimum = (MinimumPayout(program.minimum_payout,
                             next_one.name if (next_one := program.next_period(period)) else None)
               if program.minimum_payout is not None and minimum_payout else None)
    net = net_from_gross(
        found.amount,
        period_name=period.name,
        currency=program.currency,
        scorecard_template_code=program.scorecard_template_code,
        scorecard=scorecard,
        deductions=deductions,
        cap=terms.cap,
        cap_used=cap_used,
        forfeitures=forfeitures,
        adjustments=landed,
        holds=(*found.holds, *holds),
        minimum_payout=minimum,
    )
    return AccrualFigures(
        basis=basis,
        cumulative_basis=cumulative,
        rate=found.rate,
        gross_amount=found.amount,
        score_multiplier=net.score_multiplier,
        deduction_percent=net.deduction_percent,
        deduction_amount=net.deduction_amount,
        cap_reduction=net.cap_reduction,
        adjustment_amount=net.adjustment_amount,
        net_amount=net.net_amount,
        status=net.status,
        calculation=(*found.steps, *net.calculation),
        currency=program.currency,
        target=found.target,
        achievement_percent=found.achievement,
        carried_forward=net.carried_forward,
        carried_in=carried_in.amount if carried_in else ZERO,
    )
