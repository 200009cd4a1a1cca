"""settle: turn a closed period's approved accruals into a payout document, never twice.

The steps and why each is safe to repeat are in repositories/settlements.py. A settle call
first finishes any settlement of the same period that was interrupted (so "retry it" is the
whole recovery procedure), then settles what is still approved and unclaimed.

A payout document keeps what it paid to: each line carries its payee (dealer name and
region, payout form, tax rate) as they were when the settlement *began* — stored in the
intent, so a retry or the recovery pass after a rename still pays, and shows, the old name.
A dealer whose accrual was claimed although `begin` did not see it (approved in between) is
snapshotted when the lines are written; the lines are written once, so that is fixed too.
CREDIT_NOTE lines credit the dealers' rebate accounts once the lines are fixed and before
the accruals are SETTLED (usecases/account_credits.py), so retries and recovery do it too.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from domain.errors import NotFound, Problem, Problems, ValidationFailed, message_of
from domain.money import ZERO, percent_of, round_money
from domain.periods import program_period
from domain.programs import PayoutForm
from domain.text import Text
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, ledger, pending
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import settlements as settlement_repo
from service.repositories.ids import DocumentId, new_id
from service.repositories.programs import StoredProgram
from service.repositories.settlements import Payee, Payout, Settlement, SettlementLine, State
from service.usecases import account_credits, events, live


async def settle(deps: Deps, actor: Principal, program_code: str,
                 period_name: str) -> Settlement:
    """CASH withholds taxRate % of a positive net; CREDIT_NOTE and GOODS carry it whole.
    A negative net (money reclaimed) is a line the dealer owes, with no tax."""
    code, name = program_code.strip(), period_name.strip()
    program = await program_repo.get(deps.db, code)
    if program is None:
        raise NotFound(("input", "programCode"),
                       Text("no program with code {code}", code=repr(code)))
    problems = Problems()
    try:
        period = program_period(name, program.rules.period_kind, program.rules.valid_from,
                                program.rules.valid_to)
    except ValueError as error:
        problems.add(("input", "period"), message_of(error))
        problems.raise_if_any()
    if period.name not in await ledger.locks(deps.db, code):
        problems.add(("input", "period"),
                     Text("close {period} before settling it", period=period.name))
        problems.raise_if_any()
    recovered = [await complete(deps, doc)
                 for doc in await settlement_repo.unfinished(deps.db, code, period.name)]
    done = None
    if await settlement_repo.has_unclaimed(deps.db, code, period.name):
        now = deps.now()
        number = await settlement_repo.allocate_number(deps.db, now.astimezone(dt.UTC).year)
        failpoints.hit("settle.after_number")
        payout = payout_of(program)
        payees = await payees_now(
            deps, await settlement_repo.unclaimed_dealers(deps.db, code, period.name), payout)
        doc = await settlement_repo.begin(
            deps.db, new_id(), program_code=code, period=period.name, actor=actor.sub,
            now=now, pending=pending.marker(now, actor), number=number, payout=payout,
            payees=list(payees.values()))
        failpoints.hit("settle.after_intent")
        done = await complete(deps, doc)
    paid = [s for s in [*recovered, done] if s is not None]
    if not paid:
        raise ValidationFailed([Problem(
            ("input", "period"), Text("nothing to settle for {period}: no accrual approved "
                                      "since the last settlement", period=period.name),
            "NOTHING_TO_SETTLE")])
    return paid[-1]  # this call's settlement, or the retried call's, finished now


def payout_of(program: StoredProgram) -> Payout:
    return Payout(form=program.rules.payout_form, tax_rate=program.rules.tax_rate,
                  credit_validity_days=program.rules.credit_validity_days)


async def payees_now(deps: Deps, dealer_codes: list[str], payout: Payout) -> dict[str, Payee]:
    """The dealers as they are now, paid by `payout` (a dealer not found: its code as name)."""
    dealers = await dealer_repo.get_many(deps.db, dealer_codes)
    payees = {}
    for code in dealer_codes:
        dealer = dealers.get(code)
        payees[code] = Payee(dealer_code=code, name=dealer.name if dealer else code,
                             region=dealer.region if dealer else None,
                             payout_form=payout.form, tax_rate=payout.tax_rate)
    return payees


async def payees_for(deps: Deps, doc: dict[str, Any],
                     claimed: list[dict[str, Any]]) -> dict[str, Payee]:
    """Whom the claimed accruals pay: the payees and terms of the intent; a dealer the
    intent does not name, as it is now; an intent from before snapshots, everything now."""
    payout = settlement_repo.intended_payout(doc)
    if payout is None:
        program = await program_repo.get(deps.db, doc["programCode"])
        assert program is not None  # programs are never deleted
        payout = payout_of(program)
    payees = settlement_repo.intended_payees(doc, payout)
    late = sorted({a["dealerCode"] for a in claimed} - set(payees))
    if late:
        payees.update(await payees_now(deps, late, payout))
    return payees


def lines_for(payees: dict[str, Payee], claimed: list[dict[str, Any]]) -> list[SettlementLine]:
    lines = []
    for accrual in claimed:
        payee = payees[accrual["dealerCode"]]
        net = accrual["netAmount"]
        taxed = payee.payout_form is PayoutForm.CASH and net > 0
        tax = round_money(percent_of(net, payee.tax_rate) if taxed else ZERO)
        lines.append(SettlementLine(dealer_code=accrual["dealerCode"],
                                    accrual_id=str(accrual["_id"]), amount=net,
                                    tax_withheld=tax, payable=net - tax,
                                    form=payee.payout_form, payee=payee))
    return lines


async def complete(deps: Deps, doc: dict[str, Any]) -> Settlement | None:
    """Take a settlement from wherever it stopped to DONE; None if it paid nothing (VOID)."""
    code, period, sid = doc["programCode"], doc["period"], doc["_id"]
    doc = await settlement_repo.ensure_number(deps.db, doc)  # an intent from before numbers
    if settlement_repo.state_of(doc) is State.PENDING:
        await settlement_repo.claim(deps.db, code, period, sid)
        failpoints.hit("settle.after_claim")
        claimed = await settlement_repo.claimed(deps.db, code, period, sid)
        lines = lines_for(await payees_for(deps, doc, claimed), claimed)
        written = await settlement_repo.write_lines(
            deps.db, sid, lines, sum((line.payable for line in lines), ZERO))
        doc = written or await settlement_repo.get_doc(deps.db, sid) or doc
        failpoints.hit("settle.after_lines")
    await account_credits.credit_settlement(deps, doc)  # before SETTLED: never one without
    failpoints.hit("settle.after_credits")
    await settlement_repo.release_strays(deps.db, doc)
    await settlement_repo.mark_settled(deps.db, doc, deps.now())
    await live.publish(deps, code, period, [line["dealerCode"] for line in doc["lines"]])
    failpoints.hit("settle.after_settled")
    mark = doc.get(pending.FIELD)
    if mark is not None and settlement_repo.state_of(doc) is not State.VOID:
        await audit.append(deps.db, actor=pending.actor_of(mark), action="settle",
                           entity_type="Settlement", entity_id=str(sid), before=None,
                           after={"programCode": code, "period": period,
                                  "number": doc["number"], "lines": len(doc["lines"]),
                                  "totalPayable": doc["totalPayable"]},
                           now=mark["since"], event_id=sid)
    await events.settlement_created(deps, doc)  # webhooks; before done, so re-run with it
    await settlement_repo.finish(deps.db, doc)
    if settlement_repo.state_of(doc) is State.VOID:
        return None
    return (await settlement_repo.to_settlements(deps.db, [doc]))[0]


async def repair_claims(deps: Deps) -> int:
    """Claims left on APPROVED accruals by a settlement that is finished or missing (a
    completer that died between its claim and its clean-up, or a crash of the code before
    settlements were written in steps): settled if in the lines, released otherwise."""
    repaired = 0
    documents: dict[DocumentId, dict[str, Any] | None] = {}
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
