"""The worker's rest between large rounds (service/worker.py): it waits while sales arrive —
a batch being recorded, or the sales stamp moving — and computes as soon as they stop."""
from __future__ import annotations

import asyncio
import time

from service import worker as worker_module
from service.deps import Deps
from service.repositories import sales_ledger
from service.repositories.pending import FIELD as PENDING
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
