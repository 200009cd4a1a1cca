"""Anomaly alerts against the real server: surges over accruals, cross-region batches, review."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from domain.alerts import AlertKind, AlertStatus, surge_key
from domain.basis import TransactionKind
from domain.errors import RebateError
from domain.periods import PeriodKind, parse_period
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.tiers import RateKind, RebateBasis, Tier, TierMode
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import programs as program_repo
from service.usecases.accruals import run_accruals
from service.usecases.alerts import (
    acknowledge_alert,
    check_cross_region,
    check_surges,
    dismiss_alert,
)
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.transactions import TransactionRow, record_transactions
from tests.conftest import COMMANDS

ADMIN = Principal(sub="alerts-test", role=Role.ADMIN)
FINANCE = Principal(sub="finance.wang", role=Role.FINANCE)
D = Decimal
QUARTERS = ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]


def rules(code: str, **overrides: object) -> ProgramRules:
    values: dict[str, object] = dict(
        code=code, name=code, basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.QUARTER,
        accumulation=Accumulation.PER_PERIOD, valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31), currency="CNY", terms=(Terms(None, (Tier(D(0), D(1)),)),),
        payout_form=PayoutForm.CASH, product_codes=(f"SKU-{code}",))
    values.update(overrides)
    return ProgramRules(**values)  # type: ignore[arg-type]


async def program(deps: Deps, code: str, **overrides: object) -> str:
    await create_program(deps, ADMIN, rules(code, **overrides), activate=True)
    return code


async def accruals(deps: Deps, program_code: str, dealer: str, *figures: str | None) -> None:
    """Hand-made accruals of Q1..Q4 (None: no accrual, i.e. no business that quarter)."""
    docs = [{"programCode": program_code, "dealerCode": dealer, "period": name,
             "periodStart": parse_period(name).start.isoformat(), "basis": D(basis)}
            for name, basis in zip(QUARTERS, figures, strict=False) if basis is not None]
    await deps.db.accruals.insert_many(docs)


async def alerts_of(deps: Deps, **query: Any) -> list[dict[str, Any]]:
    return await deps.db.alerts.find(query).sort("_id", 1).to_list()


@pytest.fixture(scope="module", autouse=True)
async def dealers(deps: Deps) -> None:
    for code, region in [("A1", "EAST"), ("A2", "EAST"), ("A3", "SOUTH"), ("A4", None),
                         ("A5", "EAST"), ("A6", "EAST")]:
        await upsert_dealer(deps, ADMIN, code=code, name=code, region=region)
    await upsert_dealer(deps, ADMIN, code="NEW", name="joined in February", region="EAST",
                        joined_on=dt.date(2026, 2, 1))


async def test_three_quarters_of_about_a_thousand_then_four_thousand_is_a_surge(
        deps: Deps) -> None:
    code = await program(deps, "SURGE1")
    await accruals(deps, code, "A1", "900", "1000", "1100", "4000")
    await accruals(deps, code, "A2", "1000", "1000", "1000", "2999")
    await accruals(deps, code, "A3", "1000", "1000", "1000", "3000")  # exactly 3×: no
    assert await check_surges(deps, code, "2026-Q4", None) == 1
    [alert] = await alerts_of(deps, programCode=code)
    assert (alert["kind"], alert["status"], alert["dealerCode"], alert["period"]) == \
        ("SURGE", "OPEN", "A1", "2026-Q4")
    assert alert["key"] == surge_key("A1", code, "2026-Q4")
    assert alert["details"]["basis"] == D("4000")
    assert alert["details"]["average"] == D("1000.00")
    assert [p["period"] for p in alert["details"]["previous"]] == QUARTERS[:3]
    assert "CNY 4,000.00, 4.0× its average of CNY 1,000.00 over the previous three quarters" in \
        alert["message"]


async def test_checking_again_never_duplicates_an_alert(deps: Deps) -> None:
    assert await check_surges(deps, "SURGE1", "2026-Q4", None) == 0
    assert await check_surges(deps, "SURGE1", "2026-Q4", ["A1", "A2"]) == 0
    assert len(await alerts_of(deps, programCode="SURGE1")) == 1


async def test_an_open_alert_shows_the_latest_figures(deps: Deps) -> None:
    await deps.db.accruals.update_one({"programCode": "SURGE1", "dealerCode": "A1",
                                       "period": "2026-Q4"}, {"$set": {"basis": D("5000")}})
    assert await check_surges(deps, "SURGE1", "2026-Q4", ["A1"]) == 0
    [alert] = await alerts_of(deps, programCode="SURGE1")
    assert alert["details"]["basis"] == D("5000") and "5,000.00" in alert["message"]


async def test_a_dismissed_alert_is_never_reopened_nor_raised_again(deps: Deps) -> None:
    key = surge_key("A1", "SURGE1", "2026-Q4")
    dismissed = await dismiss_alert(deps, FINANCE, key, "Year-end promotion, agreed with sales")
    assert dismissed.status is AlertStatus.DISMISSED
    await deps.db.accruals.update_one({"programCode": "SURGE1", "dealerCode": "A1",
                                       "period": "2026-Q4"}, {"$set": {"basis": D("9000")}})
    assert await check_surges(deps, "SURGE1", "2026-Q4", None) == 0
    [alert] = await alerts_of(deps, programCode="SURGE1")
    assert alert["status"] == "DISMISSED" and alert["details"]["basis"] == D("5000")
    assert alert["resolutionNote"] == "Year-end promotion, agreed with sales"


async def test_an_acknowledged_alert_stays_acknowledged_when_checked_again(deps: Deps) -> None:
    code = await program(deps, "SURGE2")
    await accruals(deps, code, "A1", "1000", "1000", "1000", "3500")
    assert await check_surges(deps, code, "2026-Q4", None) == 1
    await acknowledge_alert(deps, FINANCE, surge_key("A1", code, "2026-Q4"))
    assert await check_surges(deps, code, "2026-Q4", None) == 0
    [alert] = await alerts_of(deps, programCode=code)
    assert alert["status"] == "ACKNOWLEDGED" and alert["resolvedBy"] == "finance.wang"


async def test_a_quarter_without_an_accrual_counts_as_no_business(deps: Deps) -> None:
    code = await program(deps, "GAPS")
    await accruals(deps, code, "A1", None, "1000", "1000", "2001")  # 3 × 666.67 = 2,000
    await accruals(deps, code, "A2", None, "1000", "1000", "2000")
    await accruals(deps, code, "A3", None, None, None, "50000")  # no history: no verdict
    assert await check_surges(deps, code, "2026-Q4", None) == 1
    assert [a["dealerCode"] for a in await alerts_of(deps, programCode=code)] == ["A1"]


async def test_a_dealer_that_joined_during_the_history_is_ramping_up_not_stuffing(
        deps: Deps) -> None:
    code = await program(deps, "RAMP")
    await accruals(deps, code, "NEW", "100", "1000", "1000", "9000")
    await accruals(deps, code, "A1", "100", "1000", "1000", "9000")
    assert await check_surges(deps, code, "2026-Q4", None) == 1
    assert [a["dealerCode"] for a in await alerts_of(deps, programCode=code)] == ["A1"]


async def test_a_program_younger_than_three_full_periods_gives_no_verdict(deps: Deps) -> None:
    code = await program(deps, "LATE", valid_from=dt.date(2026, 2, 15))
    await accruals(deps, code, "A1", "10", "1000", "1000", "90000")
    assert await check_surges(deps, code, "2026-Q4", None) == 0
    assert await check_surges(deps, "NO-SUCH", "2026-Q4", None) == 0
    assert await check_surges(deps, code, "2026-11", None) == 0  # not one of its periods


async def test_only_the_given_dealers_are_checked(deps: Deps) -> None:
    code = await program(deps, "SOME")
    await accruals(deps, code, "A1", "1000", "1000", "1000", "8000")
    await accruals(deps, code, "A2", "1000", "1000", "1000", "8000")
    assert await check_surges(deps, code, "2026-Q4", ["A2"]) == 1
    assert await check_surges(deps, code, "2026-Q4", []) == 0
    assert [a["dealerCode"] for a in await alerts_of(deps, programCode=code)] == ["A2"]


async def test_checking_every_dealer_costs_the_same_few_commands_as_checking_one(
        deps: Deps) -> None:
    code = await program(deps, "MANY")
    for number in range(20):
        dealer = f"M{number:02d}"
        await upsert_dealer(deps, ADMIN, code=dealer, name=dealer)
        await accruals(deps, code, dealer, "1000", "1000", "1000",
                       "4000" if number % 2 else "1500")
    before = COMMANDS.counts[deps.settings.database]
    assert await check_surges(deps, code, "2026-Q4", None) == 10
    # the program, the accruals of four quarters, the suspects' joining dates, one write
    assert COMMANDS.counts[deps.settings.database] - before == 4
    stored = await program_repo.get(deps.db, code)
    before = COMMANDS.counts[deps.settings.database]
    assert await check_surges(deps, code, "2026-Q4", None, program=stored) == 0
    assert COMMANDS.counts[deps.settings.database] - before == 3  # the caller had the program


def sale(external_id: str, dealer: str, day: str, amount: str, product: str,
         region: str | None = None) -> TransactionRow:
    return TransactionRow(external_id, dealer, TransactionKind.INVOICE,
                          dt.date.fromisoformat(day), D(amount), "CNY", product_code=product,
                          region=region)


async def test_a_surge_computed_by_the_engine_is_flagged(deps: Deps) -> None:
    code = await program(deps, "ENGINE")
    product = f"SKU-{code}"
    await record_transactions(deps, ADMIN, [
        sale("en1", "A5", "2026-02-10", "950", product),
        sale("en2", "A5", "2026-05-10", "1000", product),
        sale("en3", "A5", "2026-08-10", "1050", product),
        sale("en4", "A5", "2026-10-10", "4000", product),
        sale("en5", "A6", "2026-02-10", "1000", product),
        sale("en6", "A6", "2026-05-10", "1000", product),
        sale("en7", "A6", "2026-08-10", "1000", product),
        sale("en8", "A6", "2026-10-10", "2999", product)])
    for quarter in QUARTERS:
        await run_accruals(deps, ADMIN, code, quarter)
    [alert] = await alerts_of(deps, programCode=code)  # raised by the computation itself
    assert await check_surges(deps, code, "2026-Q4", None) == 0  # and only once
    assert alert["dealerCode"] == "A5" and alert["details"]["basis"] == D("4000")
    assert "net sales in program ENGINE for 2026-Q4 is CNY 4,000.00" in alert["message"]


async def test_a_batch_with_goods_outside_the_dealers_region_raises_one_alert_per_dealer(
        deps: Deps) -> None:
    rows = [sale(f"x{n:03d}", "A1", "2026-06-01", "10", "SKU-X", "SOUTH" if n % 2 else "north")
            for n in range(60)]
    rows += [sale("x-home", "A1", "2026-06-01", "10", "SKU-X", " east "),
             sale("x-a3", "A3", "2026-06-01", "10", "SKU-X", "EAST"),
             sale("x-a4", "A4", "2026-06-01", "10", "SKU-X", "EAST"),  # A4 has no region
             sale("x-a2", "A2", "2026-06-01", "10", "SKU-X")]  # no region given
    result = await record_transactions(deps, ADMIN, rows)
    assert result.accepted == 64
    found = {a["dealerCode"]: a for a in await alerts_of(deps, kind="CROSS_REGION")}
    assert set(found) == {"A1", "A3"}
    a1 = found["A1"]
    assert a1["details"]["count"] == 60 and a1["details"]["listed"] == 50
    assert a1["details"]["externalIds"] == [f"x{n:03d}" for n in range(50)]
    assert a1["details"]["regions"] == ["SOUTH", "north"]
    assert a1["message"].startswith("60 sales were reported as delivered to SOUTH, north, "
                                    "outside dealer A1's region EAST")
    assert found["A3"]["details"]["externalIds"] == ["x-a3"]
    assert a1["details"]["batchId"] == found["A3"]["details"]["batchId"]
    again = await record_transactions(deps, ADMIN, rows)  # duplicates: nothing new stored
    assert again.duplicates == 64
    assert len(await alerts_of(deps, kind="CROSS_REGION")) == 2


async def test_checking_the_same_batch_twice_raises_it_once(deps: Deps) -> None:
    from domain.transactions import Transaction
    moved = [Transaction("y1", "A2", TransactionKind.INVOICE, dt.date(2026, 6, 1), D(5), "CNY",
                         region="WEST")]
    assert await check_cross_region(deps, moved, "batch-1") == 1
    assert await check_cross_region(deps, moved, "batch-1") == 0
    assert await check_cross_region(deps, [], "batch-2") == 0


async def review_errors(call: Any) -> list[tuple[str, tuple[str, ...], str]]:
    """(code, field, message) of every problem, reported at once."""
    with pytest.raises(RebateError) as caught:
        await call
    return [(p.code, p.field, p.message)
            for p in caught.value.problems]  # type: ignore[attr-defined]


async def test_only_an_open_alert_can_be_acknowledged_and_a_dismissed_one_stays_closed(
        deps: Deps) -> None:
    [alert] = await alerts_of(deps, kind="CROSS_REGION", dealerCode="A3")
    key = alert["key"]
    acknowledged = await acknowledge_alert(deps, FINANCE, key, "  Calling the dealer  ")
    assert (acknowledged.status, acknowledged.resolution_note) == \
        (AlertStatus.ACKNOWLEDGED, "Calling the dealer")
    assert acknowledged.kind is AlertKind.CROSS_REGION
    [(code, field, message)] = await review_errors(acknowledge_alert(deps, FINANCE, key))
    assert (code, field) == ("INVALID", ("input", "alertId"))
    assert message == "the alert is ACKNOWLEDGED; only an OPEN alert can be acknowledged"
    dismissed = await dismiss_alert(deps, ADMIN, key)
    assert dismissed.resolution_note == "Calling the dealer"  # kept without a new note
    assert dismissed.resolved_by == "alerts-test"
    assert [c for c, _, _ in await review_errors(dismiss_alert(deps, ADMIN, key, "again"))] \
        == ["INVALID"]
    assert [c for c, _, _ in await review_errors(acknowledge_alert(deps, ADMIN, key))] \
        == ["INVALID"]
    assert [(c, f) for c, f, _ in await review_errors(
        dismiss_alert(deps, ADMIN, "SURGE:NO:ONE:2026-Q1"))] == [("NOT_FOUND",
                                                                   ("input", "alertId"))]
    # every problem at once: the note and the state
    assert [f for _, f, _ in await review_errors(dismiss_alert(deps, ADMIN, key, "x" * 2001))] \
        == [("input", "note"), ("input", "alertId")]
    after = (await alerts_of(deps, key=key))[0]
    assert after["status"] == "DISMISSED" and after["resolutionNote"] == "Calling the dealer"


async def test_every_review_is_audited_with_the_alert_before_and_after(deps: Deps) -> None:
    [alert] = await alerts_of(deps, kind="CROSS_REGION", dealerCode="A3")
    events = await deps.db.audit_events.find(
        {"entityType": "Alert", "entityId": alert["key"]}).sort("_id", 1).to_list()
    assert [(e["action"], e["actor"], e["before"]["status"], e["after"]["status"])
            for e in events] == [
        ("acknowledgeAlert", "finance.wang", "OPEN", "ACKNOWLEDGED"),
        ("dismissAlert", "alerts-test", "ACKNOWLEDGED", "DISMISSED")]
    assert events[0]["after"]["resolutionNote"] == "Calling the dealer"
    assert events[0]["dealerCode"] is None  # a suspicion is not part of a dealer's history


async def test_a_round_over_the_whole_year_checks_surges_with_the_bases_it_computed(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round from the program's first period writes every quarter, then checks surges
    with the bases it has just written instead of reading them back: the same alert."""
    from service.repositories import accruals as accrual_repo
    from service.usecases.engine.dispatch import recompute

    code = await program(deps, "ROUND", accumulation=Accumulation.YEAR_TO_DATE)
    product = f"SKU-{code}"
    await record_transactions(deps, ADMIN, [
        sale("ro1", "A5", "2026-02-10", "950", product),
        sale("ro2", "A5", "2026-05-10", "1000", product),
        sale("ro3", "A5", "2026-08-10", "1050", product),
        sale("ro4", "A5", "2026-10-10", "4000", product),
        sale("ro5", "A6", "2026-02-10", "1000", product),
        sale("ro6", "A6", "2026-10-10", "2999", product)])

    async def no_read(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the round read the bases back")

    monkeypatch.setattr(accrual_repo, "bases_by_period", no_read)
    stored = await program_repo.get(deps.db, code)
    assert stored is not None
    assert await recompute(deps, stored, QUARTERS, None) == 8
    alerts = await alerts_of(deps, programCode=code)
    # A6 had no business in Q2 and Q3 (no accrual, counted as 0): 2999 > 3 × 333.33
    assert [(a["dealerCode"], a["details"]["basis"]) for a in alerts] == [
        ("A5", D("4000")), ("A6", D("2999"))]
    assert [p["basis"] for p in alerts[0]["details"]["previous"]] == [
        D("950"), D("1000"), D("1050")]
    monkeypatch.undo()
    assert await check_surges(deps, code, "2026-Q4", None) == 0  # read back: the same ones
