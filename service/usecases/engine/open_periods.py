"""Open periods: (re)computed in full from what is stored now, and written.

Under a minimum payout a period's carried amount moves into the next one, so recomputing a
period may recompute its successor (`carry_forward`); that successor is open too, since
periods close in calendar order.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.accrual import AccrualFigures
from domain.calculation import late_data_step
from domain.money import ZERO
from domain.net import Adjustment
from domain.periods import Period
from domain.programs import Accumulation, Terms
from domain.sales_ledger import Monthly
from service import failpoints
from service.deps import Deps
from service.repositories import accrual_writes, ledger, sales_ledger
from service.repositories import accruals as accrual_repo
from service.repositories.accruals import ComputedAccrual, EarlierPeriods
from service.repositories.basis import DealerBasis, basis_by_dealer, late_transactions
from service.repositories.programs import StoredProgram
from service.usecases import alerts, live
from service.usecases.engine.inputs import (
    Known,
    books_after,
    dealer_terms,
    gather_inputs,
    period_figures,
    previous_period,
    windows,
)

log = logging.getLogger(__name__)


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
    basis = await basis_by_dealer(deps.db, rules, period=window, cumulative=cumulative,
                                  dealer_codes=dealer_codes, monthly=monthly)
    concerned = await _concerned(deps, program, period, dealer_codes, basis,
                                 await carried_here(deps, program, period))
    dealers = concerned.dealers
    inputs = await gather_inputs(deps, program, period, list(dealers),
                                 adjustments=concerned.landing)
    late = {dealer: late_data_step(items) for dealer, items in (await late_transactions(
        deps.db, rules, locks, before=period, dealer_codes=list(dealers))).items()} \
        if rules.accumulation is Accumulation.YEAR_TO_DATE and locks else {}
    figures = period_figures(program, period, dealers, basis, inputs, late)
    await _write(deps, program, period, dealer_codes, concerned, figures,
                 _ready(deps, program, period, concerned, figures, stamp), locks,
                 follow_carry=follow_carry)
    return len(figures)


async def compute_open_periods(deps: Deps, program: StoredProgram, periods: Sequence[Period],
                               dealer_codes: Sequence[str] | None, *,
                               locks: dict[str, ledger.PeriodLock], monthly: Monthly,
                               stamp: int, follow_carry: bool,
                               stop: Callable[[], Awaitable[bool]] | None = None,
                               stored: Mapping[str, dict[str, dict[str, Any]]] | None = None
                               ) -> int:
    """A round over the program's periods from its first, all open: each period is computed
    while the one before is still being written. `stored`: by period, what some periods'
    accruals hold (accrual_writes.stored_of_period), read with the sales; the others' are
    read in turn.

    The earlier periods a period needs (a year-to-date true-up's gross, a cap's net used, a
    minimum payout's carried amount) are the figures this round computed for them, as
    simulateProgram keeps them, instead of a read of what was just written: the same
    figures once every write of the period before has landed. Where one did not (its guard
    refused it: approved meanwhile, or computed from newer sales) or a dealer was dropped,
    the figures computed ahead are thrown away and the rest of the round reads what is
    stored, period by period (compute_open_period). `stop`: as dispatch.recompute's, asked
    before each period's reads (but the first's) and before each period's write."""
    rules = program.rules
    history: dict[str, EarlierPeriods] = {}
    bases: dict[str, dict[str, Decimal]] = {}  # per dealer and period, for the surge check
    writing: asyncio.Task[bool] | None = None
    computed = 0
    timings = Timings()
    known = Known()  # dealers, violations and segment names: read once for the round
    try:
        for index, period in enumerate(periods):
            if index and stop is not None and await stop():
                raise Abandoned(program.code)
            timings.lap()
            window, cumulative = windows(program, period)
            if window is None or cumulative is None:
                continue
            basis = await basis_by_dealer(deps.db, rules, period=window,
                                          cumulative=cumulative, dealer_codes=dealer_codes,
                                          monthly=monthly)
            carrying = {code for code, entry in history.items() if entry.carried is not None}
            concerned = await _concerned(deps, program, period, dealer_codes, basis,
                                         carrying, known,
                                         None if stored is None else stored.get(period.name))
            inputs = await gather_inputs(deps, program, period, list(concerned.dealers),
                                         earlier=history, known=known,
                                         adjustments=concerned.landing)
            timings.lap(f"{period.name} read")
            figures = period_figures(program, period, concerned.dealers, basis, inputs)
            ready = _ready(deps, program, period, concerned, figures, stamp)  # before waiting
            timings.lap(f"{period.name} computed")
            landed = writing is None or await writing
            if writing is not None:
                failpoints.hit("engine.between_periods")
            timings.lap("waited for the write before")
            if stop is not None and await stop():  # and before its write
                raise Abandoned(program.code)
            if not landed:  # the period before: not as computed
                writing = None
                for rest in periods[index:]:
                    computed += await compute_open_period(
                        deps, program, rest, dealer_codes, locks=locks, monthly=monthly,
                        follow_carry=follow_carry and rest == periods[-1], stamp=stamp)
                return computed
            bases = dict(bases)  # a new one: the write of the period before holds the old
            for code, (_terms, found) in figures.items():
                bases[code] = {**bases.get(code, {}), period.name: found.basis}
            writing = asyncio.create_task(_write(
                deps, program, period, dealer_codes, concerned, figures, ready, locks,
                follow_carry=follow_carry and period == periods[-1], bases=bases))
            history = books_after(history, period,
                                  {code: f for code, (_terms, f) in figures.items()})
            computed += len(figures)
    finally:
        if writing is not None:
            await writing
            timings.lap("waited for the last write")
    if dealer_codes is None:  # a whole population's round: where its time went
        log.info("round of %s from its first period: %s", rules.code, timings)
    return computed


class Timings:
    """Where a round's time went: seconds between laps, summed by label (for the log)."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self._at = time.monotonic()

    def lap(self, label: str | None = None) -> None:
        now = time.monotonic()
        if label is not None:
            self.parts[label] = self.parts.get(label, 0.0) + now - self._at
        self._at = now

    def __str__(self) -> str:
        return ", ".join(f"{label} {seconds:.2f} s" for label, seconds in self.parts.items())


class Abandoned(Exception):
    """A round stopped between two periods (`stop`): its jobs stay dirty for the next."""


@dataclass(frozen=True)
class Concerned:
    dealers: dict[str, tuple[dict[str, Any], Terms | None]]  # with the terms they get
    stored: dict[str, dict[str, Any]]  # their stored accruals (accrual_writes.stored_of_period)
    landing: dict[str, list[Adjustment]]  # the adjustments landing on the period, by dealer


async def _concerned(deps: Deps, program: StoredProgram, period: Period,
                     dealer_codes: Sequence[str] | None, basis: Mapping[str, DealerBasis],
                     carried: set[str], known: Known | None = None,
                     stored: dict[str, dict[str, Any]] | None = None) -> Concerned:
    """The dealers (of `dealer_codes`; None: all) a period's computation concerns, with their
    terms: those with sales, an adjustment landing, an accrual already, or a carried amount;
    what their stored accruals hold, for the write to compare with (`stored`: read by the
    round already); the adjustments landing. `known`: the dealers a round has read
    already."""
    rules = program.rules
    landing = await ledger.for_targets(deps.db, rules.code, period.name, dealer_codes)
    if stored is None:
        stored = await accrual_writes.stored_of_period(deps.db, rules.code, period.name,
                                                     dealer_codes)
    concerned = set(basis) | set(landing) | set(stored) | carried
    codes = sorted(concerned) if dealer_codes is None else [
        code for code in dealer_codes if code in concerned]
    return Concerned(await dealer_terms(deps, program, codes, known), stored, landing)


@dataclass(frozen=True)
class Ready:
    """A period's figures as accruals, and the writes that save them (made before the
    period before has been written: they need no database)."""

    computed: list[ComputedAccrual]
    plan: accrual_writes.Plan


def _ready(deps: Deps, program: StoredProgram, period: Period, concerned: Concerned,
           figures: Mapping[str, tuple[Terms, AccrualFigures]], stamp: int) -> Ready:
    rules = program.rules
    computed = [ComputedAccrual(dealer_code=code, program_code=rules.code,
                                program_version=rules.version, period=period,
                                inputs_version=stamp, figures=found)
                for code, (_terms, found) in figures.items()]
    return Ready(computed, accrual_writes.plan(
        computed, concerned.stored, now=deps.now(),
        tier_notices=bool(deps.settings.webhook_urls)))


async def _write(deps: Deps, program: StoredProgram, period: Period,
                 dealer_codes: Sequence[str] | None, concerned: Concerned,
                 figures: Mapping[str, tuple[Terms, AccrualFigures]], ready: Ready,
                 locks: dict[str, ledger.PeriodLock], *, follow_carry: bool,
                 bases: Mapping[str, Mapping[str, Decimal]] | None = None) -> bool:
    """Write a period's figures and what follows from them; True when every accrual now
    holds the figures computed (none refused, none dropped). `bases`: per dealer, the basis
    of this period and the earlier ones of the round, as computed — what the accruals hold
    once every write landed, so the surge check need not read them back."""
    rules = program.rules
    computed = ready.computed
    saved = await accrual_writes.write_plan(deps.db, ready.plan)
    if saved.written:
        await live.publish(deps, rules.code, period.name, [c.dealer_code for c in computed])
    dropped = [code for code in concerned.dealers if code not in figures]
    await accrual_repo.discard_recomputable(deps.db, rules.code, period.name, dropped)
    if follow_carry:
        await carry_forward(deps, program, period, computed, locks, dropped=dropped)
    landed = not saved.refused and not dropped
    await alerts.check_surges(deps, rules.code, period.name,
                              None if dealer_codes is None else sorted(figures),
                              program=program, bases=bases if landed else None)
    return landed


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
