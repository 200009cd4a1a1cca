"""Closed periods: their figures never change; what changes around them becomes money on
the earliest open period of the program.

When data or penalties touching a closed period change (a late transaction, a violation
dated in it, a scorecard re-recorded), the period is recomputed *as it would be now*,
without writing it, and the difference from what was booked lands as an adjustment on the
dealer's accrual in the earliest open period. Under YEAR_TO_DATE the basis part needs no
adjustment: the next true-up works on the cumulative basis and absorbs it, so the closed
period's own gross is kept and only penalties and scorecards are reconciled.
A forfeiture makes an approved (unpaid) accrual FORFEITED; settled money is reclaimed by a
negative adjustment.

Reconciling writes only closed-period things (releases, adjustments, forfeitures); what
the open periods make of them is the dispatcher's next step (engine/dispatch.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from domain.accrual import AccrualFigures
from domain.calculation import forfeited_after_approval_step
from domain.money import ZERO
from domain.net import AccrualStatus
from domain.periods import Period
from domain.programs import Accumulation
from domain.text import Money, Param, Text, joined
from domain.violations import Violation
from service.deps import Deps
from service.repositories import accrual_writes, ledger, sales_ledger
from service.repositories import accruals as accrual_repo
from service.repositories.accruals import ComputedAccrual, StoredAccrual
from service.repositories.basis import DealerBasis, basis_by_dealer
from service.repositories.programs import StoredProgram
from service.usecases import account_credits, live
from service.usecases.engine.inputs import (
    dealer_terms,
    eligible,
    explained,
    figures_for,
    gather_inputs,
    windows,
)

CORRECTION, RECLAIM = "CORRECTION", "RECLAIM"
UNPAID = (AccrualStatus.APPROVED, AccrualStatus.DISPUTED)


@dataclass(frozen=True)
class Reconciliation:
    """What reconciling a closed period changed, and what it leaves to the open periods:
    the released accruals' carried amounts to take forward, and the dealers whose
    adjustments landed on `target` (the earliest open period) to recompute there."""

    changed: int
    released: list[ComputedAccrual]
    landed: list[str]
    target: Period | None


def earliest_open(program: StoredProgram, locks: dict[str, ledger.PeriodLock]) -> Period | None:
    return next((p for p in program.rules.periods() if p.name not in locks), None)


def _net_before_adjustments(accrual: StoredAccrual) -> Decimal:
    """What the period's own figures booked: a carried amount (minimum payout) was its net
    too, only paid later; adjustments (a carry taken in among them) came from elsewhere."""
    return accrual.net_amount + accrual.carried_forward - accrual.adjustment_amount


def _cause(period: Period, stored: StoredAccrual | None, now: AccrualFigures,
           currency: str) -> Text:
    parts: list[Text] = []
    if stored is None or stored.gross_amount != now.gross_amount:
        was: Param = Money(stored.gross_amount, currency) if stored else Text("none")
        parts.append(Text("late transactions (gross {was} → {now})", was=was,
                          now=Money(now.gross_amount, currency)))
    if stored is not None and stored.deduction_amount != now.deduction_amount:
        parts.append(Text("violations (deduction {was} → {now})",
                          was=Money(stored.deduction_amount, currency),
                          now=Money(now.deduction_amount, currency)))
    if stored is not None and stored.score_multiplier != now.score_multiplier:
        parts.append(Text("scorecard (× {was} → × {now})", was=stored.score_multiplier,
                          now=now.score_multiplier))
    return Text("correction for closed {period}: {what}", period=period.name,
                what=joined(parts, "; ") if parts else Text("figures changed"))


async def reconcile_locked(deps: Deps, program: StoredProgram, period: Period,
                           dealer_codes: Sequence[str] | None,
                           locks: dict[str, ledger.PeriodLock]) -> Reconciliation:
    """Recompute a closed period as it would be now, without writing its figures: ON_HOLD
    (or still OPEN) accruals are released, and each other difference from what was booked
    becomes an adjustment on the earliest open period."""
    rules = program.rules
    window, cumulative = windows(program, period)
    assert window is not None and cumulative is not None
    stamp = await sales_ledger.sales_stamp(deps.db)  # before the basis (see open_periods)
    stored = {a.dealer_code: a for a in await accrual_repo.for_period(
        deps.db, rules.code, period.name, dealer_codes=dealer_codes)}
    per_period = rules.accumulation is Accumulation.PER_PERIOD
    basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative,
                                  dealer_codes=dealer_codes)
    codes = sorted(set(stored) | (set(basis) if per_period else set()))
    dealers = await dealer_terms(deps, program, codes)
    inputs = await gather_inputs(deps, program, period, codes)
    target = earliest_open(program, locks)
    released: list[ComputedAccrual] = []
    landed: set[str] = set()
    changed = 0
    for code, (dealer, terms) in dealers.items():
        booked = stored.get(code)
        if terms is None or not eligible(program, dealer, terms,
                                         inputs.violations.get(code, []), False):
            continue
        dealer_basis = basis.get(code, DealerBasis())
        if booked is not None and booked.status in (AccrualStatus.ON_HOLD, AccrualStatus.OPEN):
            figures = explained(figures_for(program, period, terms, dealer_basis, inputs, code,
                                            dealer=dealer),
                                dealer_basis, program, period)
            if figures.status is AccrualStatus.OPEN:  # released (scorecard came), or raced
                figures = replace(figures, status=AccrualStatus.APPROVED)
            released.append(ComputedAccrual(code, rules.code, rules.version, period, figures,
                                            stamp))
            continue
        if booked is None and not per_period:
            continue
        keep = booked.gross_amount if booked is not None and not per_period else None
        now = figures_for(program, period, terms, dealer_basis, inputs, code,
                          with_adjustments=False, kept_gross=keep)
        if now.status is AccrualStatus.FORFEITED:
            changed += await _forfeit(deps, program, period, booked, target,
                                      inputs.violations.get(code, []))
            landed.add(code)
            continue
        if booked is not None and booked.status is AccrualStatus.FORFEITED:
            continue
        already, count = (await ledger.booked_from(deps.db, rules.code, period.name, [code],
                                                   CORRECTION)).get(code, (ZERO, 0))
        previous = _net_before_adjustments(booked) if booked else ZERO
        difference = now.net_amount - previous - already
        if difference and await ledger.add_adjustment(
                deps.db, dealer_code=code, program_code=rules.code,
                target_period=target.name if target else None, amount=difference,
                cause=_cause(period, booked, now, rules.currency), kind=CORRECTION,
                source_period=period.name,
                sequence=count, now=deps.now()):
            landed.add(code)
            changed += 1
    await accrual_writes.save_locked_release(deps.db, released, now=deps.now())
    await live.publish(deps, rules.code, period.name, [c.dealer_code for c in released])
    return Reconciliation(changed + len(released), released, sorted(landed), target)


def _reclaim_cause(amount: Money, period: Period, debited: bool) -> Text:
    if debited:
        return Text("reclaim of {amount} settled for {period} (forfeited; debited from the "
                    "rebate account)", amount=amount, period=period.name)
    return Text("reclaim of {amount} settled for {period} (forfeited)", amount=amount,
                period=period.name)


async def _forfeit(deps: Deps, program: StoredProgram, period: Period,
                   booked: StoredAccrual | None, target: Period | None,
                   violations: Sequence[Violation]) -> int:
    """Unpaid money is simply not paid; paid money is reclaimed in the earliest open period,
    and money credited to the rebate account (CREDIT_NOTE) is debited from it as well."""
    if booked is None or booked.status is AccrualStatus.FORFEITED:
        return 0
    if booked.status in UNPAID:
        await accrual_repo.mark_forfeited(deps.db, booked.id, forfeited_after_approval_step(),
                                          now=deps.now())
        await live.publish(deps, program.code, period.name, [booked.dealer_code])
        return 1
    # every pass, before the adjustment: idempotent by the line, so a pass that stopped
    # between the two writes is completed by the next one
    debited = await account_credits.reclaim_forfeited(deps, program, booked, violations)
    already, count = (await ledger.booked_from(deps.db, program.code, period.name,
                                               [booked.dealer_code], RECLAIM)).get(
        booked.dealer_code, (ZERO, 0))
    if already:
        return 0
    added = await ledger.add_adjustment(
        deps.db, dealer_code=booked.dealer_code, program_code=program.code,
        target_period=target.name if target else None, amount=-booked.net_amount,
        cause=_reclaim_cause(Money(booked.net_amount, program.rules.currency), period,
                             debited),
        kind=RECLAIM, source_period=period.name, sequence=count,
        now=deps.now())
    return int(added)
