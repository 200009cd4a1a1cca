"""Open periods: (re)computed in full from what is stored now, and written.

Under a minimum payout a period's carried amount moves into the next one, so recomputing a
period may recompute its successor (`carry_forward`); that successor is open too, since
periods close in calendar order.
"""
from __future__ import annotations

from collections.abc import Sequence

from domain.calculation import late_data_step
from domain.money import ZERO
from domain.periods import Period
from domain.programs import Accumulation
from domain.sales_ledger import Monthly
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.repositories import ledger, sales_ledger
from service.repositories.accruals import ComputedAccrual
from service.repositories.basis import basis_by_dealer, late_transactions
from service.repositories.programs import StoredProgram
from service.usecases import alerts, live
from service.usecases.engine.inputs import (
    dealer_terms,
    gather_inputs,
    period_figures,
    previous_period,
    windows,
)


async def compute_open_period(deps: Deps, program: StoredProgram, period: Period,
                              dealer_codes: Sequence[str] | None = None, *,
                              locks: dict[str, ledger.PeriodLock],
                              monthly: Monthly | None = None, follow_carry: bool = True,
                              stamp: int | None = None) -> int:
    """Recompute one open program period for some dealers (None: every dealer concerned).

    Under a minimum payout a changed carried amount is taken into the next period at once
    (`follow_carry`), so the money moved is in exactly one place whatever was recomputed.

    The sales stamp is read before the basis (`stamp`: read by the caller before it read
    `monthly`), so a computation racing with new transactions is stamped older than them
    and can never overwrite the recomputation that those transactions trigger.
    """
    rules = program.rules
    if stamp is None:
        stamp = await sales_ledger.sales_stamp(deps.db)
    window, cumulative = windows(program, period)
    if window is None or cumulative is None:
        return 0
    if dealer_codes is None:
        basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative,
                                      monthly=monthly)
        landing = await ledger.for_targets(deps.db, rules.code, period.name)
        codes = sorted(set(basis) | set(landing) | await accrual_repo.dealers_of_period(
            deps.db, rules.code, period.name) | await carried_here(deps, program, period))
        dealers = await dealer_terms(deps, program, codes)
    else:
        basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative,
                                      dealer_codes=dealer_codes, monthly=monthly)
        landing = await ledger.for_targets(deps.db, rules.code, period.name, dealer_codes)
        stored = await accrual_repo.dealers_of_period(deps.db, rules.code, period.name,
                                                      dealer_codes)
        concerned = (set(basis) | set(landing) | stored
                     | await carried_here(deps, program, period))
        dealers = await dealer_terms(deps, program,
                                     [c for c in dealer_codes if c in concerned])
    inputs = await gather_inputs(deps, program, period, list(dealers))
    late = {dealer: late_data_step(items) for dealer, items in (await late_transactions(
        deps.db, rules, locks, before=period, dealer_codes=list(dealers))).items()} \
        if rules.accumulation is Accumulation.YEAR_TO_DATE and locks else {}
    computed = [ComputedAccrual(dealer_code=code, program_code=rules.code,
                                program_version=rules.version, period=period,
                                inputs_version=stamp, figures=figures)
                for code, (_terms, figures) in period_figures(program, period, dealers, basis,
                                                              inputs, late).items()]
    if await accrual_repo.save_computed(deps.db, computed, now=deps.now(),
                                        tier_notices=bool(deps.settings.webhook_urls)):
        await live.publish(deps, rules.code, period.name, [c.dealer_code for c in computed])
    kept = {c.dealer_code for c in computed}
    dropped = [c for c in dealers if c not in kept]
    await accrual_repo.discard_recomputable(deps.db, rules.code, period.name, dropped)
    if follow_carry:
        await carry_forward(deps, program, period, computed, locks, dropped=dropped)
    await alerts.check_surges(deps, rules.code, period.name,
                              None if dealer_codes is None else sorted(kept), program=program)
    return len(computed)


async def carried_here(deps: Deps, program: StoredProgram, period: Period) -> set[str]:
    """Dealers the previous period carried an amount to (only under a minimum payout)."""
    if program.rules.minimum_payout is None:
        return set()
    before = previous_period(program, period)
    if before is None:
        return set()
    return await accrual_repo.carrying_dealers(deps.db, program.code, before.name)


async def carry_forward(deps: Deps, program: StoredProgram, period: Period,
                        computed: Sequence[ComputedAccrual],
                        locks: dict[str, ledger.PeriodLock], *,
                        dropped: Sequence[str] = ()) -> None:
    """Recompute the next period for the dealers whose carried amount is not the one it
    took in: the carry lives on the sending accrual (`carriedForward`) and the next
    period reads it, so recomputing either side any number of times gives the same money.
    A closed period's carry is fixed with it; the next period cannot be closed before it."""
    rules = program.rules
    if rules.minimum_payout is None or not (computed or dropped):
        return
    following = rules.next_period(period)
    if following is None or following.name in locks:
        return
    sent = {code: ZERO for code in dropped}  # an accrual discarded carries nothing
    sent.update({c.dealer_code: c.figures.carried_forward for c in computed})
    taken = await accrual_repo.carried_in(deps.db, rules.code, following.name, list(sent))
    changed = sorted(code for code, amount in sent.items()
                     if amount != taken.get(code, ZERO))
    if changed:
        await compute_open_period(deps, program, following, changed, locks=locks)
