"""The accrual worker: drains dirty marks so accruals follow the data within seconds.

Runs as a task in every service process. Jobs are leased in MongoDB, so any number of
workers (threads, processes, replicas) can run at once: each dealer × program is computed
by one worker at a time, and a stale computation can never overwrite a newer one.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from service.deps import Deps
from service.repositories import programs as program_repo
from service.usecases import accrual_jobs
from service.usecases.computation import recompute

log = logging.getLogger(__name__)


class AccrualWorker:
    def __init__(self, deps: Deps, *, idle_seconds: float = 1.0) -> None:
        self.deps = deps
        self.idle_seconds = idle_seconds
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.owner)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> int:
        """Process jobs until none is left that this worker may take; returns how many."""
        done = 0
        while jobs := await accrual_jobs.claim_batch(self.deps, self.owner):
            await self._process(jobs)
            done += len(jobs)
        return done

    async def _process(self, jobs: list[dict[str, Any]]) -> None:
        """Jobs of one program: its whole population, or a set of dealers together."""
        program = await program_repo.get(self.deps.db, str(jobs[0]["programCode"]))
        if program is not None:
            periods = sorted({str(p) for job in jobs for p in job.get("periods") or ()})
            dealers = [str(job["dealerCode"]) for job in jobs]
            codes = None if dealers == [accrual_jobs.ALL_DEALERS] else dealers
            await recompute(self.deps, program, periods, codes)
        for job in jobs:
            await accrual_jobs.finish(self.deps, job)

    async def _run(self) -> None:
        while True:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the worker alive; the job's lease expires and retries
                log.exception("accrual worker: a job failed; it will be retried")
                await asyncio.sleep(self.idle_seconds)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
