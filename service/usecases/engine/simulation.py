"""A program's figures on the stored history, computed and never written (SPEC §7).

Each period is computed as an open one is (`period_figures`, the very function
compute_open_period writes from) from the sales, scorecards, violations and targets stored
now. What the program's own books would hold — the gross of earlier periods a
year-to-date true-up subtracts, the net used under a cap, the amount a minimum payout
carries forward — is kept in memory from the periods computed before, in calendar order,
so a draft never reads the accruals of a real program. Adjustments booked on the real
program's accruals (late-data corrections, reclaims, disputes) are not part of it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from domain.accrual import AccrualFigures
from domain.periods import Period
from domain.programs import Accumulation
from service.deps import Deps
from service.repositories.accruals import EarlierPeriods
from service.repositories.basis import basis_by_dealer, monthly_basis
from service.repositories.programs import StoredProgram
from service.usecases.engine.inputs import (
    books_after,
    dealer_terms,
    gather_inputs,
    period_figures,
    span,
    windows,
)


@dataclass(frozen=True)
class SimulatedAccrual:
    dealer_code: str
    segment_code: str | None  # whose terms applied; None: the default terms
    figures: AccrualFigures


def needs_history(program: StoredProgram) -> bool:
    """Whether a period's figures depend on the program's earlier periods: a year-to-date
    true-up, a cap on the total, a minimum payout's carried amount."""
    rules = program.rules
    return (rules.accumulation is Accumulation.YEAR_TO_DATE or rules.terms_have_cap
            or rules.minimum_payout is not None)


async def simulate_periods(deps: Deps, program: StoredProgram, wanted: Sequence[Period],
                           ) -> dict[str, list[SimulatedAccrual]]:
    """The figures of the `wanted` periods (by name, calendar order) for every dealer
    concerned, without writing anything. Earlier periods are computed too when the wanted
    ones depend on them (`needs_history`)."""
    names = {p.name for p in wanted}
    last = max(p.start for p in wanted)
    periods = [p for p in program.rules.periods()
               if p.name in names or (needs_history(program) and p.start < last)]
    monthly = await monthly_basis(deps.db, program.rules, span(program, periods))
    history: dict[str, EarlierPeriods] = {}
    found: dict[str, list[SimulatedAccrual]] = {}
    for period in periods:
        window, cumulative = windows(program, period)
        assert window is not None and cumulative is not None  # a period of the program
        basis = await basis_by_dealer(deps.db, program.rules, period=window,
                                      cumulative=cumulative, monthly=monthly)
        carrying = {code for code, entry in history.items() if entry.carried is not None}
        if not basis and not carrying:  # no business (and nothing carried): no accrual
            if period.name in names:
                found[period.name] = []
            continue
        dealers = await dealer_terms(deps, program, sorted(set(basis) | carrying))
        inputs = await gather_inputs(deps, program, period, list(dealers),
                                     stored_history=False)
        inputs = replace(inputs, earlier={code: history[code] for code in dealers
                                          if code in history})
        computed = period_figures(program, period, dealers, basis, inputs)
        history = books_after(history, period, {code: f for code, (_, f) in computed.items()})
        if period.name in names:
            found[period.name] = [SimulatedAccrual(code, terms.segment_code, figures)
                                  for code, (terms, figures) in computed.items()]
    return found
