"""Rebate accounts over the API (SPEC §4a): money credited by settling CREDIT_NOTE programs,
then reserved, captured, released and refunded by an order system.

Credits reach an account the real way only: a CREDIT_NOTE program, invoices, the period closed
and settled. Expected figures in the tests are worked out by hand with Decimal.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from pymongo import MongoClient

from service.config import Settings
from tests.api.control_helpers import close, settle
from tests.api.engine_helpers import program_input, record, row, wait_for
from tests.conftest import Api, serving

ACCOUNT_FIELDS = "currency balance reserved available dealer { code }"
ENTRY_FIELDS = ("id kind amount balanceAfter reservedAfter orderId settlementId expiresOn "
                "at note")
USE_FIELDS = "orderId dealer { code } currency amount refunded status"
PAYLOAD_FIELDS = (f"use {{ {USE_FIELDS} }} account {{ {ACCOUNT_FIELDS} }} "
                  "userErrors { field message code }")
BALANCE_KINDS = ("CREDIT", "CAPTURE", "REFUND", "EXPIRY", "RECLAIM")
INVOICE_DAY = "2026-02-10"  # in 2026-Q1 and in 2026-02: closed and settled on 2026-11-20
TODAY = dt.date(2026, 11, 20)  # the fixed clock of tests/conftest.py


# ---- the four mutations -------------------------------------------------------------------

def _mutation(api: Api, name: str, input_type: str, values: dict[str, Any], role: str,
              dealer: str | None) -> dict[str, Any]:
    return api.gql(f"""mutation($input: {input_type}!) {{ {name}(input: $input) {{
        {PAYLOAD_FIELDS} }} }}""", {"input": values}, role=role, dealer=dealer)[name]


def reserve(api: Api, dealer_code: str, order_id: str, amount: str,
            order_amount: str = "1000000", currency: str = "CNY", role: str = "SERVICE",
            dealer: str | None = None) -> dict[str, Any]:
    return _mutation(api, "reserveRebate", "ReserveRebateInput",
                     {"dealerCode": dealer_code, "orderId": order_id,
                      "orderAmount": order_amount, "amount": amount, "currency": currency},
                     role, dealer)


def capture(api: Api, order_id: str, role: str = "SERVICE",
            dealer: str | None = None) -> dict[str, Any]:
    return _mutation(api, "captureRebate", "RebateOrderInput", {"orderId": order_id}, role,
                     dealer)


def release(api: Api, order_id: str, role: str = "SERVICE",
            dealer: str | None = None) -> dict[str, Any]:
    return _mutation(api, "releaseRebate", "RebateOrderInput", {"orderId": order_id}, role,
                     dealer)


def refund(api: Api, order_id: str, amount: str, role: str = "SERVICE",
           dealer: str | None = None, refund_id: str | None = None) -> dict[str, Any]:
    """One refund per order, or one per `refund_id` (a return in the order system)."""
    given = {"orderId": order_id, "amount": amount}
    if refund_id is not None:
        given["refundId"] = refund_id
    return _mutation(api, "refundRebate", "RefundRebateInput", given, role, dealer)


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def refused(payload: dict[str, Any], code: str | tuple[str, ...],
            field: list[str] | None = None) -> None:
    """One userError with `code` (or one of the codes given; and the field path, when given);
    no use in the answer."""
    errors = payload["userErrors"]
    allowed = (code,) if isinstance(code, str) else code
    assert len(errors) == 1 and errors[0]["code"] in allowed, (allowed, errors)
    assert errors[0]["message"].strip(), errors
    if field is not None:
        assert errors[0]["field"] == field, errors
    assert payload["use"] is None, payload


# ---- reads ------------------------------------------------------------------------------

def accounts(api: Api, dealer_code: str, role: str = "ADMIN",
             dealer: str | None = None) -> list[dict[str, Any]] | None:
    """The dealer's rebate accounts (without entries); None when the dealer is not visible."""
    data = api.gql(f"""query($code: String!) {{ dealer(code: $code) {{
        rebateAccounts {{ {ACCOUNT_FIELDS} }} }} }}""", {"code": dealer_code}, role=role,
                   dealer=dealer)
    found = data["dealer"]
    return None if found is None else found["rebateAccounts"]


def account(api: Api, dealer_code: str, currency: str = "CNY") -> dict[str, Any] | None:
    found = [a for a in accounts(api, dealer_code) or [] if a["currency"] == currency]
    assert len(found) <= 1, found
    return found[0] if found else None


def cents(value: str) -> str:
    """A money figure to the cent ("0" → "0.00"), so that a test about balances is not also
    a test about how they are written (test_money_figures_are_shown_to_the_cent is)."""
    return str(Decimal(value).quantize(Decimal("0.01")))


def figures(api: Api, dealer_code: str, currency: str = "CNY") -> tuple[str, str, str]:
    """(balance, reserved, available) of the account, to the cent; all 0.00 when there is
    none."""
    found = account(api, dealer_code, currency)
    if found is None:
        return ("0.00", "0.00", "0.00")
    return (cents(found["balance"]), cents(found["reserved"]), cents(found["available"]))


def entries(api: Api, dealer_code: str, currency: str = "CNY", page: int = 50,
            role: str = "ADMIN", dealer: str | None = None) -> list[dict[str, Any]]:
    """Every entry of the account, walking the connection page by page (newest first)."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        data = api.gql(f"""query($code: String!, $first: Int, $after: String) {{
            dealer(code: $code) {{ rebateAccounts {{ currency
              entries(first: $first, after: $after) {{ totalCount
                pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {ENTRY_FIELDS} }} }}
              }} }} }} }}""", {"code": dealer_code, "first": page, "after": after},
                       role=role, dealer=dealer)
        chosen = [a for a in data["dealer"]["rebateAccounts"] if a["currency"] == currency]
        if not chosen:
            return found
        connection = chosen[0]["entries"]
        found.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            assert connection["totalCount"] == len(found), (connection["totalCount"], found)
            return found
        after = connection["pageInfo"]["endCursor"]


def dec(value: str) -> Decimal:
    return Decimal(value)


def check_ledger(api: Api, dealer_code: str, currency: str = "CNY") -> list[dict[str, Any]]:
    """The account agrees with its entries: balance = Σ balance-moving entries, every
    balanceAfter / reservedAfter is the running total, available = balance − reserved.
    Returns the entries oldest first."""
    found = account(api, dealer_code, currency)
    assert found is not None
    oldest_first = list(reversed(entries(api, dealer_code, currency, page=7)))
    balance = reserved = Decimal("0")
    for entry in oldest_first:
        amount = dec(entry["amount"])
        if entry["kind"] in BALANCE_KINDS:
            balance += amount
            if entry["kind"] == "CAPTURE":
                assert amount < 0, entry
                reserved += amount  # the reservation it spends is no longer held
        else:
            assert entry["kind"] in ("RESERVE", "RELEASE"), entry
            assert (amount > 0) == (entry["kind"] == "RESERVE"), entry
            reserved += amount
        assert (dec(entry["balanceAfter"]), dec(entry["reservedAfter"])) == \
            (balance, reserved), (entry, balance, reserved)
    assert dec(found["balance"]) == balance, (found, balance)
    assert dec(found["reserved"]) == reserved, (found, reserved)
    assert dec(found["available"]) == balance - reserved, found
    return oldest_first


# ---- money on the account, the real way ----------------------------------------------------

def caught_up(api: Api) -> None:
    """settled() with more patience: this module has dozens of programs, and every new dealer
    is recomputed in each of them (a slow shared machine needs more than 10 s)."""
    wait_for(lambda: api.gql("{ accrualBacklog }")["accrualBacklog"] == 0, timeout=90)


def create_credit_program(api: Api, code: str, days: int | None = None,
                          **overrides: Any) -> dict[str, Any]:
    """Quarterly 10 % of sales of product `code`, paid as a credit note."""
    values: dict[str, Any] = {"payoutForm": "CREDIT_NOTE", "productCodes": [code],
                              "terms": [{"tiers": [{"threshold": "0", "rate": "10"}]}],
                              "creditValidityDays": days, **overrides}
    result = api.gql("""mutation($input: ProgramInput!) { createProgram(input: $input) {
        program { code payoutForm currency creditValidityDays }
        userErrors { field message code } } }""",
                     {"input": program_input(code, **values)})["createProgram"]
    assert result["userErrors"] == [], result["userErrors"]
    return result["program"]


def fund(api: Api, code: str, credits: dict[str, str], days: int | None = None,
         period: str = "2026-Q1", **overrides: Any) -> dict[str, Any]:
    """Credit each dealer the given amount: a program `code` paying 10 % of invoices ten times
    that amount, its period closed and settled. Returns the settlement."""
    program = create_credit_program(api, code, days, **overrides)
    rows = [row(f"{code}-{dealer_code}", dealer_code, "INVOICE", INVOICE_DAY,
                str(dec(amount) * 10), productCode=code, currency=program["currency"])
            for dealer_code, amount in credits.items()]
    assert record(api, rows)["errors"] == []
    caught_up(api)
    assert close(api, code, period)["userErrors"] == []
    result = settle(api, code, period)
    assert result["userErrors"] == [], result["userErrors"]
    return result["settlement"]


# ---- a second service on the same database, at another date ---------------------------------

@contextlib.contextmanager
def serving_on(settings: Settings, day: dt.date) -> Iterator[str]:
    """The real service on this module's database whose clock says `day` (09:30 UTC, ticking):
    what the same data looks like on a later date."""
    started = time.monotonic()
    moment = dt.datetime.combine(day, dt.time(9, 30), tzinfo=dt.UTC)
    clock: Callable[[], dt.datetime] = \
        lambda: moment + dt.timedelta(seconds=time.monotonic() - started)  # noqa: E731
    try:
        with serving(settings, clock) as url:
            yield url
    finally:
        _give_back_leases(settings, moment)


def _give_back_leases(settings: Settings, moment: dt.datetime) -> None:
    """The later service's worker leased jobs until a date the module's service (back on
    2026-11-20) would wait months for: clocks never jump back in production, here they do,
    so the leases it left are freed."""
    with MongoClient(settings.mongodb_uri) as client:
        client[settings.database].accrual_jobs.update_many(
            {"leaseUntil": {"$gt": moment - dt.timedelta(days=1)}},
            {"$set": {"leaseUntil": None}})
