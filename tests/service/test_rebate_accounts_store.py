"""The rebate account's chain against the real server: exactly once, never overspent."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from domain.rebate_account import EntryKind, Refused
from service.deps import Deps
from service.repositories import rebate_accounts as store

NOW = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


async def _reserve(deps: Deps, dealer: str, order: str, amount: Decimal) -> bool:
    from domain import rebate_account as ledger

    async def rule(before: store.Account) -> dict[str, Any]:
        state, _ = ledger.reserve(before.state, amount, as_of=NOW.date(), currency="CNY")
        return {"kind": EntryKind.RESERVE.value, "amount": amount, "state": state,
                "orderId": order}
    try:
        await store.append(deps.db, dealer_code=dealer, currency="CNY",
                           key=store.order_key(order, "RESERVE"), now=NOW, rule=rule)
    except Refused:
        return False
    return True


async def _entries(deps: Deps, dealer: str) -> list[dict[str, Any]]:
    return await deps.db.rebate_entries.find(
        {"account": store.account_id(dealer, "CNY")}).sort("seq", 1).to_list()


async def test_a_credit_is_booked_once_per_source_however_often_it_is_retried(deps: Deps) -> None:
    calls = [store.credit(deps.db, dealer_code="D-CR", currency="CNY", amount=Decimal("100"),
                          expires_on=None, source="settlement:S1:D-CR",
                          cause={"settlementId": "S1"}, now=NOW) for _ in range(10)]
    written = await asyncio.gather(*calls)
    assert sorted(written) == [False] * 9 + [True]
    account = await store.head(deps.db, "D-CR", "CNY")
    assert account.balance == Decimal("100")
    assert [e["kind"] for e in await _entries(deps, "D-CR")] == ["CREDIT"]


async def test_a_reclaim_may_take_the_balance_below_zero_once(deps: Deps) -> None:
    await store.credit(deps.db, dealer_code="D-RC", currency="CNY", amount=Decimal("30"),
                       expires_on=None, source="settlement:S2:D-RC", cause={}, now=NOW)
    for _ in range(2):
        await store.reclaim(deps.db, dealer_code="D-RC", currency="CNY", amount=Decimal("50"),
                            source="reclaim:S2:D-RC", cause={}, now=NOW)
    account = await store.head(deps.db, "D-RC", "CNY")
    assert account.balance == Decimal("-20")
    entries = await _entries(deps, "D-RC")
    assert [(e["kind"], e["amount"], e["balanceAfter"]) for e in entries] == [
        ("CREDIT", Decimal("30"), Decimal("30")), ("RECLAIM", Decimal("-50"), Decimal("-20"))]
    assert not await _reserve(deps, "D-RC", "O-RC", Decimal("1"))


async def test_concurrent_reservations_never_reserve_more_than_the_balance(deps: Deps) -> None:
    await store.credit(deps.db, dealer_code="D-RACE", currency="CNY", amount=Decimal("1000"),
                       expires_on=None, source="settlement:S3:D-RACE", cause={}, now=NOW)
    results = await asyncio.gather(*(_reserve(deps, "D-RACE", f"O-{i}", Decimal("70"))
                                     for i in range(40)))
    assert results.count(True) == 14  # 14 × 70 = 980 ≤ 1000 < 15 × 70
    account = await store.head(deps.db, "D-RACE", "CNY")
    assert account.reserved == Decimal("980")
    entries = await _entries(deps, "D-RACE")
    assert [e["seq"] for e in entries] == list(range(1, 16))
    running = Decimal(0)
    for doc in entries:  # the balance is the sum of the entries, at every step
        if doc["kind"] not in ("RESERVE", "RELEASE"):
            running += doc["amount"]
        assert doc["balanceAfter"] == running


async def test_writers_without_the_process_lock_still_cannot_fork_the_chain(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process has its own lock: the unique (account, seq) index alone decides."""
    class NoLock:
        async def __aenter__(self) -> None:
            return None

        async def __aexit__(self, *_: object) -> None:
            return None

    class Locks(dict[str, Any]):
        def setdefault(self, key: str, default: Any = None) -> Any:
            return NoLock()
    monkeypatch.setattr(store, "_locks", Locks())
    await store.credit(deps.db, dealer_code="D-FORK", currency="CNY", amount=Decimal("500"),
                       expires_on=None, source="settlement:S4:D-FORK", cause={}, now=NOW)
    results = await asyncio.gather(*(_reserve(deps, "D-FORK", f"F-{i}", Decimal("45"))
                                     for i in range(20)))
    assert results.count(True) == 11
    assert (await store.head(deps.db, "D-FORK", "CNY")).reserved == Decimal("495")


async def test_expired_credit_is_swept_once_by_racing_sweeps(deps: Deps) -> None:
    await store.credit(deps.db, dealer_code="D-EXP", currency="CNY", amount=Decimal("40"),
                       expires_on=NOW.date() - dt.timedelta(days=1),
                       source="settlement:S5:D-EXP", cause={}, now=NOW)
    await store.credit(deps.db, dealer_code="D-EXP", currency="CNY", amount=Decimal("10"),
                       expires_on=None, source="settlement:S6:D-EXP", cause={}, now=NOW)
    assert (await store.head(deps.db, "D-EXP", "CNY")).available(NOW.date()) == Decimal("10")
    await asyncio.gather(*(store.sweep_expiries(deps.db, "D-EXP", "CNY", NOW)
                           for _ in range(5)))
    entries = await _entries(deps, "D-EXP")
    assert [(e["kind"], e["amount"]) for e in entries][-1] == ("EXPIRY", Decimal("-40"))
    assert sum(e["kind"] == "EXPIRY" for e in entries) == 1
    assert (await store.head(deps.db, "D-EXP", "CNY")).balance == Decimal("10")


async def test_what_the_embedded_server_says_about_transactions(deps: Deps) -> None:
    """Recorded, not relied on: the chain is correct without transactions. The embedded
    server as the service starts it says it is a replica set ("secantus") and runs them;
    started `--standalone` (or a standalone MongoDB) it refuses them. Either way this holds."""
    hello = await deps.db.client.admin.command("hello")
    async with deps.db.client.start_session() as session:
        try:
            async with await session.start_transaction():
                await deps.db.rebate_uses.insert_one({"_id": "probe"}, session=session)
            supported = True
        except OperationFailure:
            supported = False
    assert supported == ("setName" in hello)


async def test_partial_refunds_give_back_what_is_left_with_the_expiries_it_had(
        deps: Deps) -> None:
    """Several refunds of one order (by refundId): each idempotent, together never more
    than the capture, and each gives back the money last spent that no earlier refund gave
    back — so expiry later takes exactly the money that came from the early lot."""
    from service.auth import Principal, Role
    from service.usecases import rebate_accounts as accounts
    from service.usecases.dealers import upsert_dealer
    finance = Principal(sub="t-finance", role=Role.FINANCE, dealer=None)
    await upsert_dealer(deps, finance, code="D-REF", name="D-REF")
    june, march = dt.date(2026, 11, 30), dt.date(2027, 3, 31)
    for source, expires in (("settlement:S7:D-REF", june), ("settlement:S8:D-REF", march)):
        await store.credit(deps.db, dealer_code="D-REF", currency="CNY", amount=Decimal(100),
                           expires_on=expires, source=source, cause={}, now=NOW)
    # oldest expiry first: 100 of the early lot, then 50 of the late one
    await accounts.reserve(deps, finance, dealer_code="D-REF", order_id="ORD-R",
                           order_amount=Decimal(1000), amount=Decimal(150), currency="CNY")
    await accounts.capture(deps, finance, order_id="ORD-R")

    async def refund(amount: str, refund_id: str) -> accounts.Outcome:
        return await accounts.refund(deps, finance, order_id="ORD-R", amount=Decimal(amount),
                                     refund_id=refund_id)
    first = await refund("30", "RET-1")       # 30 of the late lot's 50
    assert await refund("30", "RET-1") == first  # the same call: the same answer, once
    with pytest.raises(Exception, match="already refunded"):
        await refund("31", "RET-1")
    await refund("40", "RET-2")               # the late lot's last 20, then 20 of the early
    with pytest.raises(Refused):
        await refund("81", "RET-3")           # 150 − 70 = 80 left
    done = await refund("80", "RET-3")        # the early lot's last 80
    assert done.use.refunded == Decimal(150)
    assert done.account.balance == done.account.available(deps.today()) == Decimal(200)
    # After the early lot's expiry, exactly the money that came from it (20 + 80) expires.
    later = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
    await store.sweep_expiries(deps.db, "D-REF", "CNY", later)
    expired = [e for e in await _entries(deps, "D-REF") if e["kind"] == "EXPIRY"]
    assert sum((e["amount"] for e in expired), Decimal(0)) == Decimal(-100)
    assert (await store.head(deps.db, "D-REF", "CNY")).balance == Decimal(100)
