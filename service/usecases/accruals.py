"""Accruals: computed per program period with one aggregation, recomputed as data arrives."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from domain.accrual import AccrualFigures, accrue
from domain.calculation import foreign_currency_step, on_hold_step
from domain.dealers import DealerStatus
from domain.errors import NotFound, Problem, Problems, ValidationFailed
from domain.forecast import Forecast, forecast
from domain.money import ZERO
from domain.net import AccrualStatus
from domain.periods import Period, period_window, program_period, year_to_date_window
from domain.programs import Accumulation, ProgramStatus, Terms, choose_terms
from service.auth import Principal
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.repositories import audit
from service.repositories import programs as program_repo
from service.repositories.accruals import ComputedAccrual, EarlierPeriods, StoredAccrual
from service.repositories.basis import DealerBasis, basis_by_dealer
from service.repositories.programs import StoredProgram
from service.repositories.segments import priorities_taken
from service.usecases.accrual_jobs import ALL_DEALERS, started_periods

DEALER_FIELDS = {"code": 1, "status": 1, "segmentCodes": 1, "salesVersion": 1, "_id": 0}


def windows(program: StoredProgram, period: Period) -> tuple[Any, Any]:
    rules = program.rules
    window = period_window(period, rules.valid_from, rules.valid_to)
    if rules.accumulation is Accumulation.YEAR_TO_DATE:
        return window, year_to_date_window(period, rules.valid_from, rules.valid_to)
    return window, window


async def _dealer_terms(deps: Deps, program: StoredProgram,
                        codes: Sequence[str]) -> dict[str, tuple[dict[str, Any], Terms | None]]:
    priorities = {code: priority for priority, code in (await priorities_taken(deps.db)).items()}
    found: dict[str, tuple[dict[str, Any], Terms | None]] = {}
    async for doc in deps.db.dealers.find({"code": {"$in": list(codes)}}, DEALER_FIELDS):
        memberships = [(s, priorities[s]) for s in doc.get("segmentCodes", ()) if s in priorities]
        found[doc["code"]] = (doc, choose_terms(program.rules.terms, memberships))
    return found


def _explained(figures: AccrualFigures, basis: DealerBasis, program: StoredProgram,
               period: Period, dealer: dict[str, Any]) -> AccrualFigures:
    steps = list(figures.calculation)
    status = figures.status
    if basis.foreign_count:
        steps.insert(1, foreign_currency_step(basis.foreign_count, basis.foreign_currencies,
                                              program.rules.currency, period.name))
    if dealer.get("status") == DealerStatus.SUSPENDED.value and status is AccrualStatus.OPEN:
        status = AccrualStatus.ON_HOLD
        steps.append(on_hold_step("the dealer is SUSPENDED: not payable until reactivated"))
    return replace(figures, calculation=tuple(steps), status=status)


async def compute_period(deps: Deps, program: StoredProgram, period: Period,
                         dealer_codes: Sequence[str] | None = None) -> int:
    """Recompute one program period for some dealers (None: every dealer with business).

    Dealers' sales versions are read before the basis, so a computation racing with new
    transactions is stamped older than them and can never overwrite the recomputation
    that those transactions trigger.
    """
    rules = program.rules
    window, cumulative = windows(program, period)
    if window is None or cumulative is None:
        return 0
    if dealer_codes is None:
        basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative)
        codes = sorted(set(basis) | await accrual_repo.dealers_of_period(
            deps.db, rules.code, period.name))
        dealers = await _dealer_terms(deps, program, codes)
    else:
        dealers = await _dealer_terms(deps, program, dealer_codes)
        basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative,
                                      dealer_codes=list(dealers))
    eligible = {code: terms for code, (_, terms) in dealers.items()
                if terms is not None and dealers[code][0].get("status") !=
                DealerStatus.DISQUALIFIED.value}
    earlier = await accrual_repo.earlier_periods(deps.db, rules.code, period, eligible)
    computed = []
    for code, terms in eligible.items():
        dealer_basis = basis.get(code, DealerBasis())
        before = earlier.get(code, EarlierPeriods([], ZERO))
        figures = accrue(rules, terms, period, basis=dealer_basis.period,
                         cumulative_basis=dealer_basis.cumulative, earlier_gross=before.gross,
                         cap_used=before.net)
        computed.append(ComputedAccrual(
            dealer_code=code, program_code=rules.code, program_version=rules.version,
            period=period, inputs_version=int(dealers[code][0].get("salesVersion", 0)),
            figures=_explained(figures, dealer_basis, program, period, dealers[code][0])))
    await accrual_repo.save_computed(deps.db, computed, now=deps.now())
    await accrual_repo.discard_recomputable(
        deps.db, rules.code, period.name, [c for c in dealers if c not in eligible])
    return len(computed)


async def recompute(deps: Deps, program: StoredProgram, period_names: Sequence[str],
                    dealer_code: str) -> int:
    """Recompute the named periods in calendar order (a true-up needs earlier gross first)."""
    periods = sorted((p for p in started_periods(program.rules, deps.today())
                      if p.name in set(period_names)), key=lambda p: p.start)
    codes = None if dealer_code == ALL_DEALERS else [dealer_code]
    return sum([await compute_period(deps, program, p, codes) for p in periods])


def _check_period(program: StoredProgram | None, code: str, period_name: str) -> Period:
    problems = Problems()
    if program is None:
        raise NotFound(("input", "programCode"), f"no program with code {code!r}")
    if program.status is not ProgramStatus.ACTIVE:
        problems.add(("input", "programCode"),
                     f"program {code} is {program.status.value}; only ACTIVE programs accrue")
    try:
        period = program_period(period_name, program.rules.period_kind,
                                program.rules.valid_from, program.rules.valid_to)
    except ValueError as error:
        problems.add(("input", "period"), str(error))
    problems.raise_if_any()
    return period


async def run_accruals(deps: Deps, actor: Principal, program_code: str,
                       period_name: str) -> list[StoredAccrual]:
    code, name = program_code.strip(), period_name.strip()
    program = await program_repo.get(deps.db, code)
    period = _check_period(program, code, name)
    assert program is not None
    to_compute = [period]
    if program.rules.accumulation is Accumulation.YEAR_TO_DATE:
        to_compute = [p for p in started_periods(program.rules, max(deps.today(), period.end))
                      if p.start <= period.start]
    count = 0
    for each in to_compute:
        count = await compute_period(deps, program, each)
    result = await accrual_repo.for_period(deps.db, code, period.name)
    await audit.append(deps.db, actor=actor, action="runAccruals", entity_type="Program",
                       entity_id=code, before=None,
                       after={"period": period.name, "dealers": count,
                              "programVersion": program.rules.version}, now=deps.now())
    return result


async def rebate_forecast(deps: Deps, *, scope: str | None, dealer_code: str,
                          program_code: str, period_name: str,
                          additional_basis: Decimal) -> tuple[Forecast, StoredProgram] | None:
    """None when the dealer is not visible, the program is unknown or the dealer has no terms."""
    code = dealer_code.strip()
    if scope is not None and code != scope:
        return None
    program = await program_repo.get(deps.db, program_code.strip())
    if program is None or program.status is ProgramStatus.DRAFT:
        return None
    try:
        period = program_period(period_name.strip(), program.rules.period_kind,
                                program.rules.valid_from, program.rules.valid_to)
    except ValueError as error:
        raise ValidationFailed([Problem(("period",), str(error))]) from None
    dealers = await _dealer_terms(deps, program, [code])
    if code not in dealers or dealers[code][1] is None:
        return None
    terms = dealers[code][1]
    assert terms is not None
    window, cumulative = windows(program, period)
    basis = (await basis_by_dealer(deps.db, program.rules, period=window, cumulative=cumulative,
                                   dealer_codes=[code])).get(code, DealerBasis())
    current = basis.cumulative if program.rules.accumulation is Accumulation.YEAR_TO_DATE \
        else basis.period
    return forecast(terms.tiers, program.rules.tier_mode, program.rules.rate_kind,
                    current, additional_basis), program

