"""Immediate rebates (现返) end to end: every transaction its own basis (SPEC §3
"Per-transaction tiers"), and the validation of the new policy combinations."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.api.engine_helpers import dealer, record, row, settled
from tests.api.policy_helpers import accrual, create, created, run_period, trace
from tests.conftest import Api

PUSH = [{"threshold": "100000", "rate": "2"}]  # every order of 100,000 or more earns 2 %


@pytest.fixture(scope="module", autouse=True)
def dealers(api: Api) -> None:
    for code in ("P1", "P2", "P3", "P4"):
        dealer(api, code, region="SOUTH")


def push(api: Api, code: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"tierEvaluation": "EACH_TRANSACTION", "periodKind": "MONTH",
                              "productCodes": [code], "payoutForm": "CREDIT_NOTE",
                              "taxRate": "0", "terms": [{"tiers": PUSH}]}
    values.update(overrides)
    return created(api, code, **values)


def orders(api: Api, code: str, dealer_code: str, *rows: tuple[str, str, str]) -> None:
    """rows: (kind, date, amount)."""
    result = record(api, [row(f"{code}-{dealer_code}-{n}", dealer_code, kind, day, amount,
                              productCode=code, quantity="1")
                          for n, (kind, day, amount) in enumerate(rows)])
    assert result["errors"] == [], result
    settled(api)


def earned(amount: str) -> Decimal:
    """What one transaction of this amount earns on its own, by hand."""
    value = Decimal(amount)
    return value * 2 / 100 if value >= 100_000 else Decimal(0)


def test_each_order_earns_on_its_own_and_a_return_reverses_what_it_would_earn(
        api: Api) -> None:
    program = push(api, "PUSH")
    assert (program["tierEvaluation"], program["tierMeasure"], program["accumulation"]) == \
        ("EACH_TRANSACTION", "BASIS", "PER_PERIOD")
    orders(api, "PUSH", "P1", ("INVOICE", "2026-03-02", "150000"),
           ("INVOICE", "2026-03-09", "80000"), ("INVOICE", "2026-03-16", "120000"),
           ("RETURN", "2026-03-23", "120000"))
    march = accrual(api, "PUSH", "P1", "2026-03")
    # 2 % × 150,000 + 0 (80,000 is under the threshold) + 2 % × 120,000 − 2 % × 120,000
    expected = earned("150000") + earned("80000") + earned("120000") - earned("120000")
    assert expected == Decimal(3000)
    assert (march["grossAmount"], march["netAmount"], march["status"]) == \
        ("3000.00", "3000.00", "OPEN")
    # Evaluated as one period total, 230,000 would have earned 4,600: not what 现返 means.
    # "3 transactions: 2 at tier ≥ CNY 100,000.00 (2%): CNY 5,400.00, 1 below the first
    # tier; 1 return reversed CNY 2,400.00"
    words = trace(march).replace(" %", "%")
    for piece in ("3 transactions", "2 at tier", "100,000.00", "(2%)", "5,400.00",
                  "1 below", "1 return", "2,400.00"):
        assert piece in words, (piece, words)


def test_a_return_in_a_later_month_claws_back_only_what_an_order_that_size_earns(
        api: Api) -> None:
    push(api, "PUSHB")
    orders(api, "PUSHB", "P2", ("INVOICE", "2026-04-07", "250000"),
           ("RETURN", "2026-05-04", "110000"), ("RETURN", "2026-05-11", "60000"))
    april = accrual(api, "PUSHB", "P2", "2026-04")
    may = accrual(api, "PUSHB", "P2", "2026-05")
    assert april["grossAmount"] == f"{earned('250000'):.2f}" == "5000.00"
    # −2 % × 110,000; the 60,000 return is below the threshold and reverses nothing
    assert may["grossAmount"] == f"{-earned('110000') - earned('60000'):.2f}" == "-2200.00"


def test_the_run_mutation_agrees_with_the_worker(api: Api) -> None:
    push(api, "PUSHC", terms=[{"tiers": [{"threshold": "0", "rate": "1"},
                                         {"threshold": "50000", "rate": "3"}]}],
         tierMode="INCREMENTAL")
    orders(api, "PUSHC", "P3", ("INVOICE", "2026-06-01", "70000"),
           ("INVOICE", "2026-06-02", "30000"))
    by_worker = accrual(api, "PUSHC", "P3", "2026-06")
    # 70,000: 1 % × 50,000 + 3 % × 20,000 = 1,100; 30,000: 1 % × 30,000 = 300
    assert by_worker["grossAmount"] == "1400.00"
    assert run_period(api, "PUSHC", "2026-06")["P3"]["grossAmount"] == "1400.00"


@pytest.mark.parametrize(("overrides", "fields"), [
    ({"tierMode": "ON_EXCESS_OVER_TARGET"}, {"tierMode", "tierMeasure"}),
    ({"tierMeasure": "TARGET_ACHIEVEMENT", "tierMode": "ON_EXCESS_OVER_TARGET",
      "rateKind": "FIXED"}, {"tierMode", "rateKind"}),
    ({"tierEvaluation": "EACH_TRANSACTION", "accumulation": "YEAR_TO_DATE"},
     {"tierEvaluation", "accumulation"}),
    ({"tierEvaluation": "EACH_TRANSACTION", "tierMeasure": "TARGET_ACHIEVEMENT"},
     {"tierEvaluation", "tierMeasure"}),
    ({"minimumPayout": "0"}, {"minimumPayout"}),
    ({"minimumPayout": "-100"}, {"minimumPayout"}),
])
def test_policy_combinations_that_make_no_sense_are_refused_naming_the_field(
        api: Api, overrides: dict[str, str], fields: set[str]) -> None:
    slug = "".join(c for c in "".join(sorted(overrides.values())) if c.isalnum())[:24]
    result = create(api, f"BAD-{slug}", **overrides)
    assert result["program"] is None
    named = {e["field"][-1] for e in result["userErrors"]}
    assert named and named <= fields, result["userErrors"]
    assert {e["code"] for e in result["userErrors"]} == {"INVALID"}
    assert api.gql("query($c: String!) { program(code: $c) { code } }",
                   {"c": f"BAD-{slug}"})["program"] is None


def test_the_defaults_keep_existing_programs_as_they_were(api: Api) -> None:
    program = created(api, "PLAIN")
    assert (program["tierMeasure"], program["tierEvaluation"], program["minimumPayout"]) == \
        ("BASIS", "PERIOD_TOTAL", None)
    orders(api, "PLAIN", "P4", ("INVOICE", "2026-02-02", "150000"),
           ("INVOICE", "2026-02-03", "80000"))
    assert accrual(api, "PLAIN", "P4", "2026-Q1")["grossAmount"] == "2300.00"  # 1 % of 230,000


@pytest.mark.parametrize(("order", "projected", "threshold", "at_threshold"), [
    # earned so far: 150,000 → 3,000; an order under the threshold adds nothing and needs
    # 100,000 − order more; one over it adds 2 % and the top tier is reached
    ("40000", "3000.00", "100000", "5000.00"),
    ("99999.99", "3000.00", "100000", "5000.00"),
    ("100000", "5000.00", None, None),
    ("200000", "7000.00", None, None),
])
def test_the_forecast_of_an_immediate_program_is_one_more_order(
        api: Api, order: str, projected: str, threshold: str | None,
        at_threshold: str | None) -> None:
    code = f"PUSHF{order.replace('.', '')}"
    push(api, code)
    orders(api, code, "P4", ("INVOICE", "2026-11-02", "150000"),
           ("INVOICE", "2026-11-09", "30000"))
    forecast = api.gql("""query($code: String!, $order: Decimal!) { rebateForecast(
        dealerCode: "P4", programCode: $code, period: "2026-11", additionalBasis: $order) {
        currentBasis currentRebate projectedBasis projectedRebate nextTierThreshold
        amountToNextTier rebateAtNextTier scope periodRebate explanation } }""",
                       {"code": code, "order": order}, role="DEALER", dealer="P4",
                       headers={"accept-language": "zh-CN"})["rebateForecast"]
    so_far = earned("150000") + earned("30000")
    assert Decimal(forecast["currentRebate"]) == so_far == Decimal(3000)
    assert Decimal(forecast["currentBasis"]) == Decimal(180000)
    assert Decimal(forecast["projectedBasis"]) == Decimal(180000) + Decimal(order)
    assert Decimal(forecast["projectedRebate"]) == so_far + earned(order) == Decimal(projected)
    assert forecast["scope"] == "PERIOD" and Decimal(forecast["periodRebate"]) == so_far
    if threshold is None:
        assert forecast["nextTierThreshold"] is None and forecast["rebateAtNextTier"] is None
        assert "最高档位" in forecast["explanation"]
    else:
        assert Decimal(forecast["nextTierThreshold"]) == Decimal(threshold)
        assert Decimal(forecast["amountToNextTier"]) == Decimal(threshold) - Decimal(order)
        assert Decimal(forecast["rebateAtNextTier"]) == so_far + earned(threshold) \
            == Decimal(at_threshold)
        assert "单笔订单达到" in forecast["explanation"]
    assert "每笔订单单独计算返利" in forecast["explanation"]
