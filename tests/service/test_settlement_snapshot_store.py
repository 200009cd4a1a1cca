"""Settlement numbers and payee snapshots against the real server: what a retry, the recovery
pass and documents from before numbers and snapshots make of them."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from domain.programs import PayoutForm
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import pending
from service.repositories import programs as program_repo
from service.repositories import settlements as settlement_repo
from service.repositories.settlements import Payee
from service.usecases import recovery, settlement
from service.usecases.closing import close_period
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program, update_program
from service.usecases.settlement import settle
from service.usecases.transactions import record_transactions
from tests.service.test_recovery_store import rules, sale

ADMIN = Principal(sub="snapshot-test", role=Role.ADMIN)
D = Decimal
LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


async def closed(deps: Deps, code: str, product: str) -> None:
    """2 % of sales, CASH with 10 % withheld; N1 sold 1,000 and N2 2,000 in 2026-Q1; the
    dealers "N1 as paid" and "N2 as paid", in EAST."""
    for dealer in ["N1", "N2"]:
        await upsert_dealer(deps, ADMIN, code=dealer, name=f"{dealer} as paid", region="EAST")
    await create_program(deps, ADMIN, dataclasses.replace(rules(code, product),
                                                          tax_rate=D(10)), activate=True)
    await record_transactions(deps, ADMIN, [sale(f"{code}-1", "N1", "2026-01-10", "1000",
                                                 product),
                                            sale(f"{code}-2", "N2", "2026-02-10", "2000",
                                                 product)])
    await close_period(deps, ADMIN, code, "2026-Q1")


async def change_everything(deps: Deps, code: str) -> None:
    """What happens between a crash and the retry: N1 renamed and moved, the tax raised."""
    await upsert_dealer(deps, ADMIN, code="N1", name="N1 renamed", region="WEST")
    current = await program_repo.get(deps.db, code)
    assert current is not None
    await update_program(deps, ADMIN, dataclasses.replace(current.rules, tax_rate=D(20)))


async def begun(deps: Deps, code: str, *, then: dt.datetime) -> tuple[ObjectId, str]:
    """The intent exactly as `settle` writes it, and nothing after (the process died)."""
    program = await program_repo.get(deps.db, code)
    assert program is not None
    number = await settlement_repo.allocate_number(deps.db, then.year)
    payout = settlement.payout_of(program)
    payees = await settlement.payees_now(
        deps, await settlement_repo.unclaimed_dealers(deps.db, code, "2026-Q1"), payout)
    sid = ObjectId()
    await settlement_repo.begin(deps.db, sid, program_code=code, period="2026-Q1",
                                actor=ADMIN.sub, now=then, pending=pending.marker(then, ADMIN),
                                number=number, payout=payout, payees=list(payees.values()))
    return sid, number


async def test_a_retry_pays_the_number_and_payees_the_settlement_began_with(
        deps: Deps) -> None:
    await closed(deps, "SNAP-A", "PSA")
    sid, number = await begun(deps, "SNAP-A", then=deps.now())
    await change_everything(deps, "SNAP-A")
    retried = await settle(deps, ADMIN, "SNAP-A", "2026-Q1")
    assert (retried.id, retried.number) == (str(sid), number)
    lines = {line.dealer_code: line for line in retried.lines}
    assert lines["N1"].payee == Payee("N1", "N1 as paid", "EAST", PayoutForm.CASH, D(10))
    assert (lines["N1"].amount, lines["N1"].tax_withheld) == (D("20.00"), D("2.00"))  # 10 %
    stored = await settlement_repo.get_doc(deps.db, sid)
    assert stored is not None and settlement_repo.INTENT not in stored  # dropped when done
    [found] = await settlement_repo.find(deps.db, program_code="SNAP-A", period="2026-Q1",
                                         dealer_scope=None)
    assert (found.number, found.lines) == (number, retried.lines)


async def test_the_recovery_pass_finishes_with_the_intent_s_payees_too(deps: Deps) -> None:
    await closed(deps, "SNAP-B", "PSB")
    then = deps.now() - dt.timedelta(minutes=5)
    sid, number = await begun(deps, "SNAP-B", then=then)
    await settlement_repo.claim(deps.db, "SNAP-B", "2026-Q1", sid)  # died after its claim
    await change_everything(deps, "SNAP-B")
    assert await recovery.recover(deps) == 1
    [done] = await settlement_repo.find(deps.db, program_code="SNAP-B", period="2026-Q1",
                                        dealer_scope=None)
    assert (done.id, done.number) == (str(sid), number)
    assert {line.payee.name for line in done.lines} == {"N1 as paid", "N2 as paid"}
    assert {line.payee.tax_rate for line in done.lines} == {D(10)}
    assert await recovery.recover(deps, older_than=LATER) == 0


async def test_an_intent_from_before_numbers_gets_one_and_pays_the_dealers_as_they_are(
        deps: Deps) -> None:
    await closed(deps, "SNAP-C", "PSC")
    then = deps.now() - dt.timedelta(minutes=5)
    sid = ObjectId()
    await settlement_repo.begin(deps.db, sid, program_code="SNAP-C", period="2026-Q1",
                                actor=ADMIN.sub, now=then, pending=pending.marker(then, ADMIN))
    await change_everything(deps, "SNAP-C")
    assert await recovery.recover(deps) == 1
    [done] = await settlement_repo.find(deps.db, program_code="SNAP-C", period="2026-Q1",
                                        dealer_scope=None)
    assert done.id == str(sid) and done.number.startswith(f"STL-{then.year}-")
    lines = {line.dealer_code: line for line in done.lines}
    assert lines["N1"].payee == Payee("N1", "N1 renamed", "WEST", PayoutForm.CASH, D(20))
    assert lines["N1"].tax_withheld == D("4.00")  # what the program says when it was paid


async def test_a_settlement_from_before_snapshots_shows_current_data_and_keeps_its_number(
        deps: Deps) -> None:
    await create_program(deps, ADMIN, dataclasses.replace(rules("SNAP-D", "PSD"),
                                                          tax_rate=D(6)), activate=True)
    await upsert_dealer(deps, ADMIN, code="N2", name="N2 as paid", region="EAST")
    legacy = {"_id": ObjectId(), "programCode": "SNAP-D", "period": "2025-Q4", "state": "DONE",
              "totalPayable": D("9.00"), "createdAt": dt.datetime(2025, 12, 30, tzinfo=dt.UTC),
              "createdBy": "old", "lines": [
                  {"dealerCode": "N2", "accrualId": str(ObjectId()), "amount": D("10.00"),
                   "taxWithheld": D("1.00"), "payable": D("9.00"), "form": "CASH"}]}
    await deps.db.settlements.insert_one(legacy)
    [shown] = await settlement_repo.find(deps.db, program_code="SNAP-D", period="2025-Q4",
                                         dealer_scope=None)
    assert shown.number == "STL-2025-000001"  # the year it was made; numbered when first read
    assert shown.lines[0].payee == Payee("N2", "N2 as paid", "EAST", PayoutForm.CASH, D(6))
    again = await settlement_repo.get(deps.db, shown.id)
    assert again is not None and again.number == shown.number


async def test_numbers_taken_at_once_are_all_different(deps: Deps) -> None:
    taken = await asyncio.gather(*[settlement_repo.allocate_number(deps.db, 2031)
                                   for _ in range(20)])
    assert sorted(taken) == [f"STL-2031-{n:06d}" for n in range(1, 21)]


async def test_the_database_refuses_a_second_settlement_with_the_same_number(
        deps: Deps) -> None:
    base = {"programCode": "X", "period": "2026-Q1", "state": "DONE", "lines": []}
    await deps.db.settlements.insert_one({**base, "number": "STL-2040-000001"})
    with pytest.raises(DuplicateKeyError):
        await deps.db.settlements.insert_one({**base, "number": "STL-2040-000001"})
    # documents from before numbers (none yet) do not collide with each other
    await deps.db.settlements.insert_many([dict(base), dict(base)])
    await deps.db.settlements.delete_many({"programCode": "X"})
