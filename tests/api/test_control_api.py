"""Control and money lifecycle end to end (SPEC §3 steps 2–5, §4), figures by hand."""
from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from tests.api.control_helpers import accrual, close, settle, trace, violation
from tests.api.engine_helpers import (
    create_program,
    dealer,
    program_input,
    record,
    row,
    run,
    settled,
    wait_for,
)
from tests.conftest import Api

FIGURES = ("basis", "cumulativeBasis", "rate", "grossAmount", "scoreMultiplier",
           "deductionAmount", "adjustmentAmount", "netAmount", "programVersion", "calculation")


def program(api: Api, code: str, **overrides: Any) -> None:
    """Quarterly, 10 % of sales, CASH with 10 % tax withheld."""
    values: dict[str, Any] = {"terms": [{"tiers": [{"threshold": "0", "rate": "10"}]}],
                              "productCodes": [code]}
    values.update(overrides)
    assert create_program(api, code, **values)["userErrors"] == []


def sales(api: Api, code: str, dealer_code: str, *rows: tuple[str, str]) -> None:
    result = record(api, [row(f"{code}-{dealer_code}-{day}-{amount}", dealer_code, "INVOICE",
                              day, amount, productCode=code) for day, amount in rows])
    assert result["errors"] == [], result
    settled(api)


def figures(found: dict[str, Any]) -> dict[str, Any]:
    return {k: found[k] for k in FIGURES}


def test_two_deductions_in_one_period_add_up(api: Api) -> None:
    dealer(api, "DD1")
    program(api, "DEDUCT")
    sales(api, "DEDUCT", "DD1", ("2026-01-10", "10000"), ("2026-04-10", "2000"))
    assert violation(api, "DD1", "2026-02-01", "DEDUCT_PERCENT", "10")["userErrors"] == []
    assert violation(api, "DD1", "2026-03-01", "DEDUCT_PERCENT", "15",
                     type_="CROSS_REGION_SALES")["userErrors"] == []
    q1 = accrual(api, "DEDUCT", "DD1", "2026-Q1")  # applied at once, no run needed
    # 1,000.00 × (1 − 25 %) = 750.00
    assert (q1["grossAmount"], q1["deductionAmount"], q1["netAmount"]) == \
        ("1000.00", "250.00", "750.00")
    assert "PRICE_DISRUPTION" in trace(q1) and "CROSS_REGION_SALES" in trace(q1)
    assert accrual(api, "DEDUCT", "DD1", "2026-Q2")["netAmount"] == "200.00"  # untouched


def test_deductions_are_capped_at_one_hundred_percent(api: Api) -> None:
    dealer(api, "DD2")
    program(api, "DEDUCT2")
    sales(api, "DEDUCT2", "DD2", ("2026-01-10", "1000"))
    violation(api, "DD2", "2026-01-11", "DEDUCT_PERCENT", "70")
    violation(api, "DD2", "2026-01-12", "DEDUCT_PERCENT", "60")
    q1 = accrual(api, "DEDUCT2", "DD2", "2026-Q1")
    assert (q1["deductionAmount"], q1["netAmount"]) == ("100.00", "0.00")


def test_closing_approves_locks_and_goes_in_calendar_order(api: Api) -> None:
    dealer(api, "CL1")
    program(api, "CLOSE")
    sales(api, "CLOSE", "CL1", ("2026-02-10", "3000"), ("2026-05-10", "1000"))
    out_of_order = close(api, "CLOSE", "2026-Q2")
    assert out_of_order["userErrors"][0]["message"] == "close 2026-Q1 first"
    not_ended = close(api, "CLOSE", "2026-Q4")["userErrors"]
    assert "ends on 2026-12-31" in not_ended[0]["message"]
    closed = close(api, "CLOSE", "2026-Q1")
    assert closed["userErrors"] == []
    assert [(a["dealer"]["code"], a["status"], a["netAmount"]) for a in closed["accruals"]] \
        == [("CL1", "APPROVED", "300.00")]
    again = close(api, "CLOSE", "2026-Q1")["userErrors"]
    assert again == [{"field": ["input", "period"], "message": "2026-Q1 is already closed",
                      "code": "LOCKED"}]
    assert accrual(api, "CLOSE", "CL1", "2026-Q2")["status"] == "OPEN"


def test_a_late_transaction_for_a_locked_period_lands_in_the_earliest_open_one(
        api: Api) -> None:
    dealer(api, "LT1")
    program(api, "LATE")
    sales(api, "LATE", "LT1", ("2026-01-10", "1000"))
    close(api, "LATE", "2026-Q1")
    before = accrual(api, "LATE", "LT1", "2026-Q1")
    sales(api, "LATE", "LT1", ("2026-03-30", "500"))  # dated in the closed Q1
    wait_for(lambda: _has(api, "LATE", "LT1", "2026-Q2"))
    q2 = accrual(api, "LATE", "LT1", "2026-Q2")
    assert (q2["basis"], q2["grossAmount"], q2["adjustmentAmount"], q2["netAmount"]) == \
        ("0", "0.00", "50.00", "50.00")
    assert "closed 2026-Q1" in trace(q2) and "late transactions" in trace(q2)
    assert figures(accrual(api, "LATE", "LT1", "2026-Q1")) == figures(before)


def _has(api: Api, program_code: str, dealer_code: str, period: str) -> bool:
    data = api.gql("""query($f: AccrualFilter) { accruals(filter: $f) { totalCount } }""",
                   {"f": {"programCode": program_code, "dealerCode": dealer_code,
                          "period": period}})
    return bool(data["accruals"]["totalCount"])


def test_a_year_to_date_true_up_absorbs_late_data(api: Api) -> None:
    dealer(api, "LY1")
    program(api, "LATEYTD", accumulation="YEAR_TO_DATE",
            terms=[{"tiers": [{"threshold": "0", "rate": "1"},
                              {"threshold": "10000", "rate": "2"}]}])
    sales(api, "LATEYTD", "LY1", ("2026-02-01", "8000"), ("2026-04-01", "1000"))
    close(api, "LATEYTD", "2026-Q1")
    sales(api, "LATEYTD", "LY1", ("2026-03-15", "2000"))  # late, for the closed Q1
    # Q2: cumulative 11,000 × 2 % = 220 − Q1's locked 80 = 140
    wait_for(lambda: accrual(api, "LATEYTD", "LY1", "2026-Q2")["grossAmount"] == "140.00")
    q2 = accrual(api, "LATEYTD", "LY1", "2026-Q2")
    assert q2["adjustmentAmount"] == "0.00" and "Late data" in trace(q2)
    assert accrual(api, "LATEYTD", "LY1", "2026-Q1")["grossAmount"] == "80.00"


def test_settlement_pays_each_dealer_by_payout_form_once(api: Api) -> None:
    for code in ("ST1", "ST2", "ST3"):
        dealer(api, code)
    program(api, "PAY")
    sales(api, "PAY", "ST1", ("2026-01-05", "10000"))
    sales(api, "PAY", "ST2", ("2026-01-06", "1234.50"))
    refused = settle(api, "PAY", "2026-Q1")["userErrors"]
    assert refused[0]["message"] == "close 2026-Q1 before settling it"
    close(api, "PAY", "2026-Q1")
    paid = settle(api, "PAY", "2026-Q1")
    lines = {line["dealer"]["code"]: line for line in paid["settlement"]["lines"]}
    # ST1: 1,000.00, tax 10 % = 100.00; ST2: 123.45, tax 12.345 → 12.35 (half up)
    assert {k: (v["amount"], v["taxWithheld"], v["payable"], v["form"])
            for k, v in lines.items()} == {"ST1": ("1000.00", "100.00", "900.00", "CASH"),
                                           "ST2": ("123.45", "12.35", "111.10", "CASH")}
    assert paid["settlement"]["totalPayable"] == "1011.10"
    assert all(line["accrual"]["status"] == "SETTLED" for line in lines.values())
    again = settle(api, "PAY", "2026-Q1")
    assert again["settlement"] is None
    assert again["userErrors"][0]["code"] == "NOTHING_TO_SETTLE"


def test_credit_notes_carry_the_full_amount(api: Api) -> None:
    dealer(api, "CN1")
    program(api, "CREDIT", payoutForm="CREDIT_NOTE")
    sales(api, "CREDIT", "CN1", ("2026-01-05", "5000"))
    close(api, "CREDIT", "2026-Q1")
    line = settle(api, "CREDIT", "2026-Q1")["settlement"]["lines"][0]
    assert (line["amount"], line["taxWithheld"], line["payable"], line["form"]) == \
        ("500.00", "0.00", "500.00", "CREDIT_NOTE")


def test_two_settle_calls_fired_together_never_pay_twice(api: Api) -> None:
    codes = [f"CC{i}" for i in range(12)]
    for code in codes:
        dealer(api, code)
    program(api, "RACEPAY")
    record(api, [row(f"rp-{code}", code, "INVOICE", "2026-02-02", "1000",
                     productCode="RACEPAY") for code in codes])
    close(api, "RACEPAY", "2026-Q1")
    results: list[dict[str, Any]] = []
    start = threading.Barrier(2)

    def fire() -> None:
        start.wait()
        results.append(settle(api, "RACEPAY", "2026-Q1"))

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paid = [line["accrual"]["id"] for r in results if r["settlement"]
            for line in r["settlement"]["lines"]]
    assert sorted(paid) == sorted(set(paid)) and len(paid) == 12
    documents = api.gql('{ settlements(programCode: "RACEPAY") { totalPayable '
                        "lines { payable } } }")["settlements"]
    assert sum(len(s["lines"]) for s in documents) == 12
    assert sum(Decimal(s["totalPayable"]) for s in documents) == Decimal("1080.00")


def test_a_dispute_accepted_with_an_adjustment_and_one_rejected(api: Api) -> None:
    for code in ("DS1", "DS2"):
        dealer(api, code)
    program(api, "DISPUTE")
    sales(api, "DISPUTE", "DS1", ("2026-01-05", "1000"))
    sales(api, "DISPUTE", "DS2", ("2026-01-05", "2000"))
    early = accrual(api, "DISPUTE", "DS1", "2026-Q1")
    refused = _open(api, early["id"], "DEALER", "DS1")["userErrors"]
    assert refused[0]["code"] == "LOCKED"  # still OPEN: not disputable yet
    close(api, "DISPUTE", "2026-Q1")
    mine = accrual(api, "DISPUTE", "DS1", "2026-Q1")
    theirs = accrual(api, "DISPUTE", "DS2", "2026-Q1")
    nosy = _open(api, theirs["id"], "DEALER", "DS1")
    assert nosy["userErrors"][0]["code"] == "NOT_FOUND" and nosy["dispute"] is None
    opened = _open(api, mine["id"], "DEALER", "DS1")["dispute"]
    assert opened["status"] == "OPEN" and opened["openedBy"] == "test-dealer"
    assert accrual(api, "DISPUTE", "DS1", "2026-Q1")["status"] == "DISPUTED"
    skipped = settle(api, "DISPUTE", "2026-Q1")["settlement"]["lines"]
    assert [line["dealer"]["code"] for line in skipped] == ["DS2"]  # DISPUTED is not paid
    accepted = _resolve(api, opened["id"], True, "25.50", "missing invoice found")
    assert accepted["dispute"]["status"] == "ACCEPTED"
    after = accrual(api, "DISPUTE", "DS1", "2026-Q1")
    assert (after["status"], after["adjustmentAmount"], after["netAmount"]) == \
        ("APPROVED", "25.50", "125.50")
    assert "dispute accepted: missing invoice found" in trace(after)
    second = _open(api, after["id"], "SALES")["dispute"]
    rejected = _resolve(api, second["id"], False, None, "figures are right")
    assert rejected["dispute"]["status"] == "REJECTED"
    final = accrual(api, "DISPUTE", "DS1", "2026-Q1")
    assert (final["status"], final["netAmount"]) == ("APPROVED", "125.50")
    assert settle(api, "DISPUTE", "2026-Q1")["settlement"]["totalPayable"] == "112.95"
    twice = _resolve(api, second["id"], True, None, None)
    assert twice["userErrors"][0]["code"] == "LOCKED"
    mine_only = api.gql("{ disputes { reason accrual { dealer { code } } } }", role="DEALER",
                        dealer="DS2")
    assert mine_only == {"disputes": []}


def _open(api: Api, accrual_id: str, role: str, dealer_code: str | None = None,
          ) -> dict[str, Any]:
    return api.gql("""mutation($input: OpenDisputeInput!) { openDispute(input: $input) {
        dispute { id status reason openedBy openedAt accrual { id status } }
        userErrors { field message code } } }""",
                   {"input": {"accrualId": accrual_id, "reason": "an invoice is missing"}},
                   role=role, dealer=dealer_code)["openDispute"]


def _resolve(api: Api, dispute_id: str, accept: bool, amount: str | None,
             note: str | None) -> dict[str, Any]:
    return api.gql("""mutation($input: ResolveDisputeInput!) { resolveDispute(input: $input) {
        dispute { id status adjustmentAmount resolutionNote }
        userErrors { field message code } } }""",
                   {"input": {"disputeId": dispute_id, "accept": accept,
                              "adjustmentAmount": amount, "note": note}},
                   role="FINANCE")["resolveDispute"]


def test_forfeiture_after_settlement_reclaims_the_money(api: Api) -> None:
    dealer(api, "FY1")
    program(api, "FORFEIT")
    sales(api, "FORFEIT", "FY1", ("2026-01-05", "5000"), ("2026-04-05", "1000"))
    close(api, "FORFEIT", "2026-Q1")
    settle(api, "FORFEIT", "2026-Q1")
    paid = accrual(api, "FORFEIT", "FY1", "2026-Q1")
    assert (paid["status"], paid["netAmount"]) == ("SETTLED", "500.00")
    result = violation(api, "FY1", "2026-05-20", "FORFEIT_YEAR", type_="COUNTERFEIT",
                       role="ADMIN")
    assert result["violation"]["dealer"]["status"] == "DISQUALIFIED"
    assert figures(accrual(api, "FORFEIT", "FY1", "2026-Q1")) == figures(paid)
    q2 = accrual(api, "FORFEIT", "FY1", "2026-Q2")
    # Q2's own 100.00 is forfeited, and the 500.00 paid for Q1 is reclaimed here
    assert (q2["status"], q2["grossAmount"], q2["adjustmentAmount"], q2["netAmount"]) == \
        ("FORFEITED", "100.00", "-500.00", "-500.00")
    assert "reclaim of CNY 500.00 settled for 2026-Q1" in trace(q2)
    sales(api, "FORFEIT", "FY1", ("2026-07-05", "1000"))
    wait_for(lambda: accrual(api, "FORFEIT", "FY1", "2026-Q3")["status"] == "FORFEITED")
    reinstated = api.gql('mutation { reinstateDealer(input: {dealerCode: "FY1", '
                         'note: "appeal upheld"}) { dealer { status } userErrors { code } } }',
                         role="ADMIN")["reinstateDealer"]
    assert reinstated["dealer"] == {"status": "ACTIVE"}
    assert accrual(api, "FORFEIT", "FY1", "2026-Q3")["status"] == "FORFEITED"


def test_forfeit_period_zeroes_one_period_only(api: Api) -> None:
    dealer(api, "FP1")
    program(api, "FPERIOD")
    sales(api, "FPERIOD", "FP1", ("2026-04-05", "1000"), ("2026-07-05", "1000"))
    violation(api, "FP1", "2026-05-01", "FORFEIT_PERIOD", type_="COMPETITOR_PRODUCTS")
    q2, q3 = accrual(api, "FPERIOD", "FP1", "2026-Q2"), accrual(api, "FPERIOD", "FP1", "2026-Q3")
    assert (q2["status"], q2["netAmount"], q3["status"], q3["netAmount"]) == \
        ("FORFEITED", "0.00", "OPEN", "100.00")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"penalty": {"kind": "DEDUCT_PERCENT"}}, ["input", "penalty", "percent"]),
    ({"penalty": {"kind": "DEDUCT_PERCENT", "percent": "120"}}, ["input", "penalty", "percent"]),
    ({"penalty": {"kind": "FORFEIT_PERIOD", "percent": "5"}}, ["input", "penalty", "percent"]),
    ({"occurredOn": "2026-12-01"}, ["input", "occurredOn"]),
    ({"description": " "}, ["input", "description"]),
    ({"dealerCode": "GHOST"}, ["input", "dealerCode"]),
])
def test_bad_violations_name_the_field_and_store_nothing(api: Api, overrides: dict[str, Any],
                                                         field: list[str]) -> None:
    dealer(api, "BV1")
    values = {"dealerCode": "BV1", "type": "OTHER", "occurredOn": "2026-03-01",
              "description": "something", "penalty": {"kind": "FORFEIT_PERIOD"}, **overrides}
    result = api.gql("""mutation($input: ViolationInput!) { recordViolation(input: $input) {
        violation { id } userErrors { field code } } }""", {"input": values})["recordViolation"]
    assert result["violation"] is None and [e["field"] for e in result["userErrors"]] == [field]
    assert api.gql('{ dealer(code: "BV1") { violations { id } } }')["dealer"] == \
        {"violations": []}


def test_no_mutation_changes_a_locked_or_settled_figure(api: Api) -> None:
    for code in ("NL1", "NL2"):
        dealer(api, code, region="EAST")
    program(api, "NOLOCK")
    sales(api, "NOLOCK", "NL1", ("2026-01-05", "1000"))
    sales(api, "NOLOCK", "NL2", ("2026-01-05", "3000"))
    close(api, "NOLOCK", "2026-Q1")
    settle(api, "NOLOCK", "2026-Q1")
    sales(api, "NOLOCK", "NL2", ("2026-04-05", "10"))
    close(api, "NOLOCK", "2026-Q2")
    paid, approved = accrual(api, "NOLOCK", "NL1", "2026-Q1"), \
        accrual(api, "NOLOCK", "NL2", "2026-Q2")
    assert (paid["status"], approved["status"]) == ("SETTLED", "APPROVED")
    attempts = [
        lambda: sales(api, "NOLOCK", "NL1", ("2026-02-05", "999")),
        lambda: sales(api, "NOLOCK", "NL2", ("2026-05-05", "999")),
        lambda: run(api, "NOLOCK", "2026-Q1"),
        lambda: run(api, "NOLOCK", "2026-Q2"),
        lambda: api.gql("""mutation($input: ProgramInput!) { updateProgram(input: $input) {
            userErrors { code } } }""", {"input": program_input(
            "NOLOCK", productCodes=["NOLOCK"], activate=None,
            terms=[{"tiers": [{"threshold": "0", "rate": "50"}]}])}),
        lambda: violation(api, "NL1", "2026-02-10", "DEDUCT_PERCENT", "50"),
        lambda: violation(api, "NL2", "2026-05-10", "FORFEIT_PERIOD"),
        lambda: dealer(api, "NL1", region="WEST", status="SUSPENDED"),
        lambda: api.gql('mutation { upsertSegment(input: {code: "NLSEG", name: "n", '
                        'priority: 77, dealerCodes: ["NL1", "NL2"]}) { userErrors { code } } }'),
        lambda: api.gql("mutation { refreshSegments { segments } }"),
        lambda: close(api, "NOLOCK", "2026-Q1"),
        lambda: settle(api, "NOLOCK", "2026-Q1"),
        lambda: _open(api, paid["id"], "ADMIN"),
    ]
    for attempt in attempts:
        attempt()
    settled(api)
    assert figures(accrual(api, "NOLOCK", "NL1", "2026-Q1")) == figures(paid)
    assert accrual(api, "NOLOCK", "NL1", "2026-Q1")["status"] == "SETTLED"
    now_approved = accrual(api, "NOLOCK", "NL2", "2026-Q2")
    assert {k: v for k, v in figures(now_approved).items() if k != "calculation"} == \
        {k: v for k, v in figures(approved).items() if k != "calculation"}
