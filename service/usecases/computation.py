"""Computing accruals: one program period, some or all dealers, from what is stored now.

Open periods are (re)computed in full. Closed periods are never recomputed: their changes
are reconciled into adjustments on the earliest open period (see reconciliation.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from domain.accrual import AccrualFigures, accrue
from domain.calculation import (
    CalculationStep,
    foreign_currency_step,
    late_data_step,
    on_hold_step,
)
from domain.dealers import DealerStatus
from domain.money import ZERO
from domain.net import AccrualStatus, Adjustment, ScorecardResult, net_from_gross
from domain.periods import DateRange, Period, period_window, year_to_date_window
from domain.programs import Accumulation, Terms, choose_terms
from domain.text import Text
from domain.violations import Violation, forfeits_year, penalties_for
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.repositories import dealers as dealer_repo
from service.repositories import ledger
from service.repositories import scorecards as scorecard_repo
from service.repositories import segments as segment_repo
from service.repositories import violations as violation_repo
from service.repositories.accruals import ComputedAccrual, EarlierPeriods
from service.repositories.basis import (
    DealerBasis,
    Monthly,
    basis_by_dealer,
    late_transactions,
    monthly_basis,
)
from service.repositories.programs import StoredProgram
from service.repositories.segments import priorities_taken
from service.usecases import alerts


def windows(program: StoredProgram, period: Period) -> tuple[DateRange | None,
                                                             DateRange | None]:
    """The period's own window and the basis window (validFrom on, for YEAR_TO_DATE)."""
    rules = program.rules
    window = period_window(period, rules.valid_from, rules.valid_to)
    if rules.accumulation is Accumulation.YEAR_TO_DATE:
        return window, year_to_date_window(period, rules.valid_from, rules.valid_to)
    return window, window


def validity(program: StoredProgram) -> DateRange:
    return DateRange(program.rules.valid_from, program.rules.valid_to)


async def dealer_terms(deps: Deps, program: StoredProgram, codes: Sequence[str],
                       ) -> dict[str, tuple[dict[str, Any], Terms | None]]:
    """Each dealer's document and the terms it gets (None: no terms apply)."""
    priorities = {code: priority for priority, code in (await priorities_taken(deps.db)).items()}
    found: dict[str, tuple[dict[str, Any], Terms | None]] = {}
    for doc in await dealer_repo.term_fields(deps.db, codes):
        memberships = [(s, priorities[s]) for s in doc.get("segmentCodes", ()) if s in priorities]
        found[doc["code"]] = (doc, choose_terms(program.rules.terms, memberships))
    return found


@dataclass(frozen=True)
class Inputs:
    """Everything besides the basis that one period's figures depend on, for many dealers."""

    violations: dict[str, list[Violation]]
    scorecards: dict[str, ScorecardResult]
    adjustments: dict[str, list[Adjustment]]
    earlier: dict[str, EarlierPeriods]
    segment_names: dict[str, str]  # of the segments the program has terms for, by code


async def gather_inputs(deps: Deps, program: StoredProgram, period: Period,
                        codes: Sequence[str]) -> Inputs:
    rules = program.rules
    scorecards: dict[str, ScorecardResult] = {}
    if rules.scorecard_template_code is not None:
        scorecards = await scorecard_repo.results_for(
            deps.db, rules.scorecard_template_code, period.name, codes)
    return Inputs(
        violations=await violation_repo.for_dealers(deps.db, codes, start=rules.valid_from,
                                                    end=rules.valid_to),
        scorecards=scorecards,
        adjustments=await ledger.for_targets(deps.db, rules.code, period.name, codes),
        earlier=await accrual_repo.earlier_periods(deps.db, rules.code, period, codes),
        segment_names=await segment_names(deps, program))


async def segment_names(deps: Deps, program: StoredProgram) -> dict[str, str]:
    """The names the trace gives the terms applied ("terms for segment KA (Key accounts)")."""
    codes = [t.segment_code for t in program.rules.terms if t.segment_code is not None]
    if not codes:
        return {}
    return {code: segment.name
            for code, segment in (await segment_repo.get_many(deps.db, codes)).items()}


def figures_for(program: StoredProgram, period: Period, terms: Terms, basis: DealerBasis,
                inputs: Inputs, code: str, *, with_adjustments: bool = True,
                kept_gross: Decimal | None = None) -> AccrualFigures:
    """`kept_gross`: take this gross (a closed period's) instead of recomputing it, and
    apply today's scorecard, penalties and cap to it."""
    window = period_window(period, program.rules.valid_from, program.rules.valid_to)
    assert window is not None
    penalties = penalties_for(inputs.violations.get(code, []), period=window,
                              validity=validity(program))
    before = inputs.earlier.get(code, EarlierPeriods([], ZERO))
    adjustments = inputs.adjustments.get(code, ()) if with_adjustments else ()
    figures = accrue(program.rules, terms, period, basis=basis.period,
                     cumulative_basis=basis.cumulative, earlier_gross=before.gross,
                     cap_used=before.net, scorecard=inputs.scorecards.get(code),
                     deductions=penalties.deductions, forfeitures=penalties.forfeitures,
                     adjustments=adjustments,
                     segment_name=inputs.segment_names.get(terms.segment_code or ""))
    if kept_gross is None:
        return figures
    net = net_from_gross(kept_gross, period_name=period.name, currency=program.rules.currency,
                         scorecard_template_code=program.rules.scorecard_template_code,
                         scorecard=inputs.scorecards.get(code),
                         deductions=penalties.deductions, cap=terms.cap, cap_used=before.net,
                         forfeitures=penalties.forfeitures, adjustments=adjustments)
    return replace(figures, gross_amount=kept_gross, score_multiplier=net.score_multiplier,
                   deduction_percent=net.deduction_percent,
                   deduction_amount=net.deduction_amount, cap_reduction=net.cap_reduction,
                   adjustment_amount=net.adjustment_amount, net_amount=net.net_amount,
                   status=net.status)


def explained(figures: AccrualFigures, basis: DealerBasis, program: StoredProgram,
              period: Period, dealer: dict[str, Any],
              late_note: CalculationStep | None = None) -> AccrualFigures:
    """Add what the pure rules cannot know: currencies left out, late data, suspension."""
    steps = list(figures.calculation)
    status = figures.status
    if basis.foreign_count:
        steps.insert(1, foreign_currency_step(basis.foreign_count, basis.foreign_currencies,
                                              program.rules.currency, period.name))
    if late_note is not None:
        steps.insert(2, late_note)
    if dealer.get("status") == DealerStatus.SUSPENDED.value and status is AccrualStatus.OPEN:
        status = AccrualStatus.ON_HOLD
        steps.append(on_hold_step(
            Text("the dealer is SUSPENDED: not payable until reactivated")))
    return replace(figures, calculation=tuple(steps), status=status)


def eligible(program: StoredProgram, dealer: dict[str, Any], terms: Terms | None,
             violations: list[Violation], has_adjustments: bool) -> bool:
    """Terms apply, and the dealer is not disqualified — unless this program is the one its
    FORFEIT_YEAR forfeits (the accrual then shows the forfeiture) or money lands on it."""
    if terms is None:
        return False
    if dealer.get("status") != DealerStatus.DISQUALIFIED.value:
        return True
    return has_adjustments or forfeits_year(violations, validity(program))


def span(program: StoredProgram, periods: Sequence[Period]) -> DateRange:
    """From validFrom through the last of `periods`: one monthly pass covers them all."""
    end = min(max(p.end for p in periods), program.rules.valid_to)
    return DateRange(program.rules.valid_from, max(end, program.rules.valid_from))


async def compute_period(deps: Deps, program: StoredProgram, period: Period,
                         dealer_codes: Sequence[str] | None = None, *,
                         locks: dict[str, ledger.PeriodLock] | None = None,
                         monthly: Monthly | None = None) -> int:
    """Recompute one open program period for some dealers (None: every dealer concerned).

    Dealers' sales versions are read before the basis, so a computation racing with new
    transactions is stamped older than them and can never overwrite the recomputation
    that those transactions trigger.
    """
    rules = program.rules
    locks = locks if locks is not None else await ledger.locks(deps.db, rules.code)
    if period.name in locks:
        from service.usecases.reconciliation import reconcile_locked
        return await reconcile_locked(deps, program, period, dealer_codes, locks)
    window, cumulative = windows(program, period)
    if window is None or cumulative is None:
        return 0
    if dealer_codes is None:
        basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative,
                                      monthly=monthly)
        landing = await ledger.for_targets(deps.db, rules.code, period.name)
        codes = sorted(set(basis) | set(landing) | await accrual_repo.dealers_of_period(
            deps.db, rules.code, period.name))
        dealers = await dealer_terms(deps, program, codes)
    else:
        basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative,
                                      dealer_codes=dealer_codes, monthly=monthly)
        landing = await ledger.for_targets(deps.db, rules.code, period.name, dealer_codes)
        stored = await accrual_repo.for_period(deps.db, rules.code, period.name,
                                               dealer_codes=dealer_codes)
        concerned = set(basis) | set(landing) | {a.dealer_code for a in stored}
        dealers = await dealer_terms(deps, program,
                                     [c for c in dealer_codes if c in concerned])
    inputs = await gather_inputs(deps, program, period, list(dealers))
    late = {dealer: late_data_step(items) for dealer, items in (await late_transactions(
        deps.db, rules, locks, before=period, dealer_codes=list(dealers))).items()} \
        if rules.accumulation is Accumulation.YEAR_TO_DATE and locks else {}
    computed = []
    for code, (dealer, terms) in dealers.items():
        if not eligible(program, dealer, terms, inputs.violations.get(code, []),
                        code in inputs.adjustments):
            continue
        assert terms is not None
        dealer_basis = basis.get(code, DealerBasis())
        figures = figures_for(program, period, terms, dealer_basis, inputs, code)
        computed.append(ComputedAccrual(
            dealer_code=code, program_code=rules.code, program_version=rules.version,
            period=period, inputs_version=int(dealer.get("salesVersion", 0)),
            figures=explained(figures, dealer_basis, program, period, dealer,
                              late.get(code))))
    await accrual_repo.save_computed(deps.db, computed, now=deps.now())
    kept = {c.dealer_code for c in computed}
    await accrual_repo.discard_recomputable(deps.db, rules.code, period.name,
                                            [c for c in dealers if c not in kept])
    await alerts.check_surges(deps, rules.code, period.name,
                              None if dealer_codes is None else sorted(kept), program=program)
    return len(computed)


async def recompute(deps: Deps, program: StoredProgram, period_names: Sequence[str],
                    dealer_codes: Sequence[str] | None) -> int:
    """Recompute the named periods in calendar order (a true-up needs earlier gross first)
    for these dealers (None: every dealer concerned), with one monthly pass for them all."""
    from service.usecases.accrual_jobs import all_periods
    wanted = set(period_names)
    periods = [p for p in all_periods(program.rules) if p.name in wanted]
    if not periods:
        return 0
    codes = None if dealer_codes is None else list(dealer_codes)
    locks = await ledger.locks(deps.db, program.code)
    monthly = await monthly_basis(deps.db, program.rules, span(program, periods), codes)
    return sum([await compute_period(deps, program, p, codes, locks=locks, monthly=monthly)
                for p in periods])
