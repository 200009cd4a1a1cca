"""The demo dataset of `make run`: a year of sales and accruals, there at once."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import pytest

from domain.money import round_money
from service import demo
from service.deps import Deps
from service.repositories import programs as program_repo
from service.usecases import accrual_jobs
from service.worker import AccrualWorker
from tests.conftest import FIXED_NOW

PROGRAMS = ("DEMO-COLLECT", "DEMO-UNITS", "DEMO-TARGET", "DEMO-PUSH")


async def accruals_of(deps: Deps, program: str) -> list[dict[str, Any]]:
    return await deps.db.accruals.find({"programCode": program}).sort(
        [("dealerCode", 1), ("periodStart", 1)]).to_list()


@pytest.fixture(scope="module")
async def loaded(deps: Deps) -> float:
    assert await demo.is_empty(deps)
    started = time.perf_counter()
    await demo.load(deps)
    return time.perf_counter() - started


async def test_a_year_of_transactions_up_to_yesterday(deps: Deps, loaded: float) -> None:
    assert loaded < 20  # typically 1–3 s; generous against a busy machine
    assert not await demo.is_empty(deps)
    count = await deps.db.transactions.count_documents({})
    assert 500 <= count <= 5000
    dates = await deps.db.transactions.distinct("date")
    yesterday = FIXED_NOW.date() - dt.timedelta(days=1)
    assert min(dates) <= "2026-01-07" and max(dates) <= yesterday.isoformat()
    assert max(dates) >= (yesterday - dt.timedelta(days=7)).isoformat()
    kinds = set(await deps.db.transactions.distinct("kind"))
    assert kinds == {"INVOICE", "RETURN", "PAYMENT"}
    programs = {p["code"]: p["status"] async for p in deps.db.programs.find({})}
    assert programs == dict.fromkeys(PROGRAMS, "ACTIVE")


async def test_accruals_exist_at_once_for_both_programs(deps: Deps, loaded: float) -> None:
    collect = await accruals_of(deps, "DEMO-COLLECT")
    units = await accruals_of(deps, "DEMO-UNITS")
    # every dealer has terms: 4 quarters, and 11 months begun by 20 November
    assert len(collect) == 6 * 4 and len(units) == 6 * 11
    for rows in (collect, units):
        assert any(a["netAmount"] > 0 for a in rows)
        assert all(a["status"] == "OPEN" for a in rows)


async def test_key_accounts_cross_the_million_and_true_up(deps: Deps, loaded: float) -> None:
    """The SPEC's worked example, live: Σ gross over the quarters = R(the year's basis)."""
    collect = await accruals_of(deps, "DEMO-COLLECT")
    d001 = [a for a in collect if a["dealerCode"] == "D001"]
    year = d001[-1]
    assert year["period"] == "2026-Q4" and year["cumulativeBasis"] >= Decimal("1000000")
    assert year["rate"] == Decimal("2.5")  # KEY-ACCOUNTS terms, second tier
    total_gross = sum((a["grossAmount"] for a in d001), Decimal(0))
    assert total_gross == round_money(year["cumulativeBasis"] * Decimal("0.025"))
    d002_q1 = next(a for a in collect if a["dealerCode"] == "D002" and a["period"] == "2026-Q1")
    assert d002_q1["rate"] == Decimal("1")  # default terms, first tier
    assert d002_q1["grossAmount"] == round_money(d002_q1["basis"] / 100)


async def test_units_count_the_new_range_net_of_returns(deps: Deps, loaded: float) -> None:
    units = await accruals_of(deps, "DEMO-UNITS")
    pipeline = [{"$match": {"dealerCode": "D003", "productCode": {"$in": ["NX-100", "NX-200"]},
                            "date": {"$gte": "2026-03-01", "$lte": "2026-03-31"}}},
                {"$group": {"_id": "$kind", "units": {"$sum": "$quantity"}}}]
    by_kind = {row["_id"]: row["units"]
               async for row in await deps.db.transactions.aggregate(pipeline)}
    march = next(a for a in units if a["dealerCode"] == "D003" and a["period"] == "2026-03")
    assert march["basis"] == by_kind.get("INVOICE", 0) - by_kind.get("RETURN", 0) > 0
    assert march["rate"] in {Decimal("3.00"), Decimal("4.50"), Decimal("6.00")}  # PILOT
    assert march["grossAmount"] == march["basis"] * march["rate"]
    assert await deps.db.transactions.count_documents(
        {"kind": "RETURN", "productCode": {"$in": ["NX-100", "NX-200"]}}) > 0


async def test_a_dealer_crosses_the_per_unit_tier_in_some_month(deps: Deps,
                                                                 loaded: float) -> None:
    d004 = {a["period"]: a for a in await accruals_of(deps, "DEMO-UNITS")
            if a["dealerCode"] == "D004"}
    assert d004["2026-09"]["basis"] >= 100  # the launch stocking order of 120 units
    assert d004["2026-09"]["rate"] == Decimal("3.00")  # default terms, second tier
    assert d004["2026-08"]["basis"] < 100 and d004["2026-08"]["rate"] == Decimal("2.00")


async def test_the_worker_agrees_with_what_the_demo_computed(deps: Deps, loaded: float) -> None:
    before = {(a["programCode"], a["dealerCode"], a["period"]): a["netAmount"]
              for p in PROGRAMS for a in await accruals_of(deps, p)}
    assert await accrual_jobs.pending(deps) == 0  # the demo's runs applied their own marks
    for code in PROGRAMS:  # now have the worker recompute everything from scratch
        program = await program_repo.get(deps.db, code)
        assert program is not None
        await accrual_jobs.mark_program(deps, program.rules)
    assert await AccrualWorker(deps).drain() > 0
    after = {(a["programCode"], a["dealerCode"], a["period"]): a["netAmount"]
             for p in PROGRAMS for a in await accruals_of(deps, p)}
    assert after == before


def _by_hand_target_rate(basis: Decimal, target: Decimal) -> Decimal:
    """Nothing below 90 % of the task, 1 % from 90 %, 2 % from 100 %, 3 % from 110 %."""
    reached = [rate for percent, rate in ((90, 1), (100, 2), (110, 3))
               if basis * 100 >= percent * target]
    return Decimal(reached[-1] if reached else 0)


async def test_the_target_program_pays_by_how_much_of_the_seasons_task_is_reached(
        deps: Deps, loaded: float) -> None:
    rows = await accruals_of(deps, "DEMO-TARGET")
    assert len(rows) == 6 * 4  # every dealer has a target for every quarter
    for accrual in rows:
        quarter = int(accrual["period"][-1])
        target = Decimal(demo.TARGET_BASE[accrual["dealerCode"]]) * demo.SEASON[quarter]
        basis = accrual["basis"]
        rate = _by_hand_target_rate(basis, target)
        assert accrual["target"] == target, accrual["period"]
        assert accrual["achievementPercent"] == round_money(basis / target * 100)
        assert (accrual["rate"], accrual["grossAmount"]) == \
            (rate, round_money(basis * rate / 100)), (accrual["dealerCode"], accrual["period"])
        assert accrual["status"] == "OPEN"
    rates = {(a["dealerCode"], a["period"]): a["rate"] for a in rows}
    assert {rates[(d, f"2026-Q{q}")] for d in demo.TARGET_BASE for q in (1, 2, 3)} == \
        {Decimal(0), Decimal(1), Decimal(2), Decimal(3)}  # every band is reached somewhere
    assert rates[("D004", "2026-Q3")] == Decimal(3)  # the launch order: 3 % of its Q3
    assert all(rates[(d, "2026-Q4")] == 0 for d in demo.TARGET_BASE)  # Q4 under way


async def test_the_push_program_pays_each_big_order_on_its_own(deps: Deps,
                                                               loaded: float) -> None:
    rows = {(a["dealerCode"], a["period"]): a for a in await accruals_of(deps, "DEMO-PUSH")}
    expected: dict[tuple[str, str], Decimal] = {}
    async for txn in deps.db.transactions.find({"productCode": {"$in": list(demo.NEW_RANGE)},
                                                "kind": {"$in": ["INVOICE", "RETURN"]}}):
        key = (txn["dealerCode"], txn["date"][:7])
        earned = txn["amount"] * 2 / 100 if txn["amount"] >= 5000 else Decimal(0)
        sign = 1 if txn["kind"] == "INVOICE" else -1
        expected[key] = expected.get(key, Decimal(0)) + sign * earned
    assert {k: a["grossAmount"] for k, a in rows.items()} == \
        {k: round_money(v) for k, v in expected.items() if k in rows}
    assert set(expected) <= set(rows)
    assert sum(a["grossAmount"] for a in rows.values()) > 0
    # D004 sent 10 of its 120 launch units back in October: 2 % of 8,200.00 reversed
    october = await deps.db.transactions.find_one({"externalId": "DEMO-D004-LAUNCH-NX200-RET"})
    assert october is not None and october["amount"] == Decimal("8200.00")


def test_the_data_is_deterministic() -> None:
    first, last = dt.date(2026, 1, 1), dt.date(2026, 11, 19)
    assert demo.transactions(first, last) == demo.transactions(first, last)
    assert len({r.external_id for r in demo.transactions(first, last)}) == \
        len(demo.transactions(first, last))
