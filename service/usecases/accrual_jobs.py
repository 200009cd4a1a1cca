"""What needs recomputing: dirty marks per dealer × program, drained by the worker.

A mark is cheap and idempotent (an upsert that adds period names and bumps a version), so
recording transactions never waits for the computation. `ALL_DEALERS` marks a whole program
(after activation or a new version): the worker then recomputes it period by period with one
aggregation each.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from domain.basis import BASIS_RULES
from domain.periods import Period
from domain.programs import Accumulation, ProgramRules, ProgramStatus, started_periods
from domain.transactions import Transaction
from service.deps import Deps
from service.repositories import dealers as dealer_repo
from service.repositories import jobs
from service.repositories import programs as program_repo
from service.repositories.programs import StoredProgram

ALL_DEALERS = jobs.ALL_DEALERS


def affected_periods(rules: ProgramRules, day: dt.date, today: dt.date) -> list[Period]:
    """A fact dated `day` changes its own period, and under YEAR_TO_DATE every later one."""
    if not rules.valid_from <= day <= rules.valid_to:
        return []
    started = started_periods(rules, today)
    own = [p for p in started if p.start <= day <= p.end]
    if rules.accumulation is Accumulation.YEAR_TO_DATE:
        return [p for p in started if p.end >= day]
    return own


def counts_for(rules: ProgramRules, txn: Transaction) -> bool:
    """Whether the transaction touches this program's basis (or its foreign-currency note)."""
    if txn.kind not in BASIS_RULES[rules.basis]:
        return False
    return not rules.product_codes or txn.product_code in rules.product_codes


async def mark(deps: Deps, marks: dict[tuple[str, str], set[str]]) -> None:
    """marks: (dealer code or ALL_DEALERS, program code) → period names to recompute."""
    if marks:
        await jobs.upsert_marks(deps.db, marks, deps.now())
        deps.notify_worker()


async def mark_transactions(deps: Deps, transactions: Iterable[Transaction], *,
                            programs: Sequence[StoredProgram] | None = None) -> None:
    """`programs`: the active programs, if the caller has read them already."""
    if programs is None:
        programs = await program_repo.list_programs(deps.db, status=ProgramStatus.ACTIVE)
    today = deps.today()
    marks: dict[tuple[str, str], set[str]] = defaultdict(set)
    for txn in transactions:
        for program in programs:
            if counts_for(program.rules, txn):
                marks[(txn.dealer_code, program.code)].update(
                    p.name for p in affected_periods(program.rules, txn.date, today))
    await mark(deps, await _whole_programs(deps, marks))


WHOLE_PROGRAM_FROM = 200  # dealers of one program in one batch, at the least …
WHOLE_PROGRAM_SHARE = 0.5  # … and this share of all dealers: mark the program as a whole


async def _whole_programs(deps: Deps, marks: dict[tuple[str, str], set[str]],
                          ) -> dict[tuple[str, str], set[str]]:
    """A batch that touches most dealers (a bulk import) marks each program it touches
    once, for all its dealers, instead of once per dealer: one mark instead of a thousand,
    and the worker computes the program with one read per period either way."""
    per_program: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in marks:
        per_program[key[1]].append(key)
    big = {code: keys for code, keys in per_program.items() if len(keys) >= WHOLE_PROGRAM_FROM}
    if not big:
        return marks
    population = await dealer_repo.count(deps.db)
    for program_code, keys in big.items():
        if len(keys) >= population * WHOLE_PROGRAM_SHARE:
            periods = set().union(*(marks.pop(key) for key in keys))
            marks[(ALL_DEALERS, program_code)] = periods
    return marks


async def mark_program(deps: Deps, rules: ProgramRules) -> None:
    periods = {p.name for p in started_periods(rules, deps.today())}
    await mark(deps, {(ALL_DEALERS, rules.code): periods})


async def mark_dealers_everywhere(deps: Deps, dealer_codes: Iterable[str]) -> None:
    """A dealer's segments or status changed: its terms in every active program may have
    too. A dealer that never had a transaction has no accrual anywhere: nothing to mark (a
    CRM creating thousands of dealers queues no work; their first sales mark what they
    touch, computed with the segments they have by then)."""
    codes = list(dealer_codes)
    if codes:
        idle = await dealer_repo.without_sales(deps.db, codes)
        codes = [code for code in codes if code not in idle]
    if not codes:
        return
    today = deps.today()
    marks: dict[tuple[str, str], set[str]] = {}
    for program in await program_repo.list_programs(deps.db, status=ProgramStatus.ACTIVE):
        periods = {p.name for p in started_periods(program.rules, today)}
        for code in codes:
            marks[(code, program.code)] = periods
    await mark(deps, marks)


def _lease(deps: Deps) -> dt.timedelta:
    """How long a worker holds a job: a worker that died releases it when this runs out."""
    return dt.timedelta(seconds=deps.settings.worker_lease_seconds)


async def claim_batch(deps: Deps, owner: str) -> list[dict[str, Any]]:
    """The oldest free job, plus every other free dealer job of the same program.

    After a big import most dealers of a program are dirty at once; computing them together
    takes one pass over the transactions instead of one per dealer.
    """
    first = await jobs.claim_oldest(deps.db, owner, deps.now(), _lease(deps))
    if first is None or first["dealerCode"] == ALL_DEALERS:
        return [first] if first is not None else []
    others = await jobs.claim_dealers_of(deps.db, first["programCode"], owner, deps.now(),
                                         _lease(deps))
    return [first, *(job for job in others if job["_id"] != first["_id"])]


async def finish(deps: Deps, batch: Sequence[dict[str, Any]]) -> int:
    """Mark these jobs done (those marked again meanwhile stay dirty); how many were."""
    return await jobs.finish(deps.db, batch, now=deps.now())


async def release(deps: Deps, batch: Sequence[dict[str, Any]]) -> None:
    """Give these jobs back undone (still dirty) for the next round, whoever takes it."""
    await jobs.release(deps.db, batch)


async def dirty_of_program(deps: Deps, program_code: str) -> list[dict[str, Any]]:
    return await jobs.dirty_of_program(deps.db, program_code)


async def pending(deps: Deps) -> int:
    return await jobs.count_dirty(deps.db)


async def mark_scorecard(deps: Deps, dealer_code: str, template_code: str,
                         period_name: str) -> None:
    """A scorecard arrived or changed: the programs using its template, for that period
    (and, under YEAR_TO_DATE, the later periods whose true-up subtracts it)."""
    today = deps.today()
    marks: dict[tuple[str, str], set[str]] = {}
    for program in await program_repo.list_programs(deps.db, status=ProgramStatus.ACTIVE):
        rules = program.rules
        if rules.scorecard_template_code != template_code:
            continue
        started = started_periods(rules, today)
        hit = [p for p in started if p.name == period_name]
        if not hit:
            continue
        if rules.accumulation is Accumulation.YEAR_TO_DATE:
            hit = [p for p in started if p.start >= hit[0].start]
        marks[(dealer_code, program.code)] = {p.name for p in hit}
    await mark(deps, marks)
