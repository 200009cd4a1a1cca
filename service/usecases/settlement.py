"""settle: turn a closed period's approved accruals into a payout document, never twice.

The steps and why each is safe to repeat are in repositories/settlements.py. A settle call
first finishes any settlement of the same period that was interrupted (so "retry it" is the
whole recovery procedure), then settles what is still approved and unclaimed.
"""
from __future__ import annotations

from typing import Any

from bson import ObjectId

from domain.errors import NotFound, Problem, Problems, ValidationFailed
from domain.money import ZERO, percent_of, round_money
from domain.periods import program_period
from domain.programs import PayoutForm
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, ledger, pending
from service.repositories import programs as program_repo
from service.repositories import settlements as settlement_repo
from service.repositories.programs import StoredProgram
from service.repositories.settlements import Settlement, SettlementLine, State


async def settle(deps: Deps, actor: Principal, program_code: str,
                 period_name: str) -> Settlement:
    """CASH withholds taxRate % of a positive net; CREDIT_NOTE and GOODS carry it whole.
    A negative net (money reclaimed) is a line the dealer owes, with no tax."""
    code, name = program_code.strip(), period_name.strip()
    program = await program_repo.get(deps.db, code)
    if program is None:
        raise NotFound(("input", "programCode"), f"no program with code {code!r}")
    problems = Problems()
    try:
        period = program_period(name, program.rules.period_kind, program.rules.valid_from,
                                program.rules.valid_to)
    except ValueError as error:
        problems.add(("input", "period"), str(error))
        problems.raise_if_any()
    if period.name not in await ledger.locks(deps.db, code):
        problems.add(("input", "period"), f"close {period.name} before settling it")
        problems.raise_if_any()
    recovered = [await complete(deps, doc)
                 for doc in await settlement_repo.unfinished(deps.db, code, period.name)]
    done = None
    if await settlement_repo.has_unclaimed(deps.db, code, period.name):
        doc = await settlement_repo.begin(
            deps.db, ObjectId(), program_code=code, period=period.name, actor=actor.sub,
            now=deps.now(), pending=pending.marker(deps.now(), actor))
        failpoints.hit("settle.after_intent")
        done = await complete(deps, doc, program)
    paid = [s for s in [*recovered, done] if s is not None]
    if not paid:
        raise ValidationFailed([Problem(
            ("input", "period"), f"nothing to settle for {period.name}: no accrual approved "
                                 "since the last settlement", "NOTHING_TO_SETTLE")])
    return paid[-1]  # this call's settlement, or the retried call's, finished now


def lines_for(program: StoredProgram, claimed: list[dict[str, Any]]) -> list[SettlementLine]:
    form = program.rules.payout_form
    lines = []
    for accrual in claimed:
        net = accrual["netAmount"]
        taxed = form is PayoutForm.CASH and net > 0
        tax = round_money(percent_of(net, program.rules.tax_rate) if taxed else ZERO)
        lines.append(SettlementLine(dealer_code=accrual["dealerCode"],
                                    accrual_id=str(accrual["_id"]), amount=net,
                                    tax_withheld=tax, payable=net - tax, form=form))
    return lines


async def complete(deps: Deps, doc: dict[str, Any],
                   program: StoredProgram | None = None) -> Settlement | None:
    """Take a settlement from wherever it stopped to DONE; None if it paid nothing (VOID)."""
    code, period, sid = doc["programCode"], doc["period"], doc["_id"]
    if settlement_repo.state_of(doc) is State.PENDING:
        await settlement_repo.claim(deps.db, code, period, sid)
        failpoints.hit("settle.after_claim")
        program = program or await program_repo.get(deps.db, code)
        assert program is not None  # programs are never deleted
        lines = lines_for(program, await settlement_repo.claimed(deps.db, code, period, sid))
        written = await settlement_repo.write_lines(
            deps.db, sid, lines, sum((line.payable for line in lines), ZERO))
        doc = written or await settlement_repo.get_doc(deps.db, sid) or doc
        failpoints.hit("settle.after_lines")
    await settlement_repo.release_strays(deps.db, doc)
    await settlement_repo.mark_settled(deps.db, doc, deps.now())
    failpoints.hit("settle.after_settled")
    mark = doc.get(pending.FIELD)
    if mark is not None and settlement_repo.state_of(doc) is not State.VOID:
        await audit.append(deps.db, actor=pending.actor_of(mark), action="settle",
                           entity_type="Settlement", entity_id=str(sid), before=None,
                           after={"programCode": code, "period": period,
                                  "lines": len(doc["lines"]),
                                  "totalPayable": doc["totalPayable"]},
                           now=mark["since"], event_id=sid)
    await settlement_repo.finish(deps.db, doc)
    if settlement_repo.state_of(doc) is State.VOID:
        return None
    return settlement_repo.from_doc(doc)


async def repair_claims(deps: Deps) -> int:
    """Claims left on APPROVED accruals by a settlement that is finished or missing (a
    completer that died between its claim and its clean-up, or a crash of the code before
    settlements were written in steps): settled if in the lines, released otherwise."""
    repaired = 0
    documents: dict[ObjectId, dict[str, Any] | None] = {}
    for accrual in await settlement_repo.approved_claims(deps.db):
        sid = accrual["settlementId"]
        if sid not in documents:
            documents[sid] = await settlement_repo.get_doc(deps.db, sid)
        doc = documents[sid]
        if doc is not None and settlement_repo.state_of(doc) in (State.PENDING, State.WRITTEN):
            continue  # in progress, or left to the pass over unfinished settlements
        if doc is not None and accrual["_id"] in settlement_repo.line_ids(doc):
            await settlement_repo.mark_settled(deps.db, doc, deps.now())
        else:
            await settlement_repo.release(deps.db, accrual["_id"], sid)
        repaired += 1
    return repaired
