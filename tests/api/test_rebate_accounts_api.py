"""Rebate accounts end to end (SPEC §4a, issue 11), as a CRM/ERP order flow calls them.

Money reaches an account only the real way: a CREDIT_NOTE program, invoices, the period
closed and settled (today is 2026-11-20). Every expected figure is worked out by hand with
Decimal from the inputs.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from service.config import Settings
from tests.api.account_helpers import (
    ENTRY_FIELDS,
    PAYLOAD_FIELDS,
    TODAY,
    account,
    accounts,
    capture,
    caught_up,
    cents,
    check_ledger,
    create_credit_program,
    entries,
    figures,
    fund,
    ok,
    refund,
    refused,
    release,
    reserve,
    serving_on,
)
from tests.api.control_helpers import close, settle, violation
from tests.api.engine_helpers import dealer, program_input, record, row
from tests.conftest import Api

STATE = ("INVALID", "CONFLICT")  # an operation the use's state does not allow


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """Hundreds of concurrent calls with one SERVICE token: no rate limit in this module."""
    return settings.model_copy(update={"rate_limit_per_minute": 0})


def kinds(found: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in found]


def funded(api: Api, dealer_code: str, amount: str, program: str | None = None,
           days: int | None = None, **dealer_fields: Any) -> dict[str, Any]:
    """A new dealer with `amount` credited by settling its own CREDIT_NOTE program."""
    dealer(api, dealer_code, **dealer_fields)
    return fund(api, program or f"P-{dealer_code}", {dealer_code: amount}, days)


# ---- credits (settle of CREDIT_NOTE programs) -------------------------------------------

def test_settling_a_credit_note_program_credits_each_line_payable_with_its_expiry(
        api: Api) -> None:
    dealer(api, "CR-A")
    dealer(api, "CR-B")
    settlement = fund(api, "P-CREDIT", {"CR-A": "1234.50", "CR-B": "800.00"}, days=90)
    lines = {line["dealer"]["code"]: line for line in settlement["lines"]}
    # CREDIT_NOTE carries the full amount: no tax withheld even though taxRate is 10
    assert {(c, line["payable"], line["taxWithheld"], line["form"])
            for c, line in lines.items()} == {("CR-A", "1234.50", "0.00", "CREDIT_NOTE"),
                                              ("CR-B", "800.00", "0.00", "CREDIT_NOTE")}
    expires = (TODAY + dt.timedelta(days=90)).isoformat()
    assert expires == "2027-02-18"
    for code, payable in (("CR-A", "1234.50"), ("CR-B", "800.00")):
        found = accounts(api, code)
        assert found is not None and [(a["currency"], a["dealer"]) for a in found] == \
            [("CNY", {"code": code})]
        assert figures(api, code) == (payable, "0.00", payable)
        [credit] = entries(api, code)
        assert (credit["kind"], credit["amount"], credit["balanceAfter"],
                cents(credit["reservedAfter"]), credit["expiresOn"], credit["orderId"]) == \
            ("CREDIT", payable, payable, "0.00", expires, None)
        assert credit["settlementId"] is not None
    assert len({e["settlementId"] for code in ("CR-A", "CR-B") for e in entries(api, code)}) == 1
    assert api.gql('{ program(code: "P-CREDIT") { creditValidityDays } }')["program"] == \
        {"creditValidityDays": 90}


def test_a_credit_names_the_settlement_that_paid_it(api: Api) -> None:
    """settlementId is the Settlement's id as the API gives it, so node(id:) finds it."""
    settlement = funded(api, "CR-LINK", "64.00", days=30)
    [credit] = entries(api, "CR-LINK")
    assert credit["settlementId"] == settlement["id"]
    found = api.gql("""query($id: ID!) { node(id: $id) { ... on Settlement { id period
        lines { dealer { code } payable } } } }""", {"id": credit["settlementId"]})["node"]
    assert found == {"id": settlement["id"], "period": "2026-Q1",
                     "lines": [{"dealer": {"code": "CR-LINK"}, "payable": "64.00"}]}


def test_a_credit_without_validity_days_never_expires(api: Api) -> None:
    funded(api, "CR-NV", "50.00")
    [credit] = entries(api, "CR-NV")
    assert (credit["kind"], credit["amount"], credit["expiresOn"]) == ("CREDIT", "50.00", None)


@pytest.mark.parametrize("overrides", [
    {"creditValidityDays": 0}, {"creditValidityDays": -30},
    {"creditValidityDays": 30, "payoutForm": "CASH"},
])
def test_bad_credit_validity_names_the_field_and_stores_nothing(
        api: Api, overrides: dict[str, Any]) -> None:
    values = {"payoutForm": "CREDIT_NOTE", **overrides}
    result = api.gql("""mutation($input: ProgramInput!) { createProgram(input: $input) {
        program { code } userErrors { field code } } }""",
                     {"input": program_input("P-BAD-DAYS", **values)})["createProgram"]
    assert result["program"] is None
    assert result["userErrors"] == [{"field": ["input", "creditValidityDays"],
                                     "code": "INVALID"}]
    assert api.gql('{ program(code: "P-BAD-DAYS") { code } }')["program"] is None


def test_a_retried_settle_credits_once(api: Api) -> None:
    first = funded(api, "CR-RT", "300.00", days=30)
    before, ledger = figures(api, "CR-RT"), entries(api, "CR-RT")
    again = settle(api, "P-CR-RT", "2026-Q1")
    assert again["userErrors"] == [] or again["settlement"] is None, again
    if again["settlement"] is not None:  # nothing approved since: nothing paid twice
        assert again["settlement"]["id"] == first["id"] or \
            Decimal(again["settlement"]["totalPayable"]) == 0, again
    assert figures(api, "CR-RT") == before == ("300.00", "0.00", "300.00")
    assert entries(api, "CR-RT") == ledger and kinds(ledger) == ["CREDIT"]


def test_two_settle_calls_fired_together_credit_once(api: Api) -> None:
    codes = [f"CR-TW{i}" for i in range(6)]
    for code in codes:
        dealer(api, code)
    create_credit_program(api, "P-CR-TW", days=30)
    record(api, [row(f"tw-{code}", code, "INVOICE", "2026-02-02", f"{1000 * (i + 1)}",
                     productCode="P-CR-TW") for i, code in enumerate(codes)])
    caught_up(api)
    assert close(api, "P-CR-TW", "2026-Q1")["userErrors"] == []
    start = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def fire() -> None:
        start.wait()
        results.append(settle(api, "P-CR-TW", "2026-Q1"))

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for r in results if r["settlement"]) >= 1, results
    for i, code in enumerate(codes):
        credit = f"{Decimal(100 * (i + 1)):.2f}"  # 10 % of 1,000 × (i + 1)
        assert figures(api, code) == (credit, "0.00", credit)
        assert kinds(entries(api, code)) == ["CREDIT"]


def test_each_settled_period_is_a_credit_of_its_own(api: Api) -> None:
    dealer(api, "CR-Q2")
    fund(api, "P-CR-Q2", {"CR-Q2": "100.00"}, days=30)
    assert record(api, [row("q2-CR-Q2", "CR-Q2", "INVOICE", "2026-05-05", "2500",
                            productCode="P-CR-Q2")])["errors"] == []
    caught_up(api)
    assert close(api, "P-CR-Q2", "2026-Q2")["userErrors"] == []
    q2 = settle(api, "P-CR-Q2", "2026-Q2")["settlement"]
    ledger = check_ledger(api, "CR-Q2")
    assert [(e["kind"], e["amount"], e["balanceAfter"]) for e in ledger] == [
        ("CREDIT", "100.00", "100.00"), ("CREDIT", "250.00", "350.00")]
    assert None is not ledger[1]["settlementId"] != ledger[0]["settlementId"] is not None
    assert q2["lines"][0]["payable"] == "250.00"


def test_credits_are_in_the_program_currency(api: Api) -> None:
    dealer(api, "CR-USD")
    fund(api, "P-CR-USD", {"CR-USD": "40.00"}, days=10, currency="USD")
    assert [(a["currency"], a["balance"]) for a in accounts(api, "CR-USD") or []] == \
        [("USD", "40.00")]
    refused(reserve(api, "CR-USD", "O-CR-USD-1", "1.00", currency="CNY"),
            "INSUFFICIENT_BALANCE")
    assert ok(reserve(api, "CR-USD", "O-CR-USD-2", "40.00", currency="USD"))["use"][
        "currency"] == "USD"


def test_cash_programs_credit_nothing(api: Api) -> None:
    dealer(api, "CR-CASH")
    fund(api, "P-CR-CASH", {"CR-CASH": "500.00"}, payoutForm="CASH")
    found = accounts(api, "CR-CASH")
    assert found is not None
    assert all(cents(a["balance"]) == "0.00" for a in found), found
    assert entries(api, "CR-CASH") == []
    refused(reserve(api, "CR-CASH", "O-CASH-1", "1.00"), "INSUFFICIENT_BALANCE")


def test_each_transaction_programs_are_credited_the_same_way(api: Api) -> None:
    dealer(api, "CR-ET")
    program = program_input(
        "P-CR-ET", payoutForm="CREDIT_NOTE", creditValidityDays=60, periodKind="MONTH",
        validFrom="2026-02-01", tierEvaluation="EACH_TRANSACTION", productCodes=["P-CR-ET"],
        terms=[{"tiers": [{"threshold": "100000", "rate": "2"}]}])
    created = api.gql("""mutation($input: ProgramInput!) { createProgram(input: $input) {
        userErrors { field message code } } }""", {"input": program})["createProgram"]
    assert created["userErrors"] == []
    record(api, [row("ET-1", "CR-ET", "INVOICE", "2026-02-03", "150000", productCode="P-CR-ET"),
                 row("ET-2", "CR-ET", "INVOICE", "2026-02-04", "90000", productCode="P-CR-ET"),
                 row("ET-3", "CR-ET", "INVOICE", "2026-02-05", "100000",
                     productCode="P-CR-ET")])
    caught_up(api)
    assert close(api, "P-CR-ET", "2026-02")["userErrors"] == []
    settlement = settle(api, "P-CR-ET", "2026-02")["settlement"]
    # 2 % × 150,000 + 0 (90,000 is under the tier) + 2 % × 100,000 = 5,000.00
    [credit] = entries(api, "CR-ET")
    assert (credit["kind"], credit["amount"], credit["expiresOn"]) == \
        ("CREDIT", "5000.00", (TODAY + dt.timedelta(days=60)).isoformat())
    assert credit["settlementId"] is not None and settlement["totalPayable"] == "5000.00"


# ---- reserve, capture, release, refund ------------------------------------------------------

def test_reserve_capture_then_refund_part_and_then_the_rest(api: Api) -> None:
    funded(api, "US-1", "1000.00", days=365)
    held = ok(reserve(api, "US-1", "O-US1", "400.00", order_amount="5000"))
    assert {**held["use"], "refunded": cents(held["use"]["refunded"])} == {
        "orderId": "O-US1", "dealer": {"code": "US-1"}, "currency": "CNY", "amount": "400.00",
        "refunded": "0.00", "status": "RESERVED"}
    assert held["account"]["balance"] == "1000.00"
    assert (held["account"]["reserved"], held["account"]["available"]) == ("400.00", "600.00")
    spent = ok(capture(api, "O-US1"))
    assert (spent["use"]["status"], spent["use"]["amount"]) == ("CAPTURED", "400.00")
    assert figures(api, "US-1") == ("600.00", "0.00", "600.00")
    part = ok(refund(api, "O-US1", "150.00", refund_id="RET-1"))
    assert (part["use"]["status"], part["use"]["refunded"]) == ("CAPTURED", "150.00")
    assert figures(api, "US-1") == ("750.00", "0.00", "750.00")
    assert refund(api, "O-US1", "150.00", refund_id="RET-1") == part  # the same call again
    refused(refund(api, "O-US1", "250.00", refund_id="RET-1"), "CONFLICT", ["input", "amount"])
    rest = ok(refund(api, "O-US1", "250.00", refund_id="RET-2"))
    assert rest["use"]["refunded"] == "400.00"
    assert figures(api, "US-1") == ("1000.00", "0.00", "1000.00")
    ledger = check_ledger(api, "US-1")
    assert [(e["kind"], e["amount"], e["orderId"]) for e in ledger] == [
        ("CREDIT", "1000.00", None), ("RESERVE", "400.00", "O-US1"),
        ("CAPTURE", "-400.00", "O-US1"), ("REFUND", "150.00", "O-US1"),
        ("REFUND", "250.00", "O-US1")]


def test_a_refund_beyond_captured_less_refunded_is_refused(api: Api) -> None:
    funded(api, "US-2", "500.00")
    ok(reserve(api, "US-2", "O-US2", "200.00"))
    ok(capture(api, "O-US2"))
    refused(refund(api, "O-US2", "200.01", refund_id="R1"), STATE, ["input", "amount"])
    ok(refund(api, "O-US2", "120.00", refund_id="R1"))
    before = entries(api, "US-2")
    refused(refund(api, "O-US2", "80.01", refund_id="R2"), STATE, ["input", "amount"])
    assert entries(api, "US-2") == before
    assert figures(api, "US-2") == ("420.00", "0.00", "420.00")  # 500 − 200 + 120
    ok(refund(api, "O-US2", "80.00", refund_id="R2"))
    refused(refund(api, "O-US2", "0.01", refund_id="R3"), STATE, ["input", "amount"])
    assert figures(api, "US-2") == ("500.00", "0.00", "500.00")
    check_ledger(api, "US-2")


def test_reserve_then_release_frees_the_money(api: Api) -> None:
    funded(api, "US-3", "300.00")
    ok(reserve(api, "US-3", "O-US3", "300.00"))
    assert figures(api, "US-3") == ("300.00", "300.00", "0.00")
    freed = ok(release(api, "O-US3"))
    assert (freed["use"]["status"], freed["use"]["amount"]) == ("RELEASED", "300.00")
    assert figures(api, "US-3") == ("300.00", "0.00", "300.00")
    ledger = check_ledger(api, "US-3")
    assert [(e["kind"], e["amount"]) for e in ledger] == [
        ("CREDIT", "300.00"), ("RESERVE", "300.00"), ("RELEASE", "-300.00")]
    ok(reserve(api, "US-3", "O-US3-B", "300.00"))  # the freed money can be used again


def test_capture_after_release_and_release_after_capture_are_refused(api: Api) -> None:
    funded(api, "US-4", "600.00")
    ok(reserve(api, "US-4", "O-US4-CANCELLED", "100.00"))
    ok(release(api, "O-US4-CANCELLED"))
    ok(reserve(api, "US-4", "O-US4-CONFIRMED", "200.00"))
    ok(capture(api, "O-US4-CONFIRMED"))
    before = entries(api, "US-4")
    refused(capture(api, "O-US4-CANCELLED"), STATE)
    refused(release(api, "O-US4-CONFIRMED"), STATE)
    refused(refund(api, "O-US4-CANCELLED", "10.00"), STATE)  # released: never captured
    assert entries(api, "US-4") == before
    assert figures(api, "US-4") == ("400.00", "0.00", "400.00")


def test_a_refund_of_an_order_never_captured_is_refused(api: Api) -> None:
    funded(api, "US-5", "100.00")
    ok(reserve(api, "US-5", "O-US5", "60.00"))
    refused(refund(api, "O-US5", "10.00"), STATE)
    refused(refund(api, "O-US5-NEVER", "10.00"), "NOT_FOUND", ["input", "orderId"])
    assert figures(api, "US-5") == ("100.00", "60.00", "40.00")
    assert kinds(entries(api, "US-5")) == ["RESERVE", "CREDIT"]


@pytest.mark.parametrize("call", [capture, release])
def test_capture_or_release_of_an_unknown_order_is_not_found(api: Api, call: Any) -> None:
    refused(call(api, f"O-GHOST-{call.__name__}"), "NOT_FOUND", ["input", "orderId"])


# ---- idempotency by orderId ----------------------------------------------------------------

def test_the_same_reserve_repeated_answers_the_same_and_changes_nothing(api: Api) -> None:
    funded(api, "ID-1", "1000.00")
    first = ok(reserve(api, "ID-1", "O-ID1", "250.00", order_amount="3000"))
    ledger = entries(api, "ID-1")
    for _ in range(3):
        assert reserve(api, "ID-1", "O-ID1", "250.00", order_amount="3000") == first
    assert entries(api, "ID-1") == ledger
    assert figures(api, "ID-1") == ("1000.00", "250.00", "750.00")


def test_the_same_order_id_with_another_amount_is_a_conflict(api: Api) -> None:
    funded(api, "ID-2", "1000.00")
    dealer(api, "ID-2-OTHER")
    ok(reserve(api, "ID-2", "O-ID2", "250.00"))
    ledger = entries(api, "ID-2")
    refused(reserve(api, "ID-2", "O-ID2", "250.01"), "CONFLICT")
    refused(reserve(api, "ID-2", "O-ID2", "250.00", currency="USD"), "CONFLICT")
    refused(reserve(api, "ID-2-OTHER", "O-ID2", "250.00"), "CONFLICT")
    assert entries(api, "ID-2") == ledger
    assert figures(api, "ID-2") == ("1000.00", "250.00", "750.00")
    # a finished order's id cannot be reused for a new reservation either
    ok(capture(api, "O-ID2"))
    refused(reserve(api, "ID-2", "O-ID2", "99.00"), "CONFLICT")
    assert figures(api, "ID-2") == ("750.00", "0.00", "750.00")


def test_capture_and_release_repeated_answer_the_same_and_change_nothing(api: Api) -> None:
    funded(api, "ID-3", "1000.00")
    ok(reserve(api, "ID-3", "O-ID3-C", "100.00"))
    ok(reserve(api, "ID-3", "O-ID3-R", "200.00"))
    captured, freed = ok(capture(api, "O-ID3-C")), ok(release(api, "O-ID3-R"))
    ledger = entries(api, "ID-3")
    # the same use; the account is shown as it stands (the release came after the capture)
    assert capture(api, "O-ID3-C")["use"] == captured["use"]
    assert release(api, "O-ID3-R") == freed
    # a late retry of the reserve after the capture changes nothing either
    again = ok(reserve(api, "ID-3", "O-ID3-C", "100.00"))
    assert (again["use"]["orderId"], again["use"]["amount"]) == ("O-ID3-C", "100.00")
    assert entries(api, "ID-3") == ledger
    assert figures(api, "ID-3") == ("900.00", "0.00", "900.00")
    assert kinds(ledger).count("CAPTURE") == 1 and kinds(ledger).count("RELEASE") == 1


def test_a_repeated_full_refund_changes_nothing(api: Api) -> None:
    funded(api, "ID-4", "1000.00")
    ok(reserve(api, "ID-4", "O-ID4", "100.00"))
    ok(capture(api, "O-ID4"))
    first = ok(refund(api, "O-ID4", "100.00"))
    ledger = entries(api, "ID-4")
    assert refund(api, "O-ID4", "100.00") == first
    assert entries(api, "ID-4") == ledger
    assert figures(api, "ID-4") == ("1000.00", "0.00", "1000.00")


def test_the_same_reserve_sent_concurrently_is_stored_once(api: Api) -> None:
    funded(api, "ID-5", "1000.00")
    token = api.token("SERVICE")
    answers = _concurrently(api, token, [("ID-5", "O-ID5", "70.00")] * 20, workers=20)
    payloads = [a["data"]["reserveRebate"] for a in answers]
    assert all(p["userErrors"] == [] for p in payloads), payloads
    assert {json.dumps({**p["use"], "refunded": cents(p["use"]["refunded"])}, sort_keys=True)
            for p in payloads} == \
        {json.dumps({"orderId": "O-ID5", "dealer": {"code": "ID-5"}, "currency": "CNY",
                     "amount": "70.00", "refunded": "0.00", "status": "RESERVED"},
                    sort_keys=True)}
    assert kinds(entries(api, "ID-5")) == ["RESERVE", "CREDIT"]
    assert figures(api, "ID-5") == ("1000.00", "70.00", "930.00")


def test_one_order_id_reserved_at_once_with_different_amounts_is_held_once(api: Api) -> None:
    funded(api, "ID-6", "1000.00")
    amounts = [f"{10 + n}.00" for n in range(20)]
    answers = [a["data"]["reserveRebate"] for a in _concurrently(
        api, api.token("SERVICE"), [("ID-6", "O-ID6", amount) for amount in amounts],
        workers=20)]
    held = [(amount, a) for amount, a in zip(amounts, answers, strict=True)
            if not a["userErrors"]]
    # however the race goes, a call is told its amount is held only if that amount is held
    assert held and all(a["use"]["amount"] == amount for amount, a in held), held
    assert len({amount for amount, _ in held}) == 1, held
    assert all(a["userErrors"][0]["code"] == "CONFLICT" for a in answers if a["userErrors"])
    [reservation] = [e for e in entries(api, "ID-6") if e["kind"] == "RESERVE"]
    assert reservation["amount"] == held[0][0]
    check_ledger(api, "ID-6")


def test_refunds_sent_at_once_never_give_back_more_than_was_captured(api: Api) -> None:
    funded(api, "ID-7", "1000.00")
    ok(reserve(api, "ID-7", "O-ID7", "100.00"))
    ok(capture(api, "O-ID7"))
    query = f"""mutation($input: RefundRebateInput!) {{ refundRebate(input: $input) {{
        {PAYLOAD_FIELDS} }} }}"""
    amounts = [f"{30 + n}.00" for n in range(10)]
    answers = [b["data"]["refundRebate"] for b in _fire(
        api, api.token("SERVICE"), [(query, {"orderId": "O-ID7", "amount": a}) for a in amounts],
        workers=10)]
    told = sum((Decimal(a) for a, p in zip(amounts, answers, strict=True)
                if not p["userErrors"]), Decimal(0))
    given = sum((Decimal(e["amount"]) for e in entries(api, "ID-7") if e["kind"] == "REFUND"),
                Decimal(0))
    assert given <= Decimal("100.00")
    assert told == given, (told, given, answers)  # each success is a refund that happened
    assert figures(api, "ID-7")[0] == str(Decimal("900.00") + given)
    check_ledger(api, "ID-7")


# ---- balance and concurrency ---------------------------------------------------------------

def test_more_than_available_is_insufficient_balance(api: Api) -> None:
    funded(api, "BAL-1", "500.00")
    ok(reserve(api, "BAL-1", "O-BAL1-A", "200.00"))
    ok(reserve(api, "BAL-1", "O-BAL1-B", "100.00"))
    ok(capture(api, "O-BAL1-B"))
    # balance 400.00, reserved 200.00: available 200.00
    assert figures(api, "BAL-1") == ("400.00", "200.00", "200.00")
    refused(reserve(api, "BAL-1", "O-BAL1-C", "200.01"), "INSUFFICIENT_BALANCE")
    assert figures(api, "BAL-1") == ("400.00", "200.00", "200.00")
    ok(reserve(api, "BAL-1", "O-BAL1-C", "200.00"))  # exactly what is available
    assert figures(api, "BAL-1") == ("400.00", "400.00", "0.00")
    refused(reserve(api, "BAL-1", "O-BAL1-D", "0.01"), "INSUFFICIENT_BALANCE")
    check_ledger(api, "BAL-1")


def test_a_dealer_without_an_account_has_no_balance_to_reserve(api: Api) -> None:
    dealer(api, "BAL-NONE")
    refused(reserve(api, "BAL-NONE", "O-BAL-NONE", "1.00"), "INSUFFICIENT_BALANCE")
    assert entries(api, "BAL-NONE") == []


RESERVE_QUERY = f"""mutation($input: ReserveRebateInput!) {{ reserveRebate(input: $input) {{
    {PAYLOAD_FIELDS} }} }}"""


def _fire(api: Api, token: str, calls: list[tuple[str, dict[str, Any]]],
          workers: int) -> list[dict[str, Any]]:
    """Send (query, input) calls at once, each thread its own client, all released together
    by a barrier; the response bodies in call order."""
    local = threading.local()
    gate = threading.Barrier(min(workers, len(calls)))
    clients: list[httpx.Client] = []
    guard = threading.Lock()

    def send(call: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=api.base_url, timeout=60)
            with guard:
                clients.append(local.client)
            gate.wait(30)
        query, values = call
        response = local.client.post("/graphql", headers={"authorization": f"Bearer {token}"},
                                     json={"query": query, "variables": {"input": values}})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(send, calls))
    finally:
        for client in clients:
            client.close()


def _concurrently(api: Api, token: str, calls: list[tuple[str, str, str]],
                  workers: int) -> list[dict[str, Any]]:
    """reserveRebate (dealer, orderId, amount) calls, all at once."""
    return _fire(api, token, [(RESERVE_QUERY, {
        "dealerCode": dealer_code, "orderId": order_id, "orderAmount": "1000000",
        "amount": amount, "currency": "CNY"}) for dealer_code, order_id, amount in calls],
                 workers)


def _order_query(name: str) -> str:
    return f"""mutation($input: RebateOrderInput!) {{ {name}(input: $input) {{
        {PAYLOAD_FIELDS} }} }}"""


def test_an_order_captured_and_released_at_once_ends_one_way_only(api: Api) -> None:
    funded(api, "RACE-3", "100.00")
    ok(reserve(api, "RACE-3", "O-RACE3", "60.00"))
    calls = [(_order_query(name), {"orderId": "O-RACE3"})
             for _ in range(10) for name in ("captureRebate", "releaseRebate")]
    bodies = _fire(api, api.token("SERVICE"), calls, workers=20)
    answers = [(name, body["data"][name]) for name, body in
               zip([c for _ in range(10) for c in ("captureRebate", "releaseRebate")], bodies,
                   strict=True)]
    won = {a["use"]["status"] for _, a in answers if not a["userErrors"]}
    assert len(won) == 1, answers  # every successful answer tells the same end
    ending = won.pop()
    for name, answer in answers:
        succeeded = not answer["userErrors"]
        assert succeeded == (name == {"CAPTURED": "captureRebate",
                                      "RELEASED": "releaseRebate"}[ending]), (name, answer)
        if not succeeded:
            assert answer["userErrors"][0]["code"] in STATE, answer
    ledger = check_ledger(api, "RACE-3")
    assert sorted(kinds(ledger)) == sorted(["CREDIT", "RESERVE",
                                            "CAPTURE" if ending == "CAPTURED" else "RELEASE"])
    assert figures(api, "RACE-3") == (("40.00", "0.00", "40.00") if ending == "CAPTURED"
                                      else ("100.00", "0.00", "100.00"))


def test_a_hundred_concurrent_reservations_never_overspend(api: Api) -> None:
    funded(api, "RACE", "1000.00")
    calls = [("RACE", f"O-RACE-{n:03d}", "30.00") for n in range(100)]  # 3,000 asked for
    answers = [a["data"]["reserveRebate"] for a in
               _concurrently(api, api.token("SERVICE"), calls, workers=40)]
    won = [a for a in answers if not a["userErrors"]]
    lost = [a for a in answers if a["userErrors"]]
    assert all([e["code"] for e in a["userErrors"]] == ["INSUFFICIENT_BALANCE"]
               and a["use"] is None for a in lost), lost
    # 1,000.00 / 30.00: 33 fit (990.00), and a refusal only once fewer than 30.00 were left
    assert len(won) * Decimal("30.00") <= Decimal("1000.00")
    assert len(won) == 33, len(won)
    assert all(a["use"]["status"] == "RESERVED" for a in won)
    assert figures(api, "RACE") == ("1000.00", "990.00", "10.00")
    ledger = check_ledger(api, "RACE")
    reserved_orders = sorted(e["orderId"] for e in ledger if e["kind"] == "RESERVE")
    assert reserved_orders == sorted(a["use"]["orderId"] for a in won)
    for entry in ledger:  # at no point was more reserved than the balance
        assert Decimal(entry["reservedAfter"]) <= Decimal(entry["balanceAfter"]), entry


def test_concurrent_reservations_of_different_sizes_never_overspend(api: Api) -> None:
    funded(api, "RACE-2", "777.77")
    amounts = [f"{Decimal(7 + n % 13)}.{n % 100:02d}" for n in range(100)]
    calls = [("RACE-2", f"O-RACE2-{n:03d}", a) for n, a in enumerate(amounts)]
    answers = [a["data"]["reserveRebate"] for a in
               _concurrently(api, api.token("FINANCE"), calls, workers=30)]
    won = [Decimal(a["use"]["amount"]) for a in answers if not a["userErrors"]]
    assert all([e["code"] for e in a["userErrors"]] == ["INSUFFICIENT_BALANCE"]
               for a in answers if a["userErrors"])
    assert sum(won) <= Decimal("777.77")
    left = Decimal("777.77") - sum(won)
    smallest_refused = min((Decimal(c[2]) for c, a in zip(calls, answers, strict=True)
                            if a["userErrors"]), default=None)
    assert smallest_refused is None or smallest_refused > left  # refused only when short
    assert figures(api, "RACE-2") == ("777.77", str(sum(won)), str(left))
    check_ledger(api, "RACE-2")


# ---- segment offset limit -------------------------------------------------------------------

def segment(api: Api, code: str, priority: int, dealers: list[str],
            limit: str | None) -> dict[str, Any]:
    result = api.gql("""mutation($input: SegmentInput!) { upsertSegment(input: $input) {
        segment { code priority maxOrderOffsetPercent } userErrors { field message code } } }""",
                     {"input": {"code": code, "name": code, "priority": priority,
                                "dealerCodes": dealers, "maxOrderOffsetPercent": limit}})
    payload: dict[str, Any] = result["upsertSegment"]
    return payload


def test_the_segment_limit_caps_the_share_of_an_order(api: Api) -> None:
    funded(api, "LIM-1", "5000.00")
    made = segment(api, "LIM-TEN", 610, ["LIM-1"], "10")
    assert made["userErrors"] == [] and made["segment"]["maxOrderOffsetPercent"] == "10"
    # 10 % of 8,000.00 is 800.00
    refused(reserve(api, "LIM-1", "O-LIM1-A", "800.01", order_amount="8000"),
            "OVER_ORDER_LIMIT", ["input", "amount"])
    ok(reserve(api, "LIM-1", "O-LIM1-B", "800.00", order_amount="8000"))
    assert figures(api, "LIM-1") == ("5000.00", "800.00", "4200.00")


def test_the_segment_limit_is_not_rounded_up(api: Api) -> None:
    funded(api, "LIM-6", "5000.00")
    assert segment(api, "LIM-SIX", 630, ["LIM-6"], "10")["userErrors"] == []
    # 10 % of 1,234.56 is 123.456: 123.45 fits, 123.46 is more than 10 % of the order
    ok(reserve(api, "LIM-6", "O-LIM6-A", "123.45", order_amount="1234.56"))
    refused(reserve(api, "LIM-6", "O-LIM6-B", "123.46", order_amount="1234.56"),
            "OVER_ORDER_LIMIT")
    assert figures(api, "LIM-6") == ("5000.00", "123.45", "4876.55")


def test_a_dealer_in_two_segments_gets_the_higher_priority_limit(api: Api) -> None:
    funded(api, "LIM-2", "5000.00")
    dealer(api, "LIM-3")
    fund(api, "P-LIM-3", {"LIM-3": "5000.00"})
    assert segment(api, "LIM-NONE", 620, ["LIM-2"], None)["userErrors"] == []  # sets nothing
    assert segment(api, "LIM-KA", 621, ["LIM-2"], "30")["userErrors"] == []
    assert segment(api, "LIM-ALL", 622, ["LIM-2", "LIM-3"], "10")["userErrors"] == []
    # LIM-2: the key-account 30 % wins over 10 % (the segment without a limit does not count)
    ok(reserve(api, "LIM-2", "O-LIM2-A", "3000.00", order_amount="10000"))
    refused(reserve(api, "LIM-2", "O-LIM2-B", "300.01", order_amount="1000"),
            "OVER_ORDER_LIMIT")
    # LIM-3 is only in the 10 % segment
    refused(reserve(api, "LIM-3", "O-LIM3-A", "1000.01", order_amount="10000"),
            "OVER_ORDER_LIMIT")
    ok(reserve(api, "LIM-3", "O-LIM3-B", "1000.00", order_amount="10000"))


def test_without_a_segment_limit_the_whole_order_may_be_offset(api: Api) -> None:
    funded(api, "LIM-4", "500.00")
    ok(reserve(api, "LIM-4", "O-LIM4", "500.00", order_amount="500"))
    refused(reserve(api, "LIM-4", "O-LIM4-B", "0.01", order_amount="500"),
            "INSUFFICIENT_BALANCE")


def test_an_offset_above_the_order_amount_is_refused(api: Api) -> None:
    funded(api, "LIM-5", "500.00")
    payload = reserve(api, "LIM-5", "O-LIM5", "100.01", order_amount="100")
    assert payload["use"] is None and payload["userErrors"], payload
    assert figures(api, "LIM-5") == ("500.00", "0.00", "500.00")


# ---- who may reserve -------------------------------------------------------------------------

def test_a_suspended_dealer_cannot_reserve(api: Api) -> None:
    funded(api, "ST-SUS", "100.00")
    dealer(api, "ST-SUS", status="SUSPENDED")
    refused(reserve(api, "ST-SUS", "O-ST-SUS", "10.00"), STATE)
    assert figures(api, "ST-SUS") == ("100.00", "0.00", "100.00")
    dealer(api, "ST-SUS", status="ACTIVE")
    ok(reserve(api, "ST-SUS", "O-ST-SUS", "10.00"))


def test_a_disqualified_dealer_cannot_reserve(api: Api) -> None:
    dealer(api, "ST-DQ")
    # a Q1-only program: a violation in May forfeits nothing of it, the credit stays
    fund(api, "P-ST-DQ", {"ST-DQ": "100.00"}, validTo="2026-03-31")
    result = violation(api, "ST-DQ", "2026-05-20", "FORFEIT_YEAR", type_="COUNTERFEIT",
                       role="ADMIN")
    assert result["violation"]["dealer"]["status"] == "DISQUALIFIED"
    assert figures(api, "ST-DQ") == ("100.00", "0.00", "100.00")
    refused(reserve(api, "ST-DQ", "O-ST-DQ", "10.00"), STATE)
    assert figures(api, "ST-DQ") == ("100.00", "0.00", "100.00")


def test_a_reclaim_can_make_the_balance_negative_and_then_nothing_can_be_reserved(
        api: Api) -> None:
    funded(api, "ST-RC", "500.00")
    ok(reserve(api, "ST-RC", "O-ST-RC", "300.00"))
    ok(capture(api, "O-ST-RC"))
    result = violation(api, "ST-RC", "2026-05-20", "FORFEIT_YEAR", type_="COUNTERFEIT",
                       role="ADMIN")
    assert result["violation"]["dealer"]["status"] == "DISQUALIFIED"
    # the 500.00 credited is taken back although 300.00 of it was spent: 200 − 500 = −300
    assert figures(api, "ST-RC") == ("-300.00", "0.00", "-300.00")
    ledger = check_ledger(api, "ST-RC")
    assert [(e["kind"], e["amount"]) for e in ledger][-1] == ("RECLAIM", "-500.00")
    reinstated = api.gql('mutation { reinstateDealer(input: {dealerCode: "ST-RC", '
                         'note: "appeal upheld"}) { dealer { status } } }')["reinstateDealer"]
    assert reinstated["dealer"] == {"status": "ACTIVE"}
    refused(reserve(api, "ST-RC", "O-ST-RC-2", "0.01"), "INSUFFICIENT_BALANCE")
    assert figures(api, "ST-RC") == ("-300.00", "0.00", "-300.00")


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "field", "code"), [
    ({"amount": "0"}, ["input", "amount"], "INVALID"),
    ({"amount": "-5.00"}, ["input", "amount"], "INVALID"),
    ({"amount": "10.005"}, ["input", "amount"], "INVALID"),
    ({"orderAmount": "0"}, ["input", "orderAmount"], "INVALID"),
    ({"orderAmount": "-100"}, ["input", "orderAmount"], "INVALID"),
    ({"currency": "cny"}, ["input", "currency"], "INVALID"),
    ({"currency": "EURO"}, ["input", "currency"], "INVALID"),
    ({"currency": ""}, ["input", "currency"], "INVALID"),
    ({"orderId": " "}, ["input", "orderId"], "INVALID"),
    ({"dealerCode": "NO-SUCH-DEALER"}, ["input", "dealerCode"], "NOT_FOUND"),
])
def test_bad_reservations_name_the_field_and_store_nothing(
        api: Api, overrides: dict[str, str], field: list[str], code: str) -> None:
    if account(api, "BAD-1") is None:
        funded(api, "BAD-1", "100.00")
    values = {"dealerCode": "BAD-1", "orderId": "O-BAD-1", "orderAmount": "1000",
              "amount": "10.00", "currency": "CNY", **overrides}
    payload = api.gql(RESERVE_QUERY, {"input": values})["reserveRebate"]
    refused(payload, code, field)
    assert payload["account"] is None or cents(payload["account"]["reserved"]) == "0.00"
    assert kinds(entries(api, "BAD-1")) == ["CREDIT"]
    refused(capture(api, "O-BAD-1"), "NOT_FOUND", ["input", "orderId"])


@pytest.mark.parametrize(("amount", "code"), [("0", "INVALID"), ("-1.00", "INVALID"),
                                              ("1.001", "INVALID")])
def test_bad_refund_amounts_name_the_field(api: Api, amount: str, code: str) -> None:
    if account(api, "BAD-2") is None:
        funded(api, "BAD-2", "100.00")
        ok(reserve(api, "BAD-2", "O-BAD-2", "50.00"))
        ok(capture(api, "O-BAD-2"))
    refused(refund(api, "O-BAD-2", amount), code, ["input", "amount"])
    assert figures(api, "BAD-2") == ("50.00", "0.00", "50.00")


# ---- roles and reads ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["ADMIN", "FINANCE", "SERVICE"])
def test_admin_finance_and_service_may_use_the_account(api: Api, role: str) -> None:
    code = f"RL-{role}"
    funded(api, code, "100.00")
    ok(reserve(api, code, f"O-{code}-1", "40.00", role=role))
    ok(capture(api, f"O-{code}-1", role=role))
    ok(refund(api, f"O-{code}-1", "40.00", role=role))
    ok(reserve(api, code, f"O-{code}-2", "10.00", role=role))
    ok(release(api, f"O-{code}-2", role=role))
    assert figures(api, code) == ("100.00", "0.00", "100.00")


MUTATIONS = {
    "reserveRebate": ('(input: {dealerCode: "RL-NO", orderId: "O-RL-NO", orderAmount: "100", '
                      'amount: "10", currency: "CNY"})'),
    "captureRebate": '(input: {orderId: "O-RL-NO-2"})',
    "releaseRebate": '(input: {orderId: "O-RL-NO-2"})',
    "refundRebate": '(input: {orderId: "O-RL-NO-3", amount: "5"})',
}


@pytest.mark.parametrize("role", ["SALES", "DEALER"])
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_sales_and_dealers_are_forbidden_to_move_money(api: Api, role: str, name: str) -> None:
    if account(api, "RL-NO") is None:
        funded(api, "RL-NO", "100.00")
        ok(reserve(api, "RL-NO", "O-RL-NO-2", "20.00"))
        ok(reserve(api, "RL-NO", "O-RL-NO-3", "30.00"))
        ok(capture(api, "O-RL-NO-3"))
    before = entries(api, "RL-NO")
    response = api.post(f"mutation {{ {name}{MUTATIONS[name]} {{ userErrors {{ code }} }} }}",
                        role=role, dealer="RL-NO" if role == "DEALER" else None)
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    assert (body.get("data") or {}).get(name) is None, body
    assert entries(api, "RL-NO") == before


def test_a_dealer_reads_only_its_own_accounts_newest_entry_first(api: Api) -> None:
    settlement = funded(api, "RD-A", "900.00", days=30)
    funded(api, "RD-B", "777.00")
    ok(reserve(api, "RD-A", "O-RD-A", "100.00"))
    ok(capture(api, "O-RD-A"))
    ok(refund(api, "O-RD-A", "40.00"))
    own = accounts(api, "RD-A", role="DEALER", dealer="RD-A")
    assert own is not None and [(a["currency"], a["dealer"], a["balance"], a["available"])
                                for a in own] == [("CNY", {"code": "RD-A"}, "840.00", "840.00")]
    seen = entries(api, "RD-A", role="DEALER", dealer="RD-A")
    assert seen == entries(api, "RD-A")
    assert [(e["kind"], e["amount"], e["balanceAfter"], e["orderId"]) for e in seen] == [
        ("REFUND", "40.00", "840.00", "O-RD-A"),
        ("CAPTURE", "-100.00", "800.00", "O-RD-A"),
        ("RESERVE", "100.00", "900.00", "O-RD-A"),
        ("CREDIT", "900.00", "900.00", None)]
    assert seen[-1]["settlementId"] is not None and settlement["totalPayable"] == "900.00"
    # each entry says what caused it: the order, or the settlement (one line per dealer)
    assert all(e["orderId"] or e["settlementId"] for e in seen), seen
    ats = [dt.datetime.fromisoformat(e["at"]) for e in seen]
    assert ats == sorted(ats, reverse=True)
    assert len({e["id"] for e in seen}) == 4
    # the other dealer's account: not visible at all, exactly like a dealer that does not exist
    query = f"""query($code: String!) {{ dealer(code: $code) {{ rebateAccounts {{ balance
        entries(first: 10) {{ edges {{ node {{ {ENTRY_FIELDS} }} }} }} }} }} }}"""
    other = api.post(query, {"code": "RD-B"}, role="DEALER", dealer="RD-A").json()
    nobody = api.post(query, {"code": "RD-NOBODY"}, role="DEALER", dealer="RD-A").json()
    assert json.dumps(other).replace("RD-B", "X") == json.dumps(nobody).replace("RD-NOBODY", "X")
    assert "777" not in json.dumps(other)


def test_entries_page_newest_first_and_add_up_to_the_balance(api: Api) -> None:
    dealer(api, "SUM-1")
    fund(api, "P-SUM-A", {"SUM-1": "1000.00"}, days=200)
    fund(api, "P-SUM-B", {"SUM-1": "234.56"})
    for n in range(6):
        ok(reserve(api, "SUM-1", f"O-SUM-{n}", f"{10 + n}.25"))
    for n in (0, 1, 2):
        ok(capture(api, f"O-SUM-{n}"))
    ok(release(api, "O-SUM-3"))
    ok(refund(api, "O-SUM-1", "5.00"))
    ledger = check_ledger(api, "SUM-1")  # pages of 7: 2 credits + 6 + 3 + 1 + 1 = 13 entries
    assert len(ledger) == 13
    by_kind: dict[str, Decimal] = {}
    for entry in ledger:
        by_kind[entry["kind"]] = by_kind.get(entry["kind"], Decimal(0)) + Decimal(entry["amount"])
    # 1,234.56 − (10.25 + 11.25 + 12.25) + 5.00 = 1,205.81; held: 14.25 + 15.25 = 29.50
    assert by_kind["CREDIT"] == Decimal("1234.56")
    assert by_kind["CAPTURE"] == Decimal("-33.75")
    assert by_kind["REFUND"] == Decimal("5.00")
    assert by_kind["RESERVE"] == Decimal("76.50") and by_kind["RELEASE"] == Decimal("-13.25")
    assert figures(api, "SUM-1") == ("1205.81", "29.50", "1176.31")


def test_every_account_mutation_is_audited(api: Api) -> None:
    funded(api, "AU-1", "100.00")
    ok(reserve(api, "AU-1", "O-AU-1", "30.00"))
    ok(capture(api, "O-AU-1"))
    ok(refund(api, "O-AU-1", "10.00"))
    ok(reserve(api, "AU-1", "O-AU-2", "5.00"))
    ok(release(api, "O-AU-2"))
    seen: list[tuple[str, str, str]] = []
    after: str | None = None
    while True:
        page = api.gql("""query($after: String) { auditEvents(first: 100, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { action actor role entityType entityId before after } } } }""",
                       {"after": after})["auditEvents"]
        for edge in page["edges"]:
            node = edge["node"]
            text = json.dumps([node["entityId"], node["before"], node["after"]])
            for order in ("O-AU-1", "O-AU-2"):
                if order in text:
                    seen.append((node["action"], node["role"], order))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(set(seen)) == sorted({("reserveRebate", "SERVICE", "O-AU-1"),
                                        ("captureRebate", "SERVICE", "O-AU-1"),
                                        ("refundRebate", "SERVICE", "O-AU-1"),
                                        ("reserveRebate", "SERVICE", "O-AU-2"),
                                        ("releaseRebate", "SERVICE", "O-AU-2")}), seen


MONEY = re.compile(r"-?\d+\.\d\d")


def test_money_figures_are_shown_to_the_cent(api: Api) -> None:
    """Every other money figure of the API reads "0.00", never "0" or "12.5"."""
    funded(api, "FMT-1", "12.50")
    payloads = [ok(reserve(api, "FMT-1", "O-FMT-1", "2.5")), ok(capture(api, "O-FMT-1")),
                ok(reserve(api, "FMT-1", "O-FMT-2", "1"))]
    shown = [p["account"][k] for p in payloads for k in ("balance", "reserved", "available")]
    shown += [p["use"][k] for p in payloads for k in ("amount", "refunded")]
    shown += [a[k] for a in accounts(api, "FMT-1") or []
              for k in ("balance", "reserved", "available")]
    shown += [e[k] for e in entries(api, "FMT-1")
              for k in ("amount", "balanceAfter", "reservedAfter")]
    assert [v for v in shown if not MONEY.fullmatch(v)] == [], shown


# ---- expiry (last: the later services' daily sweeps expire what earlier tests credited) -

def later(api: Api, url: str) -> Api:
    return Api(base_url=url, client=httpx.Client(base_url=url, timeout=30),
               db_name=api.db_name, tokens=api.tokens)


def test_credit_is_consumed_oldest_expiry_first_and_the_rest_expires(
        api: Api, settings: Settings) -> None:
    dealer(api, "EXP-1")
    fund(api, "P-EXP-LONG", {"EXP-1": "200.00"}, days=100)   # expires 2027-02-28
    fund(api, "P-EXP-SHORT", {"EXP-1": "100.00"}, days=10)   # expires 2026-11-30
    ok(reserve(api, "EXP-1", "O-EXP1", "30.00"))
    ok(capture(api, "O-EXP1"))  # the 30.00 comes out of the credit that expires first
    assert figures(api, "EXP-1") == ("270.00", "0.00", "270.00")
    expiries = {e["amount"]: e["expiresOn"] for e in entries(api, "EXP-1")
                if e["kind"] == "CREDIT"}
    assert expiries == {"200.00": "2027-02-28", "100.00": "2026-11-30"}

    with serving_on(settings, dt.date(2026, 11, 30)) as url:  # the last day it may be used
        on_the_day = later(api, url)
        try:
            assert figures(on_the_day, "EXP-1") == ("270.00", "0.00", "270.00")
            assert "EXPIRY" not in kinds(entries(on_the_day, "EXP-1"))
        finally:
            on_the_day.client.close()
    with serving_on(settings, dt.date(2026, 12, 1)) as url:  # the next day: 70.00 expired
        next_day = later(api, url)
        try:
            # read at once: never stale, whether or not the daily sweep has run
            assert figures(next_day, "EXP-1") == ("200.00", "0.00", "200.00")
            ledger = check_ledger(next_day, "EXP-1")
            assert [(e["kind"], e["amount"]) for e in ledger if e["kind"] == "EXPIRY"] == \
                [("EXPIRY", "-70.00")]
            refused(reserve(next_day, "EXP-1", "O-EXP1-B", "200.01"), "INSUFFICIENT_BALANCE")
            ok(reserve(next_day, "EXP-1", "O-EXP1-B", "200.00"))
        finally:
            next_day.client.close()
    # back on 2026-11-20 the expiry entry is a fact that stays written
    assert figures(api, "EXP-1") == ("200.00", "200.00", "0.00")


def test_spent_credit_does_not_expire_and_a_reservation_never_uses_expired_credit(
        api: Api, settings: Settings) -> None:
    dealer(api, "EXP-2")
    fund(api, "P-EXP2-SHORT", {"EXP-2": "100.00"}, days=5)   # expires 2026-11-25
    fund(api, "P-EXP2-LONG", {"EXP-2": "50.00"}, days=50)    # expires 2027-01-09
    ok(reserve(api, "EXP-2", "O-EXP2", "100.00"))
    ok(capture(api, "O-EXP2"))  # spends the short credit entirely, oldest expiry first
    with serving_on(settings, dt.date(2026, 12, 15)) as url:
        after = later(api, url)
        try:
            assert figures(after, "EXP-2") == ("50.00", "0.00", "50.00")
            assert "EXPIRY" not in kinds(entries(after, "EXP-2"))
            ok(reserve(after, "EXP-2", "O-EXP2-B", "50.00"))
        finally:
            after.client.close()
    with serving_on(settings, dt.date(2027, 2, 1)) as url:  # the long credit is gone too
        much_later = later(api, url)
        try:
            refused(reserve(much_later, "EXP-2", "O-EXP2-C", "0.01"), "INSUFFICIENT_BALANCE")
        finally:
            much_later.client.close()
