"""Rebate account operations killed between their writes: a retry of the same call (or the
recovery pass, when nobody retries) leaves exactly one effect on the account."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from service.db import Database
from service.repositories import rebate_accounts as store
from tests.api.engine_helpers import dealer
from tests.conftest import Api
from tests.crash.conftest import RECOVERY_BOUND, CrashHarness, eventually

pytestmark = pytest.mark.crash

POINTS = ["rebate.after_entry", "rebate.after_use"]
OPS = ["reserve", "capture", "release", "refund"]
BEFORE = {"reserve": [], "capture": ["reserve"], "release": ["reserve"],
          "refund": ["reserve", "capture"]}
DEALER, ORDER = "RB1", "ORD-1"
CALLS = {
    "reserve": ("reserveRebate", "ReserveRebateInput",
                {"dealerCode": DEALER, "orderId": ORDER, "orderAmount": "500", "amount": "80",
                 "currency": "CNY"}),
    "capture": ("captureRebate", "RebateOrderInput", {"orderId": ORDER}),
    "release": ("releaseRebate", "RebateOrderInput", {"orderId": ORDER}),
    "refund": ("refundRebate", "RefundRebateInput", {"orderId": ORDER, "amount": "30"}),
}
# balance, reserved, entry kinds, use status after each operation (credit of 200 first)
DONE = {
    "reserve": ("200", "80", ["CREDIT", "RESERVE"], "RESERVED"),
    "capture": ("120", "0", ["CREDIT", "RESERVE", "CAPTURE"], "CAPTURED"),
    "release": ("200", "0", ["CREDIT", "RESERVE", "RELEASE"], "RELEASED"),
    "refund": ("150", "0", ["CREDIT", "RESERVE", "CAPTURE", "REFUND"], "CAPTURED"),
}


def _call(api: Api, op: str) -> dict[str, Any]:
    name, input_type, payload = CALLS[op]
    return api.gql(f"""mutation($input: {input_type}!) {{ {name}(input: $input) {{
        use {{ status amount refunded }} account {{ balance reserved }}
        userErrors {{ field code }} }} }}""", {"input": payload}, role="SERVICE")[name]


def _credit(crash: CrashHarness) -> None:
    async def run() -> None:
        db = Database.connect(crash.mongo_uri, crash.database)
        await store.credit(db, dealer_code=DEALER, currency="CNY",
                           amount=Decimal("200"), expires_on=None,
                           source=f"settlement:S-CRASH:{DEALER}", cause={},
                           now=dt.datetime.now(dt.UTC))
        await db.close()
    asyncio.run(run())


def _state(crash: CrashHarness) -> tuple[str, str, list[str], str | None, int, int]:
    db = crash.db
    entries = list(db.rebate_entries.find({"account": f"{DEALER}:CNY"}).sort("seq", 1))
    last = entries[-1]
    use = db.rebate_uses.find_one({"_id": ORDER})
    return (f'{last["balanceAfter"].to_decimal():f}', f'{last["reservedAfter"].to_decimal():f}',
            [e["kind"] for e in entries], use and use["status"],
            db.rebate_entries.count_documents({"pending": {"$exists": True}}),
            db.audit_events.count_documents({"entityType": "RebateUse"}))


def _expected(op: str) -> tuple[str, str, list[str], str, int, int]:
    balance, reserved, kinds, status = DONE[op]
    return balance, reserved, kinds, status, 0, len(BEFORE[op]) + 1


def _killed(crash: CrashHarness, op: str, point: str) -> Api:
    # the operations before this one pass the point once each; die on this one's hit
    api = crash.start(f"{point}={len(BEFORE[op]) + 1}")
    dealer(api, DEALER)
    _credit(crash)
    for earlier in BEFORE[op]:
        assert _call(api, earlier)["userErrors"] == []
    crash.crash(point, lambda api: _call(api, op))
    return crash.restart()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("point", POINTS)
def test_a_retry_after_a_crash_completes_the_operation_exactly_once(
        crash: CrashHarness, point: str, op: str) -> None:
    api = _killed(crash, op, point)
    for _ in range(2):  # the retry, and a retry of the retry: the same answer
        answer = _call(api, op)
        assert answer["userErrors"] == [], answer
        assert answer["use"]["status"] == DONE[op][3]
        assert Decimal(answer["account"]["balance"]) == Decimal(DONE[op][0])
    assert _state(crash) == _expected(op)


@pytest.mark.parametrize("point", POINTS)
def test_an_operation_a_dead_process_left_is_completed_without_a_retry(
        crash: CrashHarness, point: str) -> None:
    _killed(crash, "capture", point)
    eventually(lambda: _state(crash), lambda found: found == _expected("capture"),
               timeout=RECOVERY_BOUND, what="the stopped capture to be completed")
