"""The engine's entry points: compute a period whatever its state, recompute several in
order, and drain recomputation marks (the worker's jobs, and an explicit run's catch-up).

A closed period is reconciled, never recomputed; what its reconciliation hands on — carried
amounts of released accruals, adjustments landed on the earliest open period — is computed
here, in the open periods, so neither kind of period calls back into the other.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from domain.periods import Period
from domain.sales_ledger import Monthly
from service import failpoints
from service.deps import Deps
from service.repositories import accrual_writes, ledger, sales_ledger
from service.repositories import programs as program_repo
from service.repositories.basis import monthly_basis
from service.repositories.programs import StoredProgram
from service.usecases import accrual_jobs
from service.usecases.engine.closed_periods import reconcile_locked
from service.usecases.engine.inputs import span
from service.usecases.engine.open_periods import (
    Abandoned,
    carry_forward,
    compute_open_period,
    compute_open_periods,
)


async def compute_period(deps: Deps, program: StoredProgram, period: Period,
                         dealer_codes: Sequence[str] | None = None, *,
                         locks: dict[str, ledger.PeriodLock] | None = None,
                         monthly: Monthly | None = None, follow_carry: bool = True,
                         stamp: int | None = None) -> int:
    """Recompute one program period for some dealers (None: every dealer concerned): an
    open one in full, a closed one by reconciliation into the earliest open period.
    `monthly` given: `stamp` is the sales stamp read before it."""
    locks = locks if locks is not None else await ledger.locks(deps.db, program.code)
    if period.name not in locks:
        return await compute_open_period(deps, program, period, dealer_codes, locks=locks,
                                         monthly=monthly, follow_carry=follow_carry,
                                         stamp=stamp)
    done = await reconcile_locked(deps, program, period, dealer_codes, locks)
    await carry_forward(deps, program, period, done.released, locks)
    if done.landed and done.target is not None:
        await compute_open_period(deps, program, done.target, done.landed, locks=locks)
    return done.changed


log = logging.getLogger(__name__)


async def recompute(deps: Deps, program: StoredProgram, period_names: Sequence[str],
                    dealer_codes: Sequence[str] | None, *,
                    stop: Callable[[], Awaitable[bool]] | None = None) -> int:
    """Recompute the named periods in calendar order (a true-up needs earlier gross first)
    for these dealers (None: every dealer concerned), with one monthly pass for them all.
    `stop`: asked between two periods; True abandons the rest (raises Abandoned)."""
    wanted = set(period_names)
    periods = [p for p in program.rules.periods() if p.name in wanted]
    if not periods:
        return 0
    codes = None if dealer_codes is None else list(dealer_codes)
    locks = await ledger.locks(deps.db, program.code)
    stamp = await sales_ledger.sales_stamp(deps.db)
    started = time.monotonic()
    reading = monthly_basis(deps.db, program.rules, span(program, periods), codes)
    if len(periods) > 1 and _from_the_first(program, periods, locks):
        # what the first period's accruals hold is read while the sales are made into
        # figures (the later periods' are read while the period before is written)
        monthly, first = await asyncio.gather(reading, accrual_writes.stored_of_period(
            deps.db, program.code, periods[0].name, codes))
        _log_read(program, codes, monthly, started)
        return await compute_open_periods(
            deps, program, periods, codes, locks=locks, monthly=monthly, stamp=stamp,
            follow_carry=_next_name(program, periods[-1]) not in wanted, stop=stop,
            stored={periods[0].name: first})
    monthly = await reading
    _log_read(program, codes, monthly, started)
    changed = 0
    for index, period in enumerate(periods):
        if index and stop is not None and await stop():
            raise Abandoned(program.code)
        changed += await compute_period(deps, program, period, codes, locks=locks,
                                        monthly=monthly,
                                        follow_carry=_next_name(program, period) not in wanted,
                                        stamp=stamp)
    return changed


def _log_read(program: StoredProgram, codes: Sequence[str] | None, monthly: Monthly,
              started: float) -> None:
    if codes is None:
        log.info("round of %s: sales of %d dealer(s) read in %.2f s", program.code,
                 len(monthly), time.monotonic() - started)


def _from_the_first(program: StoredProgram, periods: Sequence[Period],
                    locks: dict[str, ledger.PeriodLock]) -> bool:
    """The program's periods from its first on, none closed: the round knows every earlier
    period a period of it needs (engine.open_periods.compute_open_periods)."""
    first = list(program.rules.periods())[:len(periods)]
    return [p.name for p in first] == [p.name for p in periods] and not any(
        p.name in locks for p in periods)


def _next_name(program: StoredProgram, period: Period) -> str | None:
    following = program.rules.next_period(period)
    return following.name if following else None


async def process(deps: Deps, jobs: list[dict[str, Any]],
                  program: StoredProgram | None = None, *,
                  stop: Callable[[], Awaitable[bool]] | None = None) -> bool:
    """Jobs of one program: its whole population, or a set of dealers together. `stop`:
    see `recompute`; an abandoned round's jobs are released, still dirty, and False is
    returned (True: the jobs are done)."""
    program = program or await program_repo.get(deps.db, str(jobs[0]["programCode"]))
    if program is not None:
        periods = sorted({str(p) for job in jobs for p in job.get("periods") or ()})
        dealers = [str(job["dealerCode"]) for job in jobs]
        codes = None if accrual_jobs.ALL_DEALERS in dealers else dealers
        started = time.monotonic()
        who = "all dealers" if codes is None else f"{len(codes):,} dealer(s)"
        try:
            written = await recompute(deps, program, periods, codes, stop=stop)
        except Abandoned:
            log.info("round of %s (%s, %s) abandoned after %.1f s: sales stopped meanwhile "
                     "(or an import's last batch began)",
                     program.code, who, ", ".join(periods), time.monotonic() - started)
            await accrual_jobs.release(deps, jobs)
            return False
        log.info("round of %s (%s, %s): %d accruals computed in %.1f s", program.code, who,
                 ", ".join(periods), written, time.monotonic() - started)
    failpoints.hit("worker.after_compute")
    await accrual_jobs.finish(deps, jobs)
    return True


async def catch_up_program(deps: Deps, program: StoredProgram) -> int:
    """Apply every pending mark of this program now — recomputation of open periods and
    reconciliation of closed ones (late data, scorecards, violations) — whoever holds it:
    computations are stamped and adjustments booked once, so racing the worker is safe."""
    jobs = await accrual_jobs.dirty_of_program(deps, program.code)
    if jobs:
        await process(deps, jobs, program)
    return len(jobs)
