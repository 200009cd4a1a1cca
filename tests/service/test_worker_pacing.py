"""The worker's rest between large rounds (service/worker.py): it waits while sales arrive —
a batch being recorded, or the sales stamp moving — and computes as soon as they stop."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from decimal import Decimal
from typing import Any

import pytest

from domain.basis import TransactionKind
from domain.periods import PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.tiers import RateKind, RebateBasis, Tier, TierMode
from service import worker as worker_module
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import sales_ledger, sales_reads
from service.repositories.pending import FIELD as PENDING
from service.usecases import accrual_jobs
from service.usecases.dealers import upsert_dealer
from service.usecases.engine import process
from service.usecases.programs import create_program
from service.usecases.transactions import TransactionRow, record_transactions
from service.worker import AccrualWorker


async def timed_rest(worker: AccrualWorker, longest: float) -> float:
    started = time.monotonic()
    await worker._rest(longest)
    return time.monotonic() - started


async def test_no_rest_once_sales_have_stopped(deps: Deps) -> None:
    worker = AccrualWorker(deps)
    assert await timed_rest(worker, 30) < worker_module.QUIET + 1.5


async def test_it_rests_while_a_batch_is_being_recorded_and_not_after(deps: Deps) -> None:
    worker = AccrualWorker(deps)
    await deps.db.transaction_batches.insert_one(
        {"_id": "pacing-batch", PENDING: {"since": deps.now()}})

    async def finish_later() -> None:
        await asyncio.sleep(3)
        await deps.db.transaction_batches.update_one({"_id": "pacing-batch"},
                                                     {"$unset": {PENDING: ""}})
    finishing = asyncio.create_task(finish_later())
    rested = await timed_rest(worker, 30)
    await finishing
    assert 3 <= rested < 3 + worker_module.QUIET + 1.5


async def test_a_batch_a_dead_process_left_pending_does_not_keep_it_resting(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica killed while recording leaves its batch pending (until the recovery pass
    finishes it): with no sale recorded meanwhile the others stop resting after STILL_MAX
    and take over its work, rather than rest as long as they were asked to."""
    monkeypatch.setattr(worker_module, "STILL_MAX", 2.0)
    worker = AccrualWorker(deps)
    await deps.db.transaction_batches.insert_one(
        {"_id": "dead-batch", PENDING: {"since": deps.now()}})
    try:
        rested = await timed_rest(worker, 30)
    finally:
        await deps.db.transaction_batches.delete_one({"_id": "dead-batch"})
    assert 2 <= rested < 2 + worker_module.QUIET + 1.5


async def test_it_rests_while_the_sales_stamp_moves_but_never_longer_than_asked(
        deps: Deps) -> None:
    worker = AccrualWorker(deps)
    stop = asyncio.Event()

    async def keep_selling() -> None:
        while not stop.is_set():
            await sales_ledger.next_sales_stamp(deps.db)
            await asyncio.sleep(0.3)
    selling = asyncio.create_task(keep_selling())
    try:
        rested = await timed_rest(worker, 4)
    finally:
        stop.set()
        await selling
    assert 4 <= rested < 5.5


async def test_the_rest_goes_on_while_an_imports_last_batch_is_being_stored(
        deps: Deps) -> None:
    """Past the longest rest asked, while an import's last batch is being recorded, the
    worker rests on (a progress round then would hold up the one that counts it all), and
    stops as soon as that batch is stored."""
    worker = AccrualWorker(deps)
    await deps.db.transaction_batches.insert_one(
        {"_id": "last-batch", PENDING: {"since": deps.now()}, "lastBatch": True})

    async def stored_later() -> None:
        await asyncio.sleep(3)
        await sales_ledger.next_sales_stamp(deps.db, last_batch=True)
        await deps.db.transaction_batches.update_one({"_id": "last-batch"},
                                                     {"$unset": {PENDING: ""}})
    storing = asyncio.create_task(stored_later())
    try:
        started = time.monotonic()
        assert await worker._rest(1) is True  # the sales stopped: the round counts them all
        rested = time.monotonic() - started
        await storing
        assert 3 <= rested < 3 + 1.5
        assert await worker._give_way() is True  # stored: the sales have stopped
    finally:
        await sales_ledger.next_sales_stamp(deps.db)
        await deps.db.transaction_batches.delete_one({"_id": "last-batch"})


async def test_a_progress_round_gives_way_once_an_imports_last_batch_has_begun(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "QUIET", 30.0)
    worker = AccrualWorker(deps)
    await sales_ledger.next_sales_stamp(deps.db)  # sales moved just now: not stopped
    await worker._sales_stopped()
    assert await worker._give_way() is False
    await deps.db.transaction_batches.insert_one(
        {"_id": "last-begun", PENDING: {"since": deps.now()}, "lastBatch": True})
    try:
        assert await worker._give_way() is True
    finally:
        await deps.db.transaction_batches.delete_one({"_id": "last-begun"})


async def test_a_resting_worker_decodes_each_batch_stored_meanwhile(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """While it rests between an import's batches, the worker adds each batch stored to the
    sales read the last round kept: the round after the import decodes only the last."""
    monkeypatch.setattr(worker_module, "QUIET", 30.0)
    await upsert_dealer(deps, ADMIN, code="WARM1", name="WARM1")
    await sales_reads.read(deps.db, ["2026-02"], None, with_products=False)  # kept
    worker = AccrualWorker(deps)

    async def sell() -> None:
        await asyncio.sleep(0.5)
        await record_transactions(deps, ADMIN, [TransactionRow(
            "warm-1", "WARM1", TransactionKind.INVOICE, dt.date(2026, 2, 11), Decimal("7"),
            "CNY")])
    selling = asyncio.create_task(sell())
    await timed_rest(worker, 2)
    await selling
    assert await sales_reads.refresh_kept(deps.db) == 0, "decoded during the rest"


async def test_an_imports_last_batch_ends_the_rest_at_once(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch that says it is an import's last (recordTransactions' `lastBatch`) ends the
    rest as soon as it is stored, without a QUIET time; any other batch does not."""
    monkeypatch.setattr(worker_module, "QUIET", 20.0)
    worker = AccrualWorker(deps)

    async def sell(last_batch: bool) -> None:
        await asyncio.sleep(1)
        await sales_ledger.next_sales_stamp(deps.db, last_batch=last_batch)
    try:
        selling = asyncio.create_task(sell(False))
        assert await timed_rest(worker, 4) >= 4, "a batch, not the last: the rest goes on"
        await selling
        selling = asyncio.create_task(sell(True))
        rested = await timed_rest(worker, 30)
        await selling
        assert 1 <= rested < 1 + 1.5
    finally:
        await sales_ledger.next_sales_stamp(deps.db)  # no import's end left for other tests


# ---- a progress round abandoned when the import it computes ends --------------------------

ADMIN = Principal(sub="pacing-test", role=Role.ADMIN)


def ytd_rules(code: str) -> ProgramRules:
    return ProgramRules(
        code=code, name=code, basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.QUARTER,
        accumulation=Accumulation.YEAR_TO_DATE, valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31), currency="CNY",
        terms=(Terms(None, (Tier(Decimal("0"), Decimal("1")),)),),
        payout_form=PayoutForm.CREDIT_NOTE)


async def claimed_after_a_sale(deps: Deps, dealer: str, program: str) -> list[dict[str, Any]]:
    """A new program's jobs for a dealer's February sale, claimed (the other programs'
    jobs the sale makes are done on the way)."""
    await upsert_dealer(deps, ADMIN, code=dealer, name=dealer)
    await create_program(deps, ADMIN, ytd_rules(program), activate=True)
    await AccrualWorker(deps).drain()  # the activation's job
    await record_transactions(deps, ADMIN, [TransactionRow(
        f"{dealer}-sale", dealer, TransactionKind.INVOICE, dt.date(2026, 2, 10),
        Decimal("1000"), "CNY")])
    while (jobs := await accrual_jobs.claim_batch(deps, "pacing-worker"))[0][
            "programCode"] != program:
        await process(deps, jobs)
    assert {str(p) for job in jobs for p in job["periods"]} >= {"2026-Q1", "2026-Q2"}
    return jobs


async def test_an_abandoned_round_leaves_its_jobs_dirty_for_the_next_and_that_one_finishes(
        deps: Deps) -> None:
    jobs = await claimed_after_a_sale(deps, "PACE1", "PACE")
    asked: list[int] = []

    async def stop() -> bool:
        asked.append(1)
        return True
    await process(deps, jobs, stop=stop)
    assert len(asked) == 1  # asked before the first period's write, then gave up
    left = await deps.db.accrual_jobs.find_one({"_id": jobs[0]["_id"]})
    assert left is not None and left["dirty"] is True and left["leaseUntil"] is None
    assert await deps.db.accruals.count_documents({"programCode": "PACE",
                                                   "dealerCode": "PACE1"}) == 0
    assert await AccrualWorker(deps).drain() >= 1  # the next worker takes them at once
    q2 = await deps.db.accruals.find_one({"programCode": "PACE", "period": "2026-Q2"})
    assert q2 is not None and q2["cumulativeBasis"] == Decimal("1000")
    assert await accrual_jobs.pending(deps) == 0


async def test_a_round_is_also_abandoned_between_computing_a_period_and_writing_it(
        deps: Deps) -> None:
    """Sales that stop while a period is computed stop the round before that period's
    write: what it computed from the sales before is not written, and the next round
    writes it from all of them."""
    jobs = await claimed_after_a_sale(deps, "PACE2", "PACEW")
    # before the first period's write, and the second's reads: go on; before its write: stop
    answers = [False, False, True]

    async def stop() -> bool:
        return answers.pop(0)
    await process(deps, jobs, stop=stop)
    assert answers == []
    mine = {"programCode": "PACEW", "dealerCode": "PACE2"}
    q1 = await deps.db.accruals.find_one(mine | {"period": "2026-Q1"})
    assert q1 is not None and q1["basis"] == Decimal("1000")  # written before the stop
    assert await deps.db.accruals.count_documents(mine | {"period": "2026-Q2"}) == 0
    left = await deps.db.accrual_jobs.find_one({"_id": jobs[0]["_id"]})
    assert left is not None and left["dirty"] is True
    assert await AccrualWorker(deps).drain() >= 1
    q2 = await deps.db.accruals.find_one(mine | {"period": "2026-Q2"})
    assert q2 is not None and q2["cumulativeBasis"] == Decimal("1000")


@pytest.mark.parametrize("stopped", [True, False])
async def test_after_an_abandoned_round_the_round_that_counts_everything_starts_at_once(
        deps: Deps, monkeypatch: pytest.MonkeyPatch, stopped: bool) -> None:
    """A progress round is abandoned because the sales stopped: that already found them
    quiet, so the round that counts them all follows without a rest in between. Abandoned
    because an import's last batch is being stored, it rests until that batch is."""
    monkeypatch.setattr(worker_module, "PACE_FROM", 0.05)
    worker = AccrualWorker(deps)
    claims: list[list[dict[str, object]]] = [[{"_id": "A"}], [{"_id": "B"}], [{"_id": "C"}], []]
    rounds: list[tuple[object, bool]] = []
    rests: list[float] = []

    async def claim_batch(_deps: Deps, _owner: str) -> list[dict[str, object]]:
        return claims.pop(0)

    async def fake_process(_deps: Deps, jobs: list[dict[str, object]], *,
                           stop: object = None) -> bool:
        rounds.append((jobs[0]["_id"], stop is not None))
        await asyncio.sleep(0.1)  # a large round
        return jobs[0]["_id"] != "B"  # B: a progress round, abandoned

    async def rest(longest: float) -> bool:
        rests.append(longest)
        return False  # sales still arrive after A: B is a progress round

    async def keep(**_kwargs: object) -> None:
        return None

    monkeypatch.setattr(worker_module.accrual_jobs, "claim_batch", claim_batch)
    monkeypatch.setattr(worker_module, "process", fake_process)
    monkeypatch.setattr(worker, "_rest", rest)
    async def sales_stopped() -> bool:
        return stopped

    monkeypatch.setattr(worker.ledger, "keep", keep)
    monkeypatch.setattr(worker, "_sales_stopped", sales_stopped)
    await worker._drain_paced()
    assert rounds == [("A", False), ("B", True), ("C", False)]
    if stopped:
        assert len(rests) == 2  # after A and after C; none between B and C
    else:
        assert len(rests) == 3 and rests[1] == worker_module.PACE_MAX  # until it is stored
