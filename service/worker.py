"""The accrual worker: drains dirty marks so accruals follow the data within seconds, and
runs the recovery pass that finishes operations a stopped process left half-done.

Runs as a task in every service process. Jobs are leased in MongoDB, so any number of
workers (threads, processes, replicas) can run at once: each dealer × program is computed
by one worker at a time, and a stale computation can never overwrite a newer one.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from service.deps import Deps
from service.usecases import accrual_jobs, rebate_accounts, recovery
from service.usecases.engine import process
from service.usecases.sales_ledger import LedgerKeeper
from service.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)
CLAIM_REPAIR_SECONDS = 60.0  # orphaned settlement claims: rare, and a wider scan
# Coalescing: after a round that took d seconds the worker rests up to PACE × d (at most
# PACE_MAX) while sales keep arriving — a batch is being recorded, or the sales stamp moved
# less than QUIET ago — and computes as soon as they stop. Rounds under PACE_FROM (live
# sales: tens of dealers) take no rest. So a bulk import is recomputed about once a minute,
# for progress, and once more QUIET after its last batch (at once if that batch says it is
# the last: `lastBatch`, which `rebates import` sets); dealers touched by forty batches
# meanwhile are computed together, and the import keeps the database to itself in between.
PACE = 5.0
PACE_FROM = 2.0
PACE_MAX = 60.0
QUIET = 1.0
# A batch still pending while the worker rested this long and no batch was recorded is not
# an import keeping the database busy: it is a dead process's (left to the recovery pass) or
# a stalled one, and the worker computes rather than rest on. (Timed from the rest's start:
# a round competing with an import slows its batches, and must not count as a quiet time.)
STILL_MAX = 10.0
REST_POLL = 0.25


class AccrualWorker:
    def __init__(self, deps: Deps, *, idle_seconds: float = 1.0,
                 webhooks: WebhookDeliverer | None = None) -> None:
        self.deps = deps
        self.webhooks = webhooks  # its own task: an endpoint never holds up the jobs
        self.idle_seconds = idle_seconds
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_recovery = 0.0
        self._next_claim_repair = 0.0
        self._swept_on: object = None  # the business date of the last rebate expiry sweep
        self.ledger = LedgerKeeper(deps, self.owner)
        self._stamp: int | None = None  # the sales stamp last seen, and when it moved
        self._moved_at = 0.0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.owner)
        if self.webhooks is not None:
            self.webhooks.start()

    async def stop(self) -> None:
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> int:
        """Process jobs until none is left that this worker may take; returns how many."""
        done = 0
        while jobs := await accrual_jobs.claim_batch(self.deps, self.owner):
            await process(self.deps, jobs)
            done += len(jobs)
        return done

    async def _drain_paced(self) -> None:
        """Rounds, with rests between the large ones while sales arrive. A round begun
        while they still arrived (for progress, after the longest rest) is abandoned
        between two periods once they stop — the import it was computing has ended, and
        the round that follows at once counts all of it."""
        progress = False
        while jobs := await accrual_jobs.claim_batch(self.deps, self.owner):
            started = time.monotonic()
            if not await process(self.deps, jobs, stop=self._give_way if progress else None):
                # abandoned: the sales have stopped, so count them all now — or the import's
                # last batch is being stored: once it is
                progress = False
                if not await self._sales_stopped():
                    await self._rest(PACE_MAX)
                continue
            took = time.monotonic() - started
            progress = took >= PACE_FROM and not await self._rest(min(took * PACE, PACE_MAX))
            await self.ledger.keep(busy=True)

    async def _rest(self, longest: float) -> bool:
        """Rest after a large round while sales arrive; True once they stopped, False if
        they still arrive after `longest` seconds."""
        started = time.monotonic()
        self._stamp, self._moved_at = await self.ledger.sales_stamp(), started
        warmed = self._stamp
        while True:
            if await self._sales_stopped():
                return True  # compute what they changed now
            if time.monotonic() - self._moved_at >= STILL_MAX:
                return True  # a batch pending, but none recorded while resting: see STILL_MAX
            # past the longest rest a progress round follows — unless an import's last batch
            # is being stored: that round would only hold up the one that counts it all
            if time.monotonic() >= started + longest \
                    and not await self.ledger.import_ending():
                return False
            if self._stamp != warmed:  # a batch was stored: decode it now, not in the round
                warmed = self._stamp
                await self.ledger.warm()
            await asyncio.sleep(REST_POLL)

    async def _give_way(self) -> bool:
        """Whether a progress round stops: the sales it computes have stopped, or the last
        batch of the import has begun (the round after it counts everything)."""
        return await self._sales_stopped() or await self.ledger.import_ending()

    async def _sales_stopped(self) -> bool:
        """No batch is being recorded, and the sales stamp has not moved for QUIET — or the
        batch that moved it last said it was an import's last (`lastBatch`)."""
        (stamp, last), now = await self.ledger.sales_moment(), time.monotonic()
        if stamp != self._stamp:
            self._stamp, self._moved_at = stamp, now
            if not last:
                return False
        elif now - self._moved_at < QUIET and not last:
            return False
        return not await self.ledger.batch_in_progress()

    async def recover_when_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_claim_repair:
            self._next_claim_repair = now + CLAIM_REPAIR_SECONDS
            await recovery.repair_claims(self.deps)
        if now >= self._next_recovery:
            self._next_recovery = now + self.deps.settings.recovery_interval_seconds
            await recovery.recover(self.deps)
        today = self.deps.today()
        if today != self._swept_on:  # daily: EXPIRY entries of credit unspent at expiresOn
            await rebate_accounts.sweep_all(self.deps)
            self._swept_on = today

    async def _run(self) -> None:
        while True:
            try:
                await self.recover_when_due()
                await self._drain_paced()  # recomputation first: folding must only not starve
                await self.ledger.keep()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the worker alive; the job's lease expires and retries
                log.exception("accrual worker: a job failed; it will be retried")
                await asyncio.sleep(self.idle_seconds)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
