"""Accrual commands and queries: runAccruals and the rebate forecast."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.achievement import absolute_tiers, window_target
from domain.errors import NotFound, Problem, Problems, ValidationFailed, message_of
from domain.forecast import (
    Forecast,
    ForecastScope,
    PeriodShare,
    TargetProgress,
    explanation,
    forecast,
    order_explanation,
    order_forecast,
    period_share,
    target_progress,
)
from domain.periods import Period, program_period
from domain.programs import Accumulation, ProgramStatus, started_periods
from domain.text import Text
from domain.transaction_tiers import each_transaction
from service.auth import Principal
from service.deps import Deps
from service.errors import InvalidArgument
from service.repositories import accruals as accrual_repo
from service.repositories import audit, ledger, sales_ledger
from service.repositories import programs as program_repo
from service.repositories.accruals import StoredAccrual
from service.repositories.basis import (
    DealerBasis,
    basis_by_dealer,
    counted_transactions,
    monthly_basis,
)
from service.repositories.programs import StoredProgram
from service.usecases.engine import catch_up_program, compute_period
from service.usecases.engine.inputs import dealer_targets, dealer_terms, span, windows


def _check_period(program: StoredProgram | None, code: str, period_name: str) -> Period:
    problems = Problems()
    if program is None:
        raise NotFound(("input", "programCode"),
                       Text("no program with code {code}", code=repr(code)))
    if program.status is not ProgramStatus.ACTIVE:
        problems.add(("input", "programCode"),
                     Text("program {code} is {status}; only ACTIVE programs accrue", code=code,
                          status=program.status.value))
    try:
        period = program_period(period_name, program.rules.period_kind,
                                program.rules.valid_from, program.rules.valid_to)
    except ValueError as error:
        problems.add(("input", "period"), message_of(error))
    problems.raise_if_any()
    return period


async def run_accruals(deps: Deps, actor: Principal, program_code: str,
                       period_name: str) -> list[StoredAccrual]:
    code, name = program_code.strip(), period_name.strip()
    program = await program_repo.get(deps.db, code)
    period = _check_period(program, code, name)
    assert program is not None
    await catch_up_program(deps, program)  # read our own writes: late data, scorecards, …
    to_compute = [period]
    if program.rules.accumulation is Accumulation.YEAR_TO_DATE:
        to_compute = [p for p in started_periods(program.rules, max(deps.today(), period.end))
                      if p.start <= period.start]
    count = 0
    locks = await ledger.locks(deps.db, code)
    stamp = await sales_ledger.sales_stamp(deps.db)  # before the basis it stamps
    monthly = await monthly_basis(deps.db, program.rules, span(program, to_compute))
    for each in to_compute:
        count = await compute_period(deps, program, each, locks=locks, monthly=monthly,
                                     stamp=stamp)
    result = await accrual_repo.for_period(deps.db, code, period.name)
    await audit.append(deps.db, actor=actor, action="runAccruals", entity_type="Program",
                       entity_id=code, before=None,
                       after={"period": period.name, "dealers": count,
                              "programVersion": program.rules.version}, now=deps.now())
    return result


def check_additional_basis(additional_basis: Decimal) -> Decimal:
    """A forecast adds what may still be sold: a negative figure is a caller's mistake."""
    if additional_basis < 0:
        raise InvalidArgument("additionalBasis", f"{additional_basis} must not be negative")
    return additional_basis


@dataclass(frozen=True)
class DealerForecast:
    figures: Forecast  # cumulative under YEAR_TO_DATE, the period's own under PER_PERIOD
    share: PeriodShare  # the same as the period's own accrual would show them
    explanation: Text
    program: StoredProgram
    progress: TargetProgress | None = None  # TARGET_ACHIEVEMENT programs only


async def rebate_forecast(deps: Deps, *, scope: str | None, dealer_code: str,
                          program_code: str, period_name: str,
                          additional_basis: Decimal) -> DealerForecast | None:
    """None when the dealer is not visible, the program is unknown or the dealer has no terms.

    Under YEAR_TO_DATE the period's own figures subtract the gross the dealer's accruals of
    the program's earlier periods hold, exactly as the period's true-up will.
    """
    check_additional_basis(additional_basis)
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
        raise ValidationFailed([Problem(("period",), message_of(error))]) from None
    dealers = await dealer_terms(deps, program, [code])
    if code not in dealers or dealers[code][1] is None:
        return None
    terms = dealers[code][1]
    assert terms is not None
    window, cumulative = windows(program, period)
    assert window is not None and cumulative is not None  # program_period checked it
    basis = (await basis_by_dealer(deps.db, program.rules, period=window, cumulative=cumulative,
                                   dealer_codes=[code])).get(code, DealerBasis())
    rules = program.rules
    ytd = rules.accumulation is Accumulation.YEAR_TO_DATE
    current = basis.cumulative if ytd else basis.period
    tiers, target, progress = terms.tiers, None, None
    if rules.on_target:
        names = [p.name for p in rules.window_periods(period)]
        found = window_target(names, (await dealer_targets(deps, program, names, [code])).get(
            code, {}))
        target = found.amount
        progress = target_progress(current, target, found.missing)
        tiers = absolute_tiers(terms.tiers, target) if target is not None else ()
    if rules.each_transaction:  # PER_PERIOD and BASIS only: one more order of that size
        counted = (await counted_transactions(deps.db, rules, window, [code])).get(code, [])
        earned = each_transaction(tiers, counted, rules.tier_mode, rules.rate_kind).earned
        figures = order_forecast(tiers, rules.tier_mode, rules.rate_kind, current, earned,
                                 additional_basis)
        return DealerForecast(figures, period_share(figures, ForecastScope.PERIOD),
                              order_explanation(figures, period=period.name, window=cumulative,
                                                basis_kind=rules.basis,
                                                currency=rules.currency), program)
    figures = forecast(tiers, rules.tier_mode, rules.rate_kind, current, additional_basis,
                       target)
    earlier: list[Decimal] = []
    if ytd:
        before = await accrual_repo.earlier_periods(deps.db, rules.code, period, [code])
        earlier = [item.amount for item in before[code].gross] if code in before else []
    share = period_share(figures, ForecastScope.YEAR_TO_DATE if ytd else ForecastScope.PERIOD,
                         earlier)
    return DealerForecast(figures, share, explanation(
        figures, share, period=period.name, window=cumulative, basis_kind=rules.basis,
        currency=rules.currency, progress=progress), program, progress)

