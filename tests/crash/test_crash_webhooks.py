"""Webhooks across deaths and restarts of the real service process: an event is never lost.

Killed between a change and its outbox write (a settlement completed but its events not yet
published; a rebate account entry or accrual written with its notice, never relayed), while
relaying (events published, notices not cleared), while delivering (claimed and not sent;
sent and accepted but not recorded), or stopped while the endpoint is down: after the
restart, and the retry or the worker's recovery, every event reaches the receiver under the
one id it always had, and the outbox holds it once per endpoint.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from service.db import Database
from service.embedded import free_port
from service.repositories import outbox
from service.repositories import rebate_accounts as store
from tests.api.control_helpers import close, settle
from tests.api.engine_helpers import create_program, dealer, record, row
from tests.api.webhook_helpers import Receiver, receiving
from tests.crash.conftest import RECOVERY_BOUND, CrashHarness, eventually

pytestmark = pytest.mark.crash

SECRET = "whsec-crash-" + "c" * 24
TIMEOUT = 1.0
LEASE = 2 * TIMEOUT + 2  # service/webhooks.py: a dead sender's attempt is retried after it
DELIVERY_BOUND = RECOVERY_BOUND + LEASE
PROGRAM, PERIOD = "WHK", "2026-Q1"
DEALERS = {"WK1": "10000", "WK2": "2500"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(hang_seconds=TIMEOUT * 3) as found:
        yield found


def hooks(*urls: str) -> dict[str, str]:
    """The service's webhook settings: fast retries, so a test waits seconds, not minutes."""
    return {"REBATES_WEBHOOK_URLS": ",".join(urls), "REBATES_WEBHOOK_SECRET": SECRET,
            "REBATES_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT),
            "REBATES_WEBHOOK_BACKOFF_SECONDS": "0.2",
            "REBATES_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
            "REBATES_WEBHOOK_POLL_SECONDS": "0.1"}


def outboxed(crash: CrashHarness, prefix: str) -> list[dict[str, Any]]:
    return list(crash.db[outbox.COLLECTION].find({"eventId": {"$regex": f"^{prefix}"}}))


def delivered_once_each(crash: CrashHarness, receiver: Receiver, prefix: str,
                        endpoints: int = 1) -> list[str]:
    """Every event of `prefix` in the outbox once per endpoint, all DELIVERED, and each
    accepted by the receiver with a valid signature; returns the event ids."""
    docs = outboxed(crash, prefix)
    ids = sorted({d["eventId"] for d in docs})
    assert Counter(d["eventId"] for d in docs) == dict.fromkeys(ids, endpoints), docs
    assert {d["state"] for d in docs} == {"DELIVERED"}, docs
    accepted = [r for r in receiver.accepted() if r.event_id.startswith(prefix)]
    assert sorted({r.event_id for r in accepted}) == ids
    assert all(r.verified(SECRET) and r.event["id"] == r.event_id for r in accepted)
    return ids


def all_delivered(crash: CrashHarness, prefix: str, count: int) -> bool:
    docs = outboxed(crash, prefix)
    return len(docs) == count and all(d["state"] == "DELIVERED" for d in docs)


def credit(crash: CrashHarness, dealer_code: str, amount: str, source: str) -> None:
    """Money on an account, written straight to the database (as a settlement would)."""
    async def run() -> None:
        db = Database.connect(crash.mongo_uri, crash.database)
        await store.credit(db, dealer_code=dealer_code, currency="CNY", amount=Decimal(amount),
                           expires_on=None, source=source, cause={},
                           now=dt.datetime.now(dt.UTC))
        await db.close()
    asyncio.run(run())


# ---- between the change and the outbox -------------------------------------------------------

def _closed(crash: CrashHarness, point: str, receiver: Receiver) -> None:
    api = crash.start(point, **hooks(receiver.url()))
    for code in DEALERS:
        dealer(api, code)
    assert create_program(api, PROGRAM, productCodes=[PROGRAM])["userErrors"] == []
    rows = [row(f"whk-{code}", code, "INVOICE", "2026-02-10", amount, productCode=PROGRAM)
            for code, amount in DEALERS.items()]
    assert record(api, rows)["errors"] == []
    crash.drained()
    assert close(api, PROGRAM, PERIOD)["userErrors"] == []


@pytest.mark.parametrize("retried", [True, False], ids=["retried", "recovered"])
@pytest.mark.parametrize("point", ["webhooks.before_settlement_events"])
def test_a_settlement_killed_before_its_events_sends_them_once_completed(
        crash: CrashHarness, receiver: Receiver, point: str, retried: bool) -> None:
    _closed(crash, point, receiver)
    crash.crash(point, lambda api: settle(api, PROGRAM, PERIOD))
    assert outboxed(crash, "settlement.created:") == []  # SETTLED, and no event yet
    api = crash.restart(**hooks(receiver.url()))
    if retried:
        answer = settle(api, PROGRAM, PERIOD)
        assert answer["settlement"] is not None and answer["userErrors"] == [], answer
    eventually(lambda: all_delivered(crash, "settlement.created:", len(DEALERS)), bool,
               timeout=DELIVERY_BOUND, what="the settlement's events delivered")
    crash.past_recovery()  # the recovery pass after it publishes nothing again
    ids = delivered_once_each(crash, receiver, "settlement.created:")
    [doc] = list(crash.db.settlements.find({}))
    assert ids == sorted(f"settlement.created:{doc['_id']}:{code}" for code in DEALERS)
    payable = {r.event["data"]["dealerCode"]: r.event["data"]["payable"]
               for r in receiver.accepted() if r.event["type"] == "settlement.created"}
    assert payable == {"WK1": "90.00", "WK2": "22.50"}  # 1 % of sales, 10 % tax withheld


@pytest.mark.parametrize("point", ["rebate.after_entry", "webhooks.after_publish"])
def test_an_account_change_never_relayed_is_sent_after_the_restart(
        crash: CrashHarness, receiver: Receiver, point: str) -> None:
    api = crash.start(point, **hooks(receiver.url()))
    dealer(api, "WK1")
    if point == "webhooks.after_publish":  # the relay dies on the credit's notice
        credit(crash, "WK1", "200", "settlement:S-WHK:WK1")
        crash.await_death(point)
    else:  # the reservation dies right after its entry (and its notice) are written
        credit(crash, "WK1", "200", "settlement:S-WHK:WK1")
        eventually(lambda: all_delivered(crash, "rebate_account.changed:WK1:CNY:1", 1), bool,
                   timeout=DELIVERY_BOUND, what="the credit's event delivered")
        crash.crash(point, lambda api: api.gql("""mutation($input: ReserveRebateInput!) {
            reserveRebate(input: $input) { userErrors { code } } }""", {"input": {
                "dealerCode": "WK1", "orderId": "WHK-1", "orderAmount": "500",
                "amount": "80", "currency": "CNY"}}, role="SERVICE"))
    crash.restart(**hooks(receiver.url()))
    count = 1 if point == "webhooks.after_publish" else 2
    eventually(lambda: all_delivered(crash, "rebate_account.changed:WK1:", count), bool,
               timeout=DELIVERY_BOUND, what="the account's events delivered")
    ids = delivered_once_each(crash, receiver, "rebate_account.changed:WK1:")
    assert ids == [f"rebate_account.changed:WK1:CNY:{n}" for n in range(1, count + 1)]
    assert crash.db.rebate_entries.count_documents({"notice": {"$exists": True}}) == 0
    kinds = [r.event["data"]["kind"] for r in receiver.accepted()]
    assert sorted(set(kinds)) == (["CREDIT"] if count == 1 else ["CREDIT", "RESERVE"])


@pytest.mark.parametrize("point", ["worker.after_compute"])
def test_a_tier_reached_by_a_worker_that_died_is_announced_once(
        crash: CrashHarness, receiver: Receiver, point: str) -> None:
    api = crash.start(point, **hooks(receiver.url()))
    dealer(api, "WK1")
    # sales first, with no program to mark; activation queues the program, and the worker
    # dies once it has written the accrual (and its notice), maybe before the answer
    assert record(api, [row("whk-t1", "WK1", "INVOICE", "2026-02-10", "6000",
                            productCode=PROGRAM)])["errors"] == []
    with contextlib.suppress(httpx.TransportError):
        create_program(api, PROGRAM, productCodes=[PROGRAM], terms=[{"tiers": [
            {"threshold": "0", "rate": "1"}, {"threshold": "5000", "rate": "2"}]}])
    crash.await_death(point)
    assert crash.db.accruals.count_documents({"programCode": PROGRAM}) == 1
    crash.restart(**hooks(receiver.url()))
    crash.drained()  # the job computed again: the same tier, no second notice
    eventually(lambda: all_delivered(crash, "accrual.tier_reached:", 1), bool,
               timeout=DELIVERY_BOUND, what="the tier event delivered")
    crash.past_recovery()
    [event_id] = delivered_once_each(crash, receiver, "accrual.tier_reached:")
    [got] = {r.event_id: r for r in receiver.accepted()}.values()
    assert (got.event["data"]["previousRate"], got.event["data"]["rate"]) == ("0", "2")
    assert outboxed(crash, "accrual.tier_reached:")[0]["eventId"] == event_id


# ---- while delivering -------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["webhooks.after_claim", "webhooks.after_delivery"])
def test_a_delivery_interrupted_is_sent_again_under_the_same_id(
        crash: CrashHarness, receiver: Receiver, point: str) -> None:
    api = crash.start(point, **hooks(receiver.url()))
    dealer(api, "WK1")
    credit(crash, "WK1", "75", "settlement:S-WHK2:WK1")
    crash.await_death(point)
    before = receiver.accepted()
    crash.restart(**hooks(receiver.url()))
    eventually(lambda: all_delivered(crash, "rebate_account.changed:WK1:", 1), bool,
               timeout=DELIVERY_BOUND, what="the interrupted delivery finished")
    [event_id] = delivered_once_each(crash, receiver, "rebate_account.changed:WK1:")
    accepted = receiver.accepted()
    if point == "webhooks.after_claim":  # nothing was sent before the death
        assert before == [] and [r.event_id for r in accepted] == [event_id]
    else:  # accepted, not recorded: at least once, the same id and the same bytes
        assert [r.event_id for r in before] == [event_id]
        assert [r.event_id for r in accepted] == [event_id, event_id]
        assert accepted[0].body == accepted[1].body
    [doc] = outboxed(crash, event_id)
    assert doc["attempts"] == 2  # the attempt that died counted too


# ---- a restart while the endpoint is down ---------------------------------------------------

def test_a_restart_while_the_endpoint_is_down_loses_nothing(crash: CrashHarness) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    api = crash.start("", **hooks(url))
    dealer(api, "WK1")
    dealer(api, "WK2")
    for n, code in enumerate(["WK1", "WK2", "WK1"], 1):
        credit(crash, code, "10", f"settlement:S-DOWN{n}:{code}")

    def tried_often() -> bool:  # connection refused: retried, with growing delays
        docs = outboxed(crash, "rebate_account.changed:")
        return len(docs) == 3 and all(d["attempts"] >= 2 for d in docs)
    eventually(tried_often, bool, timeout=DELIVERY_BOUND, what="failed attempts")
    assert all(d["state"] == "PENDING" and "ConnectError" in d["lastError"]
               for d in outboxed(crash, "rebate_account.changed:"))
    crash.stop()
    with receiving(port) as receiver:
        crash.restart(**hooks(url))
        eventually(lambda: all_delivered(crash, "rebate_account.changed:", 3), bool,
                   timeout=DELIVERY_BOUND, what="everything delivered after the restart")
        ids = delivered_once_each(crash, receiver, "rebate_account.changed:")
    assert ids == ["rebate_account.changed:WK1:CNY:1", "rebate_account.changed:WK1:CNY:2",
                   "rebate_account.changed:WK2:CNY:1"]
    assert len(receiver.accepted()) == 3
