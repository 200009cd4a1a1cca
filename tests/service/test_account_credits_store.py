"""Credits from settlements against the real server, where the API cannot reach: intents
and settlements left by the version before rebate accounts, and programs stored before
`creditValidityDays` (usecases/account_credits.py)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from bson import ObjectId

from domain.programs import PayoutForm
from domain.violations import PenaltyKind, ViolationType
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import pending
from service.repositories import programs as program_repo
from service.repositories import rebate_accounts as account_repo
from service.repositories import settlements as settlement_repo
from service.usecases import account_credits
from service.usecases.closing import close_period
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.settlement import settle
from service.usecases.transactions import record_transactions
from service.usecases.violations import record_violation
from tests.service.test_recovery_store import rules, sale

ADMIN = Principal(sub="credits-test", role=Role.ADMIN)
D = Decimal


async def closed(deps: Deps, code: str, dealer: str, days: int | None) -> None:
    """2 % of 10,000.00 sold in 2026-Q1, paid as a credit note: 200.00."""
    await upsert_dealer(deps, ADMIN, code=dealer, name=dealer)
    await create_program(deps, ADMIN, dataclasses.replace(
        rules(code, code), payout_form=PayoutForm.CREDIT_NOTE, credit_validity_days=days),
        activate=True)
    await record_transactions(deps, ADMIN, [sale(f"{code}-1", dealer, "2026-02-10", "10000",
                                                 code)])
    await close_period(deps, ADMIN, code, "2026-Q1")


async def credit_entries(deps: Deps, dealer: str) -> list[dict[str, object]]:
    return await deps.db.rebate_entries.find({"dealerCode": dealer}).sort("seq", 1).to_list()


async def test_a_program_stored_before_credit_validity_reads_as_never_expiring(
        deps: Deps) -> None:
    await closed(deps, "ACS-OLD", "ACS-D0", days=30)
    await deps.db.programs.update_one({"code": "ACS-OLD"},
                                      {"$unset": {"creditValidityDays": ""}})
    program = await program_repo.get(deps.db, "ACS-OLD")
    assert program is not None and program.rules.credit_validity_days is None


async def test_an_intent_from_before_rebate_accounts_credits_with_the_program_s_validity(
        deps: Deps) -> None:
    """Its payout snapshot has no validity: the program's, as it is now, applies."""
    await closed(deps, "ACS-INT", "ACS-D1", days=30)
    program = await program_repo.get(deps.db, "ACS-INT")
    assert program is not None
    sid, now = ObjectId(), deps.now()
    await settlement_repo.begin(deps.db, sid, program_code="ACS-INT", period="2026-Q1",
                                actor=ADMIN.sub, now=now, pending=pending.marker(now, ADMIN),
                                number="STL-2026-900001")
    await deps.db.settlements.update_one(  # the intent as the previous version wrote it
        {"_id": sid}, {"$set": {settlement_repo.INTENT: {"payout": {
            "form": "CREDIT_NOTE", "taxRate": D(0)}, "payees": []}}})
    done = await settle(deps, ADMIN, "ACS-INT", "2026-Q1")
    assert done.id == str(sid)
    [entry] = await credit_entries(deps, "ACS-D1")
    settled_on = account_credits.settlement_date(deps, {"createdAt": now})
    assert (entry["kind"], entry["amount"], entry["expiresOn"], entry["_id"]) == (
        "CREDIT", D("200.00"), (settled_on + dt.timedelta(days=30)).isoformat(),
        account_credits.credit_source(sid, done.lines[0].accrual_id))


async def test_credit_settlement_again_writes_nothing(deps: Deps) -> None:
    await closed(deps, "ACS-TWICE", "ACS-D2", days=None)
    done = await settle(deps, ADMIN, "ACS-TWICE", "2026-Q1")
    doc = await settlement_repo.get_doc(deps.db, ObjectId(done.id))
    assert doc is not None
    assert await account_credits.credit_settlement(deps, doc) == 0
    [entry] = await credit_entries(deps, "ACS-D2")
    assert (entry["amount"], entry["expiresOn"]) == (D("200.00"), None)


async def test_a_settlement_that_credited_nothing_is_not_reclaimed(deps: Deps) -> None:
    """Settled before rebate accounts existed (no credit entry): a forfeiture reclaims it on
    the payout side only, the account owes nothing."""
    await closed(deps, "ACS-LEGACY", "ACS-D3", days=None)
    await settle(deps, ADMIN, "ACS-LEGACY", "2026-Q1")
    await deps.db.rebate_entries.delete_many({"dealerCode": "ACS-D3"})  # as if never made
    await record_violation(deps, ADMIN, dealer_code="ACS-D3", type_=ViolationType.OTHER,
                           occurred_on=dt.date(2026, 5, 20), description="legacy forfeiture",
                           kind=PenaltyKind.FORFEIT_YEAR, percent=None)
    assert await credit_entries(deps, "ACS-D3") == []
    head = await account_repo.head(deps.db, "ACS-D3", "CNY")
    assert head.balance == 0
