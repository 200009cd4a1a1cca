"""Money that settlements and forfeitures move on rebate accounts (SPEC §4a, issue 11).

`settle` of a CREDIT_NOTE program credits each positive line to the dealer's account, once;
a FORFEIT_YEAR forfeiture of a settled CREDIT_NOTE line takes the credit back as a RECLAIM
entry, once, and the balance may go negative. Today is 2026-11-20 (the tests' clock). The
order flow itself is tested in test_rebate_accounts_api.py.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.api.account_helpers import (
    TODAY,
    accounts,
    capture,
    check_ledger,
    create_credit_program,
    entries,
    figures,
    fund,
    ok,
    refund,
    refused,
    reserve,
)
from tests.api.control_helpers import accrual, close, settle, trace, violation
from tests.api.engine_helpers import dealer, program_input, record, row, settled
from tests.conftest import Api

PROGRAM_FIELDS = "code version payoutForm creditValidityDays"


def kinds_and_amounts(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["kind"], e["amount"]) for e in found]


def save_program(api: Api, mutation: str, code: str, **values: Any) -> dict[str, Any]:
    return api.gql(f"""mutation($input: ProgramInput!) {{ {mutation}(input: $input) {{
        program {{ {PROGRAM_FIELDS} }} userErrors {{ field message code }} }} }}""",
                   {"input": program_input(code, **values)})[mutation]


# ---- creditValidityDays ---------------------------------------------------------------------

@pytest.mark.parametrize(("values", "message"), [
    ({"payoutForm": "CREDIT_NOTE", "creditValidityDays": 3651}, "between 1 and 3650"),
    ({"payoutForm": "GOODS", "creditValidityDays": 30}, "only to payoutForm CREDIT_NOTE"),
    ({"payoutForm": "CASH", "creditValidityDays": 30}, "only to payoutForm CREDIT_NOTE"),
])
def test_credit_validity_is_checked_with_the_payout_form(api: Api, values: dict[str, Any],
                                                         message: str) -> None:
    result = save_program(api, "createProgram", "CV-BAD", **values)
    assert result["program"] is None
    [error] = result["userErrors"]
    assert (error["field"], error["code"]) == (["input", "creditValidityDays"], "INVALID")
    assert message in error["message"]


def test_credit_validity_is_stored_read_and_edited_like_any_program_rule(api: Api) -> None:
    longest = save_program(api, "createProgram", "CV-OK", payoutForm="CREDIT_NOTE",
                           creditValidityDays=3650)
    assert longest["userErrors"] == []
    assert longest["program"] == {"code": "CV-OK", "version": 1, "payoutForm": "CREDIT_NOTE",
                                  "creditValidityDays": 3650}
    # an ACTIVE program's edit is a new version; the validity may change with it
    edited = save_program(api, "updateProgram", "CV-OK", payoutForm="CREDIT_NOTE",
                          creditValidityDays=180, activate=None)
    assert edited["program"]["version"] == 2 and edited["program"]["creditValidityDays"] == 180
    # leaving it out: credits never expire; and a CASH program has none
    cleared = save_program(api, "updateProgram", "CV-OK", payoutForm="CASH", activate=None)
    assert cleared["userErrors"] == []
    assert cleared["program"]["creditValidityDays"] is None
    assert api.gql('{ program(code: "CV-OK") { creditValidityDays } }', role="SALES") == \
        {"program": {"creditValidityDays": None}}


# ---- credits at settle ----------------------------------------------------------------------

def test_each_credit_note_line_is_one_credit_linked_to_its_settlement(api: Api) -> None:
    for code in ("AC-1", "AC-2"):
        dealer(api, code)
    settlement = fund(api, "P-AC", {"AC-1": "321.09", "AC-2": "0.01"}, days=45)
    expires = (TODAY + dt.timedelta(days=45)).isoformat()  # settled today
    for line in settlement["lines"]:
        code, payable = line["dealer"]["code"], line["payable"]
        [credit] = entries(api, code)
        assert (credit["kind"], credit["amount"], credit["balanceAfter"], credit["expiresOn"],
                credit["settlementId"]) == ("CREDIT", payable, payable, expires,
                                            settlement["id"])
        assert figures(api, code) == (payable, "0.00", payable)
    # settling the period again pays nothing, so credits nothing
    again = settle(api, "P-AC", "2026-Q1")
    assert [e["code"] for e in again["userErrors"]] == ["NOTHING_TO_SETTLE"]
    assert kinds_and_amounts(entries(api, "AC-1")) == [("CREDIT", "321.09")]


def test_the_validity_is_the_one_the_settlement_began_with(api: Api) -> None:
    """A later edit of creditValidityDays does not change credits already made."""
    dealer(api, "AC-V")
    fund(api, "P-AC-V", {"AC-V": "10.00"}, days=10)
    edited = save_program(api, "updateProgram", "P-AC-V", payoutForm="CREDIT_NOTE",
                          creditValidityDays=999, productCodes=["P-AC-V"],
                          terms=[{"tiers": [{"threshold": "0", "rate": "10"}]}],
                          activate=None)
    assert edited["userErrors"] == []
    [credit] = entries(api, "AC-V")
    assert credit["expiresOn"] == (TODAY + dt.timedelta(days=10)).isoformat()


def test_a_negative_line_is_owed_on_the_payout_document_not_debited(api: Api) -> None:
    """A return after the close: Q2 carries the correction, a negative line; the account is
    not debited by it (the payout document says what the dealer owes)."""
    dealer(api, "AC-NEG")
    fund(api, "P-AC-NEG", {"AC-NEG": "100.00"}, days=30)
    assert record(api, [row("P-AC-NEG-RET", "AC-NEG", "RETURN", "2026-02-20", "400",
                            productCode="P-AC-NEG")])["errors"] == []
    settled(api)
    assert close(api, "P-AC-NEG", "2026-Q2")["userErrors"] == []
    [line] = settle(api, "P-AC-NEG", "2026-Q2")["settlement"]["lines"]
    assert (line["form"], line["payable"]) == ("CREDIT_NOTE", "-40.00")
    assert kinds_and_amounts(entries(api, "AC-NEG")) == [("CREDIT", "100.00")]


# ---- FORFEIT_YEAR reclaims credited money ---------------------------------------------------

def test_a_forfeiture_reclaims_the_credit_once_and_the_debt_blocks_reserving(api: Api) -> None:
    dealer(api, "AC-FY")
    settlement = fund(api, "P-AC-FY", {"AC-FY": "500.00"}, days=365)
    ok(reserve(api, "AC-FY", "O-AC-FY-1", "400.00"))
    ok(capture(api, "O-AC-FY-1"))
    assert figures(api, "AC-FY") == ("100.00", "0.00", "100.00")
    found = violation(api, "AC-FY", "2026-05-20", "FORFEIT_YEAR", type_="COUNTERFEIT",
                      role="ADMIN")
    assert found["userErrors"] == []
    ledger = check_ledger(api, "AC-FY")
    reclaim = ledger[-1]
    assert (reclaim["kind"], reclaim["amount"], reclaim["balanceAfter"],
            reclaim["settlementId"]) == ("RECLAIM", "-500.00", "-400.00", settlement["id"])
    q2 = accrual(api, "P-AC-FY", "AC-FY", "2026-Q2")
    assert "reclaim of CNY 500.00 settled for 2026-Q1 (forfeited; debited from the rebate " \
           "account)" in trace(q2)
    # another FORFEIT_YEAR violation reclaims nothing more
    again = violation(api, "AC-FY", "2026-06-01", "FORFEIT_YEAR", type_="OTHER", role="ADMIN")
    assert again["userErrors"] == []
    assert kinds_and_amounts(entries(api, "AC-FY")).count(("RECLAIM", "-500.00")) == 1
    # reinstated, the dealer still cannot reserve: the account is in debt
    reinstated = api.gql('mutation { reinstateDealer(input: {dealerCode: "AC-FY", '
                         'note: "appeal upheld"}) { userErrors { code } } }', role="ADMIN")
    assert reinstated["reinstateDealer"]["userErrors"] == []
    refused(reserve(api, "AC-FY", "O-AC-FY-2", "1.00"), "INSUFFICIENT_BALANCE")
    # goods returned: the refund pays the debt first
    ok(refund(api, "O-AC-FY-1", "150.00"))
    assert figures(api, "AC-FY") == ("-250.00", "0.00", "-250.00")
    check_ledger(api, "AC-FY")


def test_a_forfeiture_of_cash_paid_money_touches_no_account(api: Api) -> None:
    dealer(api, "AC-FC")
    fund(api, "P-AC-FC", {"AC-FC": "500.00"}, payoutForm="CASH")
    assert violation(api, "AC-FC", "2026-05-20", "FORFEIT_YEAR", type_="COUNTERFEIT",
                     role="ADMIN")["userErrors"] == []
    assert entries(api, "AC-FC") == []
    assert all(a["balance"] in ("0", "0.00") for a in accounts(api, "AC-FC") or [])
    q2 = accrual(api, "P-AC-FC", "AC-FC", "2026-Q2")
    assert "debited from the rebate account" not in trace(q2)
    assert "reclaim of CNY 500.00 settled for 2026-Q1 (forfeited)" in trace(q2)


def test_an_unsettled_credit_note_accrual_is_forfeited_without_a_reclaim(api: Api) -> None:
    dealer(api, "AC-FU")
    create_credit_program(api, "P-AC-FU", 30)
    assert record(api, [row("P-AC-FU-1", "AC-FU", "INVOICE", "2026-02-10", "1000",
                            productCode="P-AC-FU")])["errors"] == []
    settled(api)
    assert close(api, "P-AC-FU", "2026-Q1")["userErrors"] == []  # approved, not settled
    assert violation(api, "AC-FU", "2026-05-20", "FORFEIT_YEAR", type_="COUNTERFEIT",
                     role="ADMIN")["userErrors"] == []
    assert accrual(api, "P-AC-FU", "AC-FU", "2026-Q1")["status"] == "FORFEITED"
    assert entries(api, "AC-FU") == []
