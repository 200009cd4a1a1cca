"""Keeping the monthly sales ledger compact: the worker's share of it.

Recording transactions writes a delta per batch (service/repositories/sales_ledger.py);
readers add unfolded deltas to the ledger, so folding only keeps reads small and never
decides whether an accrual is current. Folding is therefore lazy: when deltas have piled up
(many cells, many documents) or the oldest has waited a while — a bulk import is folded a
few times in all, not once per batch — and once the import is over (the waiting cells grew
by less than QUIET_GROWTH in FOLD_WHEN_QUIET seconds: live sales are folded every few
seconds, a few cells at a time, which is cheap).
"""
from __future__ import annotations

import datetime as dt
import time

from service.deps import Deps
from service.repositories import sales_ledger, sales_reads
from service.repositories.transactions import batch_begun_since, last_batch_begun_since

FOLD_AFTER = dt.timedelta(minutes=10)  # a bulk import folds by size (FOLD_CELLS), once it ends
FOLD_CELLS = 300_000  # waiting cells that make a fold due at once
FOLD_DOCS = 2_000  # waiting deltas (small batches) that make a fold due at once
FOLD_MAX_CELLS = 600_000  # taken by one fold
FOLD_WHEN_QUIET = 5.0  # seconds in which the waiting cells grew by less than QUIET_GROWTH
QUIET_GROWTH = 1_000
CLEANUP_EVERY = dt.timedelta(minutes=10)
CHECK_EVERY = 2.0  # seconds between looks at the waiting deltas
BATCH_FRESH = dt.timedelta(seconds=120)  # a batch pending longer is a stopped call's
BUSY_CHECK_EVERY = 30.0


class LedgerKeeper:
    """Backfill once, fold when due, delete old deltas now and then."""

    def __init__(self, deps: Deps, owner: str) -> None:
        self.deps = deps
        self.owner = owner
        self._backfilled = False
        self._next_cleanup: dt.datetime | None = None
        self._last_check = -BUSY_CHECK_EVERY
        self._waiting = (0, 0.0)  # cells waiting, and since when they grew by less than …

    async def fold_due(self) -> bool:
        if await sales_ledger.stalled_fold(self.deps.db, self.deps.now()):
            return True
        docs, cells, oldest = await sales_ledger.unfolded(self.deps.db)
        if not docs:
            self._waiting = (0, 0.0)
            return False
        moment = time.monotonic()
        base, since = self._waiting
        if since == 0.0 or cells - base >= QUIET_GROWTH or cells < base:
            self._waiting = (cells, moment)  # first seen, grown, or folded meanwhile
        # a bulk import is over (live sales add a few cells at a time): fold what it left,
        # so that rounds for a few dealers do not read its big deltas
        quiet = moment - self._waiting[1] >= FOLD_WHEN_QUIET
        return (cells >= FOLD_CELLS or docs >= FOLD_DOCS or quiet
                or (oldest is not None and self.deps.now() - oldest >= FOLD_AFTER))

    async def keep(self, *, busy: bool = False) -> int:
        """One round (at most every CHECK_EVERY, or BUSY_CHECK_EVERY between the rounds of
        a busy worker: recomputation first, folding must only not starve); returns how many
        deltas were folded."""
        moment = time.monotonic()
        if moment < (self._last_check + (BUSY_CHECK_EVERY if busy else CHECK_EVERY)):
            return 0
        self._last_check = moment
        db, now = self.deps.db, self.deps.now()
        if not self._backfilled:
            self._backfilled = await sales_ledger.backfill(db, now)
        folded = 0
        if await self.fold_due():
            folded = await sales_ledger.fold(db, self.owner, now, max_cells=FOLD_MAX_CELLS)
        if self._next_cleanup is None or now >= self._next_cleanup:
            await sales_ledger.cleanup(db, now)
            self._next_cleanup = now + CLEANUP_EVERY
        return folded

    async def sales_stamp(self) -> int:
        return await sales_ledger.sales_stamp(self.deps.db)

    async def warm(self) -> int:
        """Decode the deltas written since the last round read the sales (see
        sales_reads.refresh_kept); how many."""
        return await sales_reads.refresh_kept(self.deps.db)

    async def sales_moment(self) -> tuple[int, bool]:
        return await sales_ledger.sales_moment(self.deps.db)

    async def batch_in_progress(self) -> bool:
        """A recordTransactions batch is being recorded now (begun within BATCH_FRESH: an
        older pending batch is a stopped call's, left to the recovery pass)."""
        return await batch_begun_since(self.deps.db, self.deps.now() - BATCH_FRESH)

    async def import_ending(self) -> bool:
        """An import's last batch (recordTransactions' lastBatch) is being recorded now."""
        return await last_batch_begun_since(self.deps.db, self.deps.now() - BATCH_FRESH)
