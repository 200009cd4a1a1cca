"""The accrual engine against the real server: aggregation, worker, races, late changes."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from domain.basis import TransactionKind
from domain.dealers import DealerStatus
from domain.periods import PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.segments import SegmentRule
from domain.tiers import RateKind, RebateBasis, Tier, TierMode
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import accrual_writes
from service.repositories import accruals as accrual_repo
from service.repositories import programs as program_repo
from service.usecases.accruals import compute_period, run_accruals
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.segments import upsert_segment
from service.usecases.transactions import TransactionRow, record_transactions
from service.worker import AccrualWorker

ADMIN = Principal(sub="engine-test", role=Role.ADMIN)
D = Decimal


def rules(code: str, **overrides: object) -> ProgramRules:
    values: dict[str, object] = dict(
        code=code, name=code, basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.QUARTER,
        accumulation=Accumulation.YEAR_TO_DATE, valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31), currency="CNY",
        terms=(Terms(None, (Tier(D(0), D(1)), Tier(D(10000), D(2)))),),
        payout_form=PayoutForm.CASH)
    values.update(overrides)
    return ProgramRules(**values)  # type: ignore[arg-type]


def sale(external_id: str, dealer: str, day: str, amount: str,
         kind: TransactionKind = TransactionKind.INVOICE,
         product: str | None = None) -> TransactionRow:
    """Each test's program counts its own product, so tests in this module stay apart."""
    return TransactionRow(external_id, dealer, kind, dt.date.fromisoformat(day), D(amount),
                          "CNY", product_code=product)


async def gross(deps: Deps, program: str, dealer: str) -> dict[str, Decimal]:
    docs = await deps.db.accruals.find({"programCode": program, "dealerCode": dealer}).to_list()
    return {d["period"]: d["grossAmount"] for d in docs}


@pytest.fixture(autouse=True)
def keyed_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """This module's recomputed accruals are written many per statement, the path of large
    rounds (accrual_writes.KEYED_MERGE_MIN); the other modules' few dealers take the statement
    per accrual, so the races below are proven on the path the other tests do not take."""
    monkeypatch.setattr(accrual_writes, "KEYED_MERGE_MIN", 1)


@pytest.fixture(scope="module", autouse=True)
async def dealers(deps: Deps) -> None:
    for code in ["E1", "E2", "E3", "E4", "E5"]:
        await upsert_dealer(deps, ADMIN, code=code, name=code, channel="RETAIL")


async def test_returns_after_a_tier_jump_claw_back_in_the_next_quarter(deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("YTD"), activate=True)
    await record_transactions(deps, ADMIN, [sale("y1", "E1", "2026-02-01", "12000"),
                                            sale("y2", "E1", "2026-05-01", "5000",
                                                 TransactionKind.RETURN)])
    await run_accruals(deps, ADMIN, "YTD", "2026-Q2")
    # Q1: 12,000 × 2 % = 240; Q2: 7,000 × 1 % − 240 = −170 (a clawback). The run applied the
    # sales' pending marks first, so the later started true-ups are there too, unchanged.
    assert await gross(deps, "YTD", "E1") == {"2026-Q1": D("240.00"), "2026-Q2": D("-170.00"),
                                               "2026-Q3": D("0.00"), "2026-Q4": D("0.00")}


async def test_the_worker_recomputes_later_true_ups_when_an_early_sale_arrives(
        deps: Deps) -> None:
    await record_transactions(deps, ADMIN, [sale("y3", "E1", "2026-03-01", "100")])
    await AccrualWorker(deps).drain()
    # Q1: 12,100 × 2 % = 242; Q2: 7,100 × 1 % − 242 = −171; Q3, Q4 (started): no change
    assert await gross(deps, "YTD", "E1") == {"2026-Q1": D("242.00"), "2026-Q2": D("-171.00"),
                                               "2026-Q3": D("0.00"), "2026-Q4": D("0.00")}
    assert sum((await gross(deps, "YTD", "E1")).values()) == D("71.00")  # = R(7,100)


async def test_two_workers_and_a_run_at_once_never_double_an_accrual(deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("RACE", accumulation=Accumulation.PER_PERIOD,
                                            product_codes=("RACE",)), activate=True)
    rows = [sale(f"r{i}", f"E{i % 5 + 1}", f"2026-0{i % 9 + 1}-1{i % 9}", f"{100 + i}",
                 product="RACE") for i in range(200)]
    await record_transactions(deps, ADMIN, rows)
    workers = [AccrualWorker(deps), AccrualWorker(deps)]
    await asyncio.gather(*(w.drain() for w in workers),
                         run_accruals(deps, ADMIN, "RACE", "2026-Q2"),
                         run_accruals(deps, ADMIN, "RACE", "2026-Q2"))
    docs = await deps.db.accruals.find({"programCode": "RACE"}).to_list()
    keys = [(d["dealerCode"], d["period"]) for d in docs]
    assert len(keys) == len(set(keys)) == 15  # 5 dealers × Q1..Q3
    for doc in docs:  # every figure matches the transactions
        quarter = int(doc["period"][-1])
        months = {1: (1, 3), 2: (4, 6), 3: (7, 9)}[quarter]
        expected = sum(100 + i for i in range(200) if doc["dealerCode"] == f"E{i % 5 + 1}"
                       and months[0] <= i % 9 + 1 <= months[1])
        assert doc["basis"] == D(expected)
    assert await deps.db.accrual_jobs.count_documents({"dirty": True}) == 0


async def test_a_stale_computation_never_overwrites_a_newer_one(deps: Deps) -> None:
    program = await program_repo.get(deps.db, "RACE")
    assert program is not None
    await deps.db.dealers.update_one({"code": "E2"}, {"$inc": {"salesVersion": 5}})
    await compute_period(deps, program, program_period(program, "2026-Q1"), ["E2"])
    newer = await deps.db.accruals.find_one({"programCode": "RACE", "dealerCode": "E2",
                                             "period": "2026-Q1"})
    assert newer is not None
    await deps.db.dealers.update_one({"code": "E2"}, {"$inc": {"salesVersion": -5}})
    await deps.db.accruals.update_one({"_id": newer["_id"]}, {"$set": {"basis": D("1")}})
    await compute_period(deps, program, program_period(program, "2026-Q1"), ["E2"])
    after = await deps.db.accruals.find_one({"_id": newer["_id"]})
    assert after is not None and after["basis"] == D("1")  # the older stamp did not land


def program_period(program: program_repo.StoredProgram, name: str) -> object:
    from domain.periods import parse_period
    return parse_period(name, program.rules.period_kind)


async def test_a_segment_change_moves_a_dealer_to_its_new_terms(deps: Deps) -> None:
    await upsert_segment(deps, ADMIN, code="VIP", name="VIP", priority=5, dealer_codes=[])
    await create_program(deps, ADMIN, rules(
        "TIERED", accumulation=Accumulation.PER_PERIOD, product_codes=("TIERED",),
        terms=(Terms(None, (Tier(D(0), D(1)),)), Terms("VIP", (Tier(D(0), D(4)),)))),
        activate=True)
    await record_transactions(deps, ADMIN, [sale("t1", "E3", "2026-06-01", "1000",
                                                 product="TIERED")])
    await AccrualWorker(deps).drain()
    assert (await gross(deps, "TIERED", "E3"))["2026-Q2"] == D("10.00")
    await upsert_segment(deps, ADMIN, code="VIP", name="VIP", priority=5, dealer_codes=["E3"])
    await AccrualWorker(deps).drain()
    assert (await gross(deps, "TIERED", "E3"))["2026-Q2"] == D("40.00")


async def test_new_sales_can_move_a_dealer_into_a_trailing_sales_segment(deps: Deps) -> None:
    await upsert_segment(deps, ADMIN, code="BIG", name="Big", priority=9,
                         rule=SegmentRule(min_trailing_sales=D("50000")))
    e4 = await deps.db.dealers.find_one({"code": "E4"})
    assert e4 is not None and "BIG" not in e4["segmentCodes"]
    await record_transactions(deps, ADMIN, [sale("big1", "E4", "2026-10-01", "60000")])
    e4 = await deps.db.dealers.find_one({"code": "E4"})
    assert e4 is not None and "BIG" in e4["segmentCodes"]


async def test_a_suspended_dealer_accrues_on_hold(deps: Deps) -> None:
    from domain.dealers import DealerStatus
    await upsert_dealer(deps, ADMIN, code="E5", name="E5", channel="RETAIL",
                        status=DealerStatus.SUSPENDED)
    await AccrualWorker(deps).drain()
    found = await accrual_repo.for_period(deps.db, "RACE", "2026-Q1", dealer_codes=["E5"])
    assert [a.status.value for a in found] == ["ON_HOLD"]
    assert any("SUSPENDED" in s.formula for s in found[0].calculation)


async def test_a_program_starting_mid_month_counts_from_its_first_day(deps: Deps) -> None:
    await create_program(deps, ADMIN, rules(
        "MIDMONTH", accumulation=Accumulation.YEAR_TO_DATE, product_codes=("MID",),
        valid_from=dt.date(2026, 2, 15)), activate=True)
    await record_transactions(deps, ADMIN, [
        sale("mid-1", "E4", "2026-02-10", "5000", product="MID"),   # before validFrom
        sale("mid-2", "E4", "2026-02-20", "1000", product="MID"),
        sale("mid-3", "E4", "2026-05-20", "2000", product="MID")])
    await run_accruals(deps, ADMIN, "MIDMONTH", "2026-Q2")
    found = await deps.db.accruals.find({"programCode": "MIDMONTH"}).to_list()
    assert {d["period"]: (d["basis"], d["cumulativeBasis"]) for d in found} == {
        "2026-Q1": (D("1000"), D("1000")), "2026-Q2": (D("2000"), D("3000")),
        "2026-Q3": (D("0"), D("3000")), "2026-Q4": (D("0"), D("3000"))}  # pending marks


async def test_no_accrual_for_a_period_before_a_dealers_first_sale(deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("LATESTART", product_codes=("LS",)),
                         activate=True)
    await record_transactions(deps, ADMIN, [sale("ls-1", "E5", "2026-08-01", "100",
                                                 product="LS")])
    await AccrualWorker(deps).drain()
    await run_accruals(deps, ADMIN, "LATESTART", "2026-Q4")
    periods = {d["period"] for d in await deps.db.accruals.find(
        {"programCode": "LATESTART", "dealerCode": "E5"}).to_list()}
    assert periods == {"2026-Q3", "2026-Q4"}  # YEAR_TO_DATE: from the first sale on


async def test_a_dealer_without_sales_queues_no_recomputation_until_it_has_some(
        deps: Deps) -> None:
    """Creating dealers (a CRM sync of thousands) marks nothing: they have no accrual
    anywhere. Once a dealer has sales, a change of its status or segments marks it in every
    active program again."""
    await create_program(deps, ADMIN, rules("IDLE-P", product_codes=("IDLE",)), activate=True)

    async def dirty(dealer: str) -> set[str]:
        docs = await deps.db.accrual_jobs.find({"dealerCode": dealer, "dirty": True}).to_list()
        return {d["programCode"] for d in docs}
    await upsert_dealer(deps, ADMIN, code="IDLE-1", name="Idle", channel="RETAIL")
    await upsert_dealer(deps, ADMIN, code="IDLE-1", name="Idle", channel="RETAIL",
                        status=DealerStatus.SUSPENDED)
    assert await dirty("IDLE-1") == set()
    await record_transactions(deps, ADMIN, [sale("idle-1", "IDLE-1", "2026-02-03", "500",
                                                 product="IDLE")])
    await deps.db.accrual_jobs.delete_many({"dealerCode": "IDLE-1"})  # as if the worker ran
    await upsert_dealer(deps, ADMIN, code="IDLE-1", name="Idle", channel="RETAIL",
                        status=DealerStatus.ACTIVE)
    assert "IDLE-P" in await dirty("IDLE-1")


async def test_a_round_from_the_first_period_computes_ahead_and_reads_what_is_stored_when_a_write_was_refused(  # noqa: E501
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round over a program's periods from its first computes each period while the one
    before is written, its true-up from the figures the round computed (no read of them);
    when a write of the period before was refused (here: a computation from newer sales
    stands in the way), the next periods are computed from what is stored instead."""
    from service.usecases.engine.dispatch import recompute

    await create_program(deps, ADMIN, rules("CHAIN", product_codes=("CHAIN",)), activate=True)
    await record_transactions(deps, ADMIN, [
        sale("c1", "E3", "2026-02-01", "12000", product="CHAIN"),
        sale("c2", "E3", "2026-05-01", "3000", product="CHAIN")])
    await AccrualWorker(deps).drain()
    program = await program_repo.get(deps.db, "CHAIN")
    assert program is not None
    reads: list[str] = []
    earlier_periods = accrual_repo.earlier_periods

    async def counted(db: object, code: str, period: object, *args: object,
                      **kwargs: object) -> object:
        reads.append(str(getattr(period, "name", period)))
        return await earlier_periods(db, code, period, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(accrual_repo, "earlier_periods", counted)
    await deps.db.accruals.update_many({"programCode": "CHAIN"}, {"$unset": {
        "figuresDigest": ""}})  # every accrual is written again
    assert await recompute(deps, program, ["2026-Q1", "2026-Q2", "2026-Q3"], None) == 3
    # Q1: 12,000 × 2 % = 240; Q2: 15,000 × 2 % − 240 = 60; Q3: nothing more
    assert await gross(deps, "CHAIN", "E3") == {"2026-Q1": D("240.00"), "2026-Q2": D("60.00"),
                                                 "2026-Q3": D("0.00"), "2026-Q4": D("0.00")}
    assert reads == []  # the round knew its earlier periods

    await deps.db.accruals.update_one(
        {"programCode": "CHAIN", "dealerCode": "E3", "period": "2026-Q1"},
        {"$set": {"grossAmount": D("250.00"), "inputsVersion": 10**12,
                  "figuresDigest": "from newer sales"}})
    await recompute(deps, program, ["2026-Q1", "2026-Q2", "2026-Q3"], None)
    # Q1 stays as the newer computation wrote it, and Q2's true-up subtracts that: 300 − 250
    assert await gross(deps, "CHAIN", "E3") == {"2026-Q1": D("250.00"), "2026-Q2": D("50.00"),
                                                 "2026-Q3": D("0.00"), "2026-Q4": D("0.00")}
    assert reads == ["2026-Q2", "2026-Q3"]


async def test_a_round_reads_dealers_violations_and_segments_once_and_adjustments_once_a_period(
        deps: Deps) -> None:
    """What is the same for every period of a round (the dealers with their terms, their
    violations over the program's validity, the segments' names) is read once (a dealer
    a later period adds is read then); a period's adjustments and stored accruals once per
    period (the first period's while the sales are read). A penalty read once still
    reaches its period."""
    from domain.violations import PenaltyKind, ViolationType
    from service.usecases.engine.dispatch import recompute
    from service.usecases.violations import record_violation
    from tests.conftest import COMMANDS

    await upsert_dealer(deps, ADMIN, code="ON1", name="Once one")
    await upsert_segment(deps, ADMIN, code="ONCE-KA", name="Key accounts once", priority=77,
                         dealer_codes=["ON1"])
    await create_program(deps, ADMIN, rules("ONCE", product_codes=("ONCE",), terms=(
        Terms("ONCE-KA", (Tier(D(0), D(3)),)), Terms(None, (Tier(D(0), D(1)),)))),
        activate=True)
    await record_transactions(deps, ADMIN, [
        sale("o1", "ON1", "2026-02-01", "1000", product="ONCE"),
        sale("o2", "E4", "2026-01-20", "1000", product="ONCE"),
        sale("o3", "ON1", "2026-08-01", "1000", product="ONCE")])
    await record_violation(deps, ADMIN, dealer_code="ON1",
                           type_=ViolationType.CROSS_REGION_SALES,
                           occurred_on=dt.date(2026, 8, 5), description="sold in the west",
                           kind=PenaltyKind.DEDUCT_PERCENT, percent=D("10"))
    await AccrualWorker(deps).drain()
    program = await program_repo.get(deps.db, "ONCE")
    assert program is not None
    await deps.db.accruals.update_many({"programCode": "ONCE"}, {"$unset": {
        "figuresDigest": ""}})  # every accrual is written again
    database = deps.settings.database
    before = len(COMMANDS.collections.get(database, []))
    assert await recompute(deps, program, ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"],
                           None) == 8  # two dealers, four quarters
    sent = COMMANDS.collections[database][before:]
    names = COMMANDS.names[database][before:]
    finds = [c for c, n in zip(sent, names, strict=True) if n == "find"]
    assert finds.count("dealers") == 1 and finds.count("violations") == 1
    assert finds.count("segments") <= 2  # the priorities, and the terms' names
    assert finds.count("adjustments") == 4  # one a period (was two)
    assert finds.count("accruals") == 4  # a period's stored accruals (the first's with the sales)
    q3 = await deps.db.accruals.find_one({"programCode": "ONCE", "dealerCode": "ON1",
                                          "period": "2026-Q3"})
    assert q3 is not None and q3["deductionPercent"] == D("10")  # the August violation
    assert "Key accounts once" in q3["calculation"]  # the segment's name, read once
