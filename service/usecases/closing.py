"""closePeriod: approve a program period's accruals and lock them for good."""
from __future__ import annotations

from typing import Any

from domain.errors import NotFound, Problems, message_of
from domain.periods import Period, program_period
from domain.programs import ProgramStatus
from domain.text import Text, joined
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.repositories import audit, ledger, pending
from service.repositories import programs as program_repo
from service.repositories.accruals import StoredAccrual
from service.usecases import live
from service.usecases.engine import catch_up_program, compute_period


async def close_period(deps: Deps, actor: Principal, program_code: str,
                       period_name: str) -> list[StoredAccrual]:
    """Periods close in calendar order, once they have ended. The period is recomputed from
    the latest data first, then locked, then its OPEN accruals approved; ON_HOLD ones stay
    on hold and are approved the moment they are released."""
    code, name = program_code.strip(), period_name.strip()
    program = await program_repo.get(deps.db, code)
    if program is None:
        raise NotFound(("input", "programCode"),
                       Text("no program with code {code}", code=repr(code)))
    problems = Problems()
    period: Period | None = None
    if program.status is ProgramStatus.DRAFT:
        problems.add(("input", "programCode"), Text("program {code} is a DRAFT", code=code))
    try:
        period = program_period(name, program.rules.period_kind, program.rules.valid_from,
                                program.rules.valid_to)
    except ValueError as error:
        problems.add(("input", "period"), message_of(error))
    locks = await ledger.locks(deps.db, code)
    if period is not None and period.name in locks:
        doc = await ledger.lock_doc(deps.db, code, period.name)
        if doc is not None and pending.FIELD in doc:  # a retry of a close that stopped
            await complete_close(deps, doc)
            return await accrual_repo.for_period(deps.db, code, period.name)
    if period is not None:
        if period.name in locks:
            problems.add(("input", "period"),
                         Text("{period} is already closed", period=period.name), "LOCKED")
        elif period.end >= deps.today():
            problems.add(("input", "period"),
                         Text("{period} ends on {end}; close it after that", period=period.name,
                              end=period.end))
        open_before = [p.name for p in program.rules.periods()
                       if p.start < period.start and p.name not in locks]
        if open_before:
            problems.add(("input", "period"),
                         Text("close {periods} first", periods=joined(open_before)))
    problems.raise_if_any()
    assert period is not None
    await catch_up_program(deps, program)  # pending reconciliation lands before the lock
    await compute_period(deps, program, period, locks=locks)
    mark = pending.marker(deps.now(), actor)
    if not await ledger.lock(deps.db, code, period.name, period.start, actor=actor.sub,
                             now=mark["since"], pending=mark):
        problems.add(("input", "period"),
                     Text("{period} is already closed", period=period.name), "LOCKED")
        problems.raise_if_any()
    failpoints.hit("close.after_lock")
    doc = await ledger.lock_doc(deps.db, code, period.name)
    assert doc is not None
    await complete_close(deps, doc)
    return await accrual_repo.for_period(deps.db, code, period.name)


async def complete_close(deps: Deps, lock: dict[str, Any]) -> None:
    """After the lock: approve the period's OPEN accruals, audit, drop the pending marker.
    Approving twice approves nothing more, so this may run again after any stop."""
    mark = lock.get(pending.FIELD)
    if mark is None:
        return
    code, period = lock["programCode"], lock["period"]
    approved = await accrual_repo.approve_open(deps.db, code, period, now=mark["since"])
    await live.publish(deps, code, period, None)  # every dealer's accrual of the period
    await audit.append(deps.db, actor=pending.actor_of(mark), action="closePeriod",
                       entity_type="Program", entity_id=code, before=None,
                       after={"period": period, "approved": approved}, now=mark["since"],
                       event_id=lock["_id"])
    await ledger.clear_lock_pending(deps.db, lock["_id"])
