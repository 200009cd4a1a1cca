"""Recovery from a stop half-way through a multi-write operation, against the real server.

Each test writes exactly the state a process killed at that point leaves behind (the kill
itself is exercised over a real subprocess in tests/crash/), then shows that the recovery
pass, or a retry of the same call, completes the operation exactly once.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId

from domain.basis import TransactionKind
from domain.periods import PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, ProgramStatus, Terms
from domain.scorecards import Kpi, KpiDirection, ScoreBand, ScorecardTemplate
from domain.tiers import RateKind, RebateBasis, Tier, TierMode
from domain.transactions import Transaction
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import audit, ledger, pending
from service.repositories import disputes as dispute_repo
from service.repositories import programs as program_repo
from service.repositories import scorecards as scorecard_repo
from service.repositories import segments as segment_repo
from service.repositories import settlements as settlement_repo
from service.repositories import transactions as txn_repo
from service.usecases import accrual_jobs, recovery
from service.usecases.accruals import run_accruals
from service.usecases.closing import close_period
from service.usecases.dealers import upsert_dealer
from service.usecases.disputes import open_dispute, resolve_dispute
from service.usecases.programs import create_program
from service.usecases.segments import upsert_segment
from service.usecases.settlement import settle
from service.usecases.transactions import TransactionRow, record_transactions
from service.worker import AccrualWorker

ADMIN = Principal(sub="recovery-test", role=Role.ADMIN)
D = Decimal
LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # "the grace period has passed for everything"


def rules(code: str, product: str) -> ProgramRules:
    """Quarterly, 2 % of sales from the first unit: a figure is checkable by eye."""
    return ProgramRules(
        code=code, name=code, basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.QUARTER,
        accumulation=Accumulation.PER_PERIOD, valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31), currency="CNY",
        terms=(Terms(None, (Tier(D(0), D(2)),)),), payout_form=PayoutForm.CASH,
        product_codes=(product,))


def sale(external_id: str, dealer: str, day: str, amount: str, product: str) -> TransactionRow:
    return TransactionRow(external_id, dealer, TransactionKind.INVOICE,
                          dt.date.fromisoformat(day), D(amount), "CNY", product_code=product)


async def nets(deps: Deps, program: str) -> dict[tuple[str, str], Decimal]:
    docs = await deps.db.accruals.find({"programCode": program}).to_list()
    return {(d["dealerCode"], d["period"]): d["netAmount"] for d in docs}


def docs_of(rows: list[TransactionRow], batch: str, now: dt.datetime) -> list[dict[str, Any]]:
    return [txn_repo.to_doc(Transaction(r.external_id, r.dealer_code, r.kind, r.date,
                                        r.amount, r.currency, r.product_code),
                            batch_id=batch, actor=ADMIN.sub, now=now) for r in rows]


async def leave_stored_but_unfinished(deps: Deps, rows: list[TransactionRow]) -> str:
    """What a recordTransactions killed right after its insert leaves: its batch, still
    pending, and its rows; nothing else (no sales version, no mark, no audit)."""
    batch = str(ObjectId())
    now = deps.now() - dt.timedelta(minutes=5)
    await txn_repo.begin_batch(deps.db, batch, pending=pending.marker(now, ADMIN,
                                                                      rows=len(rows)))
    assert await txn_repo.insert_new(deps.db, docs_of(rows, batch, now)) == set()
    return batch


@pytest.fixture(scope="module", autouse=True)
async def dealers(deps: Deps) -> None:
    for code in ["R1", "R2", "R3"]:
        await upsert_dealer(deps, ADMIN, code=code, name=code, channel="RETAIL")


async def test_rows_a_stopped_call_stored_are_recomputed_by_the_recovery_pass(
        deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("REC-A", "PA"), activate=True)
    await record_transactions(deps, ADMIN, [sale("ra-1", "R1", "2026-02-01", "1000", "PA")])
    await AccrualWorker(deps).drain()
    assert (await nets(deps, "REC-A"))[("R1", "2026-Q1")] == D("20.00")
    batch = await leave_stored_but_unfinished(deps, [
        sale("ra-2", "R1", "2026-02-02", "3000", "PA"),
        sale("ra-3", "R2", "2026-03-03", "500", "PA")])
    assert await AccrualWorker(deps).drain() == 0  # nothing marked: the worker can't know
    assert await recovery.recover(deps, older_than=LATER) == 1
    await AccrualWorker(deps).drain()
    assert await nets(deps, "REC-A") == {("R1", "2026-Q1"): D("80.00"),
                                         ("R2", "2026-Q1"): D("10.00")}
    assert await deps.db.transaction_batches.count_documents(
        {"_id": batch, "pending": {"$exists": True}}) == 0
    assert await deps.db.audit_events.count_documents({"_id": ObjectId(batch)}) == 1
    assert await recovery.recover(deps, older_than=LATER) == 0  # done once, and only once
    # a row of the dead call's insert that the database finished after the recovery
    late = [sale("ra-4", "R2", "2026-03-04", "1000", "PA")]
    assert await txn_repo.insert_new(deps.db, docs_of(late, batch, deps.now())) == set()
    await recovery.recover(deps)  # the recheck of recovered batches
    await AccrualWorker(deps).drain()
    assert (await nets(deps, "REC-A"))[("R2", "2026-Q1")] == D("30.00")


async def test_a_resend_of_rows_a_stopped_call_stored_completes_that_call(
        deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("REC-B", "PB"), activate=True)
    rows = [sale("rb-1", "R1", "2026-04-02", "1000", "PB"),
            sale("rb-2", "R3", "2026-05-03", "2000", "PB")]
    await leave_stored_but_unfinished(deps, rows)
    result = await record_transactions(deps, ADMIN, rows)  # the client's retry
    assert (result.accepted, result.duplicates, result.errors) == (0, 2, [])
    assert await accrual_jobs.pending(deps) > 0  # the re-send marked what it touches
    await AccrualWorker(deps).drain()
    assert await nets(deps, "REC-B") == {("R1", "2026-Q2"): D("20.00"),
                                         ("R3", "2026-Q2"): D("40.00")}
    assert await recovery.recover(deps, older_than=LATER) == 0


async def test_an_explicit_run_reads_a_late_sale_for_a_closed_period_at_once(
        deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("REC-C", "PC"), activate=True)
    await record_transactions(deps, ADMIN, [sale("rc-1", "R2", "2026-01-10", "1000", "PC")])
    await close_period(deps, ADMIN, "REC-C", "2026-Q1")
    await record_transactions(deps, ADMIN, [sale("rc-2", "R2", "2026-01-11", "500", "PC")])
    # no worker ran: the run itself must land the late sale's 10.00 on the open period
    found = {a.dealer_code: a for a in await run_accruals(deps, ADMIN, "REC-C", "2026-Q2")}
    assert found["R2"].adjustment_amount == D("10.00")
    assert found["R2"].net_amount == D("10.00")


async def closed_with_approved(deps: Deps, code: str, product: str) -> None:
    await create_program(deps, ADMIN, rules(code, product), activate=True)
    await record_transactions(deps, ADMIN, [
        sale(f"{code}-1", "R1", "2026-01-10", "1000", product),
        sale(f"{code}-2", "R2", "2026-02-10", "2000", product),
        sale(f"{code}-3", "R3", "2026-03-10", "3000", product)])
    await close_period(deps, ADMIN, code, "2026-Q1")


async def paid_lines(deps: Deps, code: str) -> list[str]:
    """Every settlement line of the program, over every settlement document."""
    return [line["accrualId"] async for doc in deps.db.settlements.find({"programCode": code})
            for line in doc["lines"]]


async def test_claims_left_without_their_settlement_are_released_and_paid_once(
        deps: Deps) -> None:
    await closed_with_approved(deps, "REC-D", "PD")
    # what the old three-write settle left when killed after its claim: no document
    await deps.db.accruals.update_many({"programCode": "REC-D"},
                                       {"$set": {"settlementId": ObjectId()}})
    assert await recovery.repair_claims(deps) == 3
    paid = await settle(deps, ADMIN, "REC-D", "2026-Q1")
    assert paid.total_payable == D("120.00")  # 2 % of 6,000, no tax withheld
    assert sorted(line.dealer_code for line in paid.lines) == ["R1", "R2", "R3"]
    assert sum(line.amount for line in paid.lines) == D("120.00")
    ids = await paid_lines(deps, "REC-D")
    assert len(ids) == len(set(ids)) == 3
    assert await deps.db.accruals.count_documents({"programCode": "REC-D",
                                                   "status": "SETTLED"}) == 3


async def test_a_settlement_stopped_after_its_claim_is_finished_by_a_retry(deps: Deps) -> None:
    await closed_with_approved(deps, "REC-E", "PE")
    # the new settle killed after writing its intent and claiming: PENDING, no lines
    sid = ObjectId()
    await settlement_repo.begin(deps.db, sid, program_code="REC-E", period="2026-Q1",
                                actor=ADMIN.sub, now=deps.now(),
                                pending=pending.marker(deps.now(), ADMIN))
    await settlement_repo.claim(deps.db, "REC-E", "2026-Q1", sid)
    assert await deps.db.accruals.count_documents({"settlementId": sid}) == 3
    retried = await settle(deps, ADMIN, "REC-E", "2026-Q1")
    assert retried.id == str(sid)
    assert sum(line.amount for line in retried.lines) == D("120.00")
    with pytest.raises(Exception, match="nothing to settle"):
        await settle(deps, ADMIN, "REC-E", "2026-Q1")
    ids = await paid_lines(deps, "REC-E")
    assert len(ids) == len(set(ids)) == 3
    assert await deps.db.audit_events.count_documents({"_id": sid}) == 1


async def test_a_settlement_stopped_before_its_claim_is_finished_by_the_recovery_pass(
        deps: Deps) -> None:
    await closed_with_approved(deps, "REC-F", "PF")
    sid = ObjectId()
    await settlement_repo.begin(deps.db, sid, program_code="REC-F", period="2026-Q1",
                                actor=ADMIN.sub, now=deps.now() - dt.timedelta(minutes=5),
                                pending=pending.marker(deps.now() - dt.timedelta(minutes=5),
                                                       ADMIN))
    assert await recovery.recover(deps) == 1
    assert await deps.db.accruals.count_documents({"programCode": "REC-F",
                                                   "status": "SETTLED"}) == 3
    doc = await deps.db.settlements.find_one({"_id": sid})
    assert doc is not None and doc["state"] == "DONE" and "pending" not in doc
    assert await recovery.recover(deps, older_than=LATER) == 0


async def test_a_close_stopped_after_its_lock_approves_its_accruals_on_recovery(
        deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("REC-G", "PG"), activate=True)
    await record_transactions(deps, ADMIN, [sale("rg-1", "R1", "2026-01-10", "1000", "PG")])
    await run_accruals(deps, ADMIN, "REC-G", "2026-Q1")
    then = deps.now() - dt.timedelta(minutes=5)
    assert await ledger.lock(deps.db, "REC-G", "2026-Q1", dt.date(2026, 1, 1), actor="x",
                             now=then, pending=pending.marker(then, ADMIN))
    statuses = {d["status"] async for d in deps.db.accruals.find({"programCode": "REC-G"})}
    assert statuses == {"OPEN"}  # locked, yet not approved: it would never be settled
    # a retry of closePeriod finishes it instead of answering "already closed"
    closed = await close_period(deps, ADMIN, "REC-G", "2026-Q1")
    assert {a.status.value for a in closed} == {"APPROVED"}
    assert await recovery.recover(deps, older_than=LATER) == 0


async def test_disputes_stopped_half_way_keep_one_open_dispute_and_one_adjustment(
        deps: Deps) -> None:
    await closed_with_approved(deps, "REC-H", "PH")
    accrual = await deps.db.accruals.find_one({"programCode": "REC-H", "dealerCode": "R1"})
    assert accrual is not None
    did = ObjectId()
    then = deps.now() - dt.timedelta(minutes=5)
    await dispute_repo.insert(deps.db, did, accrual=accrual, reason="missing invoice",
                              actor=ADMIN.sub, now=then, pending=pending.marker(then, ADMIN))
    assert await recovery.recover(deps) == 1
    taken = await deps.db.accruals.find_one({"_id": accrual["_id"]})
    assert taken is not None and taken["status"] == "DISPUTED"
    # the resolution stops after the dispute is ACCEPTED; the accrual still DISPUTED
    await dispute_repo.resolve(deps.db, str(did), status="ACCEPTED", adjustment=D("5.00"),
                               note=None, actor=ADMIN.sub, now=then,
                               pending=pending.marker(then, ADMIN))
    retried = await resolve_dispute(deps, ADMIN, str(did), accept=True,
                                    adjustment=D("5.00"), note=None)
    assert retried.status == "ACCEPTED"
    assert await recovery.recover(deps, older_than=LATER) == 0
    done = await deps.db.accruals.find_one({"_id": accrual["_id"]})
    assert done is not None and done["status"] == "APPROVED"
    assert done["netAmount"] == accrual["netAmount"] + D("5.00")  # added once
    # and a new dispute can be opened and is the only open one
    again = await open_dispute(deps, ADMIN, str(accrual["_id"]), "still wrong")
    assert await deps.db.disputes.count_documents(
        {"accrualId": str(accrual["_id"]), "status": "OPEN"}) == 1
    assert again.status == "OPEN"


async def test_a_program_activation_stopped_after_its_write_gets_its_accruals_on_recovery(
        deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("REC-I", "PI"))  # a DRAFT
    await record_transactions(deps, ADMIN, [sale("ri-1", "R3", "2026-07-10", "1000", "PI")])
    await AccrualWorker(deps).drain()
    current = await program_repo.get(deps.db, "REC-I")
    assert current is not None
    then = deps.now() - dt.timedelta(minutes=5)
    # activateProgram killed right after its write: ACTIVE, no version record, no marks
    assert await program_repo.replace_current(
        deps.db, current, current.rules, ProgramStatus.ACTIVE, now=then,
        pending=pending.marker(then, ADMIN)) is not None
    assert await AccrualWorker(deps).drain() == 0
    assert await nets(deps, "REC-I") == {}
    assert await recovery.recover(deps) == 1
    await AccrualWorker(deps).drain()
    assert await nets(deps, "REC-I") == {("R3", "2026-Q3"): D("20.00")}
    assert await deps.db.program_versions.count_documents({"code": "REC-I"}) == 1


async def test_a_segment_move_stopped_before_its_marks_is_recomputed_on_recovery(
        deps: Deps) -> None:
    program = rules("REC-J", "PJ")
    await upsert_segment(deps, ADMIN, code="GOLD-J", name="Gold", priority=70,
                         dealer_codes=[])
    program = dataclasses.replace(program, terms=(
        Terms(None, (Tier(D(0), D(2)),)), Terms("GOLD-J", (Tier(D(0), D(5)),))))
    await create_program(deps, ADMIN, program, activate=True)
    await record_transactions(deps, ADMIN, [sale("rj-1", "R1", "2026-08-10", "1000", "PJ")])
    await AccrualWorker(deps).drain()
    assert await nets(deps, "REC-J") == {("R1", "2026-Q3"): D("20.00")}
    then = deps.now() - dt.timedelta(minutes=5)
    # upsertSegment adding R1 died after its own write (segment and marker), before the
    # dealers' membership and the marks: nothing else knows R1 moved
    gold = await segment_repo.get(deps.db, "GOLD-J")
    assert gold is not None
    await segment_repo.upsert(deps.db, dataclasses.replace(gold, dealer_codes=("R1",)),
                              now=then, pending=pending.marker(then, ADMIN,
                                                               auditId=ObjectId()))
    assert await AccrualWorker(deps).drain() == 0
    assert await recovery.recover(deps) >= 1
    await AccrualWorker(deps).drain()
    assert await nets(deps, "REC-J") == {("R1", "2026-Q3"): D("50.00")}
    assert await deps.db.dealers.count_documents({"pending.since": {"$exists": True}}) == 0


async def test_a_one_write_change_stopped_before_its_audit_event_gets_it_on_recovery(
        deps: Deps) -> None:
    then = deps.now() - dt.timedelta(minutes=5)
    template = ScorecardTemplate(code="REC-K", name="K", kpis=(
        Kpi("SALES", "Sales", D(100), D(1), KpiDirection.HIGHER_IS_BETTER),),
        bands=(ScoreBand(D(0), D(1)),))
    event = audit.event(actor=ADMIN, action="createScorecardTemplate",
                        entity_type="ScorecardTemplate", entity_id="REC-K", before=None,
                        after=scorecard_repo.template_doc(template, then), now=then)
    # createScorecardTemplate killed between its insert and its audit event
    await scorecard_repo.insert_template(deps.db, template, now=then,
                                         pending=pending.marker(then, ADMIN, audit=event))
    assert await deps.db.audit_events.count_documents({"entityId": "REC-K"}) == 0
    assert await recovery.recover(deps) == 1
    assert await deps.db.audit_events.count_documents({"entityId": "REC-K"}) == 1
    assert await recovery.recover(deps, older_than=LATER) == 0
