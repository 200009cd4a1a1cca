"""Draining recomputation marks: what the worker does in the background, and what an
explicit run does first for its own program, so that it reads its own writes."""
from __future__ import annotations

from typing import Any

from service import failpoints
from service.deps import Deps
from service.repositories import programs as program_repo
from service.repositories.programs import StoredProgram
from service.usecases import accrual_jobs
from service.usecases.computation import recompute


async def process(deps: Deps, jobs: list[dict[str, Any]],
                  program: StoredProgram | None = None) -> None:
    """Jobs of one program: its whole population, or a set of dealers together."""
    program = program or await program_repo.get(deps.db, str(jobs[0]["programCode"]))
    if program is not None:
        periods = sorted({str(p) for job in jobs for p in job.get("periods") or ()})
        dealers = [str(job["dealerCode"]) for job in jobs]
        codes = None if accrual_jobs.ALL_DEALERS in dealers else dealers
        await recompute(deps, program, periods, codes)
    failpoints.hit("worker.after_compute")
    for job in jobs:
        await accrual_jobs.finish(deps, job)


async def catch_up_program(deps: Deps, program: StoredProgram) -> int:
    """Apply every pending mark of this program now — recomputation of open periods and
    reconciliation of closed ones (late data, scorecards, violations) — whoever holds it:
    computations are stamped and adjustments booked once, so racing the worker is safe."""
    jobs = await accrual_jobs.dirty_of_program(deps, program.code)
    if jobs:
        await process(deps, jobs, program)
    return len(jobs)
