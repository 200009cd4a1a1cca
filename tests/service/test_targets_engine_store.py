"""The accrual engine with targets, per-transaction tiers and a minimum payout, against the
real server. Targets are written straight into the `targets` collection (the targets API is
tested on its own); what marks recomputation when one is set is simulated with `mark`."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from domain.basis import TransactionKind
from domain.periods import PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.tiers import RateKind, RebateBasis, Tier, TierEvaluation, TierMeasure, TierMode
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.usecases import accrual_jobs
from service.usecases.accruals import rebate_forecast, run_accruals
from service.usecases.closing import close_period
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.transactions import TransactionRow, record_transactions
from service.worker import AccrualWorker

ADMIN = Principal(sub="targets-engine-test", role=Role.ADMIN)
D = Decimal
BANDS = (Tier(D("110"), D("2")), Tier(D("115"), D("3")), Tier(D("120"), D("4")))
SEASONAL = (Tier(D("90"), D("1")), Tier(D("100"), D("2")))


def rules(code: str, **overrides: object) -> ProgramRules:
    values: dict[str, object] = dict(
        code=code, name=code, basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.QUARTER,
        accumulation=Accumulation.PER_PERIOD, valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31), currency="CNY", terms=(Terms(None, BANDS),),
        payout_form=PayoutForm.CREDIT_NOTE, product_codes=(code,),
        tier_measure=TierMeasure.TARGET_ACHIEVEMENT)
    values.update(overrides)
    return ProgramRules(**values)  # type: ignore[arg-type]


def sale(external_id: str, dealer: str, day: str, amount: str, product: str,
         kind: TransactionKind = TransactionKind.INVOICE) -> TransactionRow:
    return TransactionRow(external_id, dealer, kind, dt.date.fromisoformat(day), D(amount),
                          "CNY", product_code=product)


async def set_target(deps: Deps, program: str, dealer: str, period: str, amount: str) -> None:
    await deps.db.targets.replace_one(
        {"_id": f"{program}:{dealer}:{period}"},
        {"programCode": program, "dealerCode": dealer, "period": period, "amount": D(amount),
         "updatedAt": deps.now()}, upsert=True)


async def accruals(deps: Deps, program: str, dealer: str) -> dict[str, dict[str, Any]]:
    docs = await deps.db.accruals.find({"programCode": program, "dealerCode": dealer}).to_list()
    return {d["period"]: d for d in docs}


def formulas(doc: dict[str, Any]) -> list[str]:
    return [f"{s.label}: {s.formula}" for s in accrual_repo.from_doc(doc).calculation]


@pytest.fixture(scope="module", autouse=True)
async def dealers(deps: Deps) -> None:
    for code in ["T1", "T2", "T3", "T4", "T5", "T6"]:
        await upsert_dealer(deps, ADMIN, code=code, name=code, channel="RETAIL")


@pytest.mark.parametrize(("mode", "gross"), [(TierMode.RETROACTIVE, "70500.00"),
                                             (TierMode.INCREMENTAL, "3500.00"),
                                             (TierMode.ON_EXCESS_OVER_TARGET, "10500.00")])
async def test_the_specs_bands_against_a_stored_target(deps: Deps, mode: TierMode,
                                                       gross: str) -> None:
    code = f"BANDS-{mode.value[:4]}"
    await create_program(deps, ADMIN, rules(code, tier_mode=mode), activate=True)
    await set_target(deps, code, "T1", "2026-Q1", "2000000")
    await record_transactions(deps, ADMIN, [sale(f"{code}-1", "T1", "2026-02-10", "2350000",
                                                 code)])
    await run_accruals(deps, ADMIN, code, "2026-Q1")
    q1 = (await accruals(deps, code, "T1"))["2026-Q1"]
    assert (q1["grossAmount"], q1["target"], q1["achievementPercent"], q1["status"]) == (
        D(gross), D("2000000"), D("117.50"), "OPEN")


async def test_no_target_holds_the_accrual_until_the_target_is_set(deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("HOLD", terms=(Terms(None, SEASONAL),)),
                         activate=True)
    await record_transactions(deps, ADMIN, [sale("hold-1", "T2", "2026-02-10", "462000",
                                                 "HOLD")])
    await run_accruals(deps, ADMIN, "HOLD", "2026-Q1")
    held = (await accruals(deps, "HOLD", "T2"))["2026-Q1"]
    assert held["status"] == "ON_HOLD" and held["target"] is None
    assert "On hold: no target set for 2026-Q1" in formulas(held)
    await set_target(deps, "HOLD", "T2", "2026-Q1", "500000")
    await accrual_jobs.mark(deps, {("T2", "HOLD"): {"2026-Q1"}})  # what setTargets does
    await AccrualWorker(deps).drain()
    released = (await accruals(deps, "HOLD", "T2"))["2026-Q1"]
    assert (released["status"], released["grossAmount"], released["achievementPercent"]) == (
        "OPEN", D("4620.00"), D("92.40"))
    assert ("Tier reached: target CNY 500,000.00, reached CNY 462,000.00 = 92.40% ≥ 90%: "
            "rate 1%") in formulas(released)
    found = await rebate_forecast(deps, scope=None, dealer_code="T2", program_code="HOLD",
                                  period_name="2026-Q1", additional_basis=D("0"))
    assert found is not None and found.progress is not None
    assert (found.progress.target, found.progress.achievement_percent,
            found.progress.amount_to_target) == (D("500000"), D("92.40"), D("38000"))


async def test_year_to_date_over_four_quarters_with_seasonal_targets(deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("YTD-T", accumulation=Accumulation.YEAR_TO_DATE,
                                            terms=(Terms(None, SEASONAL),)), activate=True)
    for quarter, amount in zip(["Q1", "Q2", "Q3", "Q4"],
                               ["400000", "600000", "500000", "500000"], strict=True):
        await set_target(deps, "YTD-T", "T3", f"2026-{quarter}", amount)
    await record_transactions(deps, ADMIN, [
        sale("ytd-1", "T3", "2026-02-01", "380000", "YTD-T"),
        sale("ytd-2", "T3", "2026-05-01", "520000", "YTD-T"),
        sale("ytd-3", "T3", "2026-08-01", "600000", "YTD-T"),
        sale("ytd-4", "T3", "2026-11-01", "560000", "YTD-T")])
    await run_accruals(deps, ADMIN, "YTD-T", "2026-Q4")
    found = await accruals(deps, "YTD-T", "T3")
    assert [found[f"2026-Q{n}"]["grossAmount"] for n in range(1, 5)] == [
        D("3800.00"), D("5200.00"), D("21000.00"), D("11200.00")]
    assert [found[f"2026-Q{n}"]["target"] for n in range(1, 5)] == [
        D("400000"), D("1000000"), D("1500000"), D("2000000")]
    assert found["2026-Q4"]["achievementPercent"] == D("103.00")


async def test_a_missing_quarter_target_holds_every_year_to_date_period_after_it(
        deps: Deps) -> None:
    await create_program(deps, ADMIN, rules("YTD-GAP", accumulation=Accumulation.YEAR_TO_DATE,
                                            terms=(Terms(None, SEASONAL),)), activate=True)
    await set_target(deps, "YTD-GAP", "T3", "2026-Q1", "100000")
    await record_transactions(deps, ADMIN, [sale("gap-1", "T3", "2026-02-01", "95000",
                                                 "YTD-GAP")])
    await run_accruals(deps, ADMIN, "YTD-GAP", "2026-Q3")
    found = await accruals(deps, "YTD-GAP", "T3")
    assert [found[f"2026-Q{n}"]["status"] for n in range(1, 4)] == [
        "OPEN", "ON_HOLD", "ON_HOLD"]
    assert "On hold: no target set for 2026-Q2, 2026-Q3" in formulas(found["2026-Q3"])


async def test_each_order_earns_on_its_own_and_a_return_reverses_it(deps: Deps) -> None:
    immediate = rules("NOW", tier_measure=TierMeasure.BASIS,
                      tier_evaluation=TierEvaluation.EACH_TRANSACTION,
                      period_kind=PeriodKind.MONTH,
                      terms=(Terms(None, (Tier(D("100000"), D("2")),)),))
    await create_program(deps, ADMIN, immediate, activate=True)
    await record_transactions(deps, ADMIN, [
        sale("now-1", "T4", "2026-03-02", "120000", "NOW"),
        sale("now-2", "T4", "2026-03-05", "150000", "NOW"),
        sale("now-3", "T4", "2026-03-09", "5000", "NOW"),
        sale("now-4", "T4", "2026-03-20", "100000", "NOW", TransactionKind.RETURN),
        sale("now-5", "T5", "2026-03-20", "100000", "NOW")])
    await run_accruals(deps, ADMIN, "NOW", "2026-03")
    march = (await accruals(deps, "NOW", "T4"))["2026-03"]
    # 2 % × (120,000 + 150,000) − 2 % × 100,000 = 3,400 (the period total would be 175,000)
    assert (march["basis"], march["grossAmount"], march["rate"]) == (
        D("175000"), D("3400.00"), D("2"))
    assert any("3 transactions: 2 at tier ≥ CNY 100,000.00 (2%): CNY 5,400.00, 1 below the "
               "first tier; 1 return reversed CNY 2,000.00" in line for line in formulas(march))
    assert (await accruals(deps, "NOW", "T5"))["2026-03"]["grossAmount"] == D("2000.00")


async def test_a_minimum_payout_carries_across_two_quarters_and_the_last_pays(
        deps: Deps) -> None:
    small = rules("MIN", tier_measure=TierMeasure.BASIS, minimum_payout=D("1000"),
                  valid_to=dt.date(2026, 9, 30), terms=(Terms(None, (Tier(D("0"), D("1")),)),))
    await create_program(deps, ADMIN, small, activate=True)
    await record_transactions(deps, ADMIN, [
        sale("min-1", "T6", "2026-02-01", "40000", "MIN"),
        sale("min-2", "T6", "2026-05-01", "30000", "MIN"),
        sale("min-3", "T6", "2026-08-01", "20000", "MIN")])
    await AccrualWorker(deps).drain()

    async def figures() -> list[tuple[Decimal, Decimal, Decimal]]:
        found = await accruals(deps, "MIN", "T6")
        return [(found[p]["netAmount"], found[p]["carriedForward"], found[p]["carriedIn"])
                for p in ("2026-Q1", "2026-Q2", "2026-Q3")]

    # Q1 400 carried; Q2 300 + 400 = 700 carried; Q3 (the last) 200 + 700 = 900 paid
    assert await figures() == [(D("0.00"), D("400.00"), D("0")),
                               (D("0.00"), D("700.00"), D("400.00")),
                               (D("900.00"), D("0.00"), D("700.00"))]
    found = await accruals(deps, "MIN", "T6")
    assert ("Minimum payout: below the minimum payout CNY 1,000.00: CNY 400.00 carried "
            "forward to 2026-Q2") in formulas(found["2026-Q1"])
    assert "Adjustment: carried forward from 2026-Q1: +CNY 400.00" in formulas(
        found["2026-Q2"])

    # a new Q1 sale recomputes Q1, and its carry flows on to Q2 and Q3 at once
    await record_transactions(deps, ADMIN, [sale("min-4", "T6", "2026-03-01", "10000", "MIN")])
    await AccrualWorker(deps).drain()
    assert await figures() == [(D("0.00"), D("500.00"), D("0")),
                               (D("0.00"), D("800.00"), D("500.00")),
                               (D("1000.00"), D("0.00"), D("800.00"))]
    await run_accruals(deps, ADMIN, "MIN", "2026-Q3")  # recomputing again changes nothing
    assert [f[0] for f in await figures()] == [D("0.00"), D("0.00"), D("1000.00")]

    # closing Q1 approves it at 0 payable: its carry is fixed from now on
    closed = {a.dealer_code: a for a in await close_period(deps, ADMIN, "MIN", "2026-Q1")}
    assert (closed["T6"].status.value, closed["T6"].net_amount,
            closed["T6"].carried_forward) == ("APPROVED", D("0.00"), D("500.00"))
    # a late Q1 sale lands as a correction on Q2 (the carried 500 is not counted twice)
    await record_transactions(deps, ADMIN, [sale("min-5", "T6", "2026-03-02", "20000", "MIN")])
    await AccrualWorker(deps).drain()
    found = await accruals(deps, "MIN", "T6")
    assert found["2026-Q1"]["carriedForward"] == D("500.00")
    # Q2: 300 own + 500 carried in + 200 correction = 1,000 ≥ 1,000: paid; Q3 200, the last
    assert (found["2026-Q2"]["netAmount"], found["2026-Q3"]["netAmount"]) == (
        D("1000.00"), D("200.00"))
    total = sum(found[p]["netAmount"] for p in ("2026-Q1", "2026-Q2", "2026-Q3"))
    assert total == D("1200.00")  # 1 % of 120,000: nothing lost, nothing paid twice
