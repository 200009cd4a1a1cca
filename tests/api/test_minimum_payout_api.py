"""Minimum payout end to end (SPEC §3 step 6): crumbs are carried forward, never lost, never
paid twice, and the program's last period pays what it holds."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.api.control_helpers import close, settle
from tests.api.engine_helpers import dealer, record, row, settled, wait_for
from tests.api.policy_helpers import accrual, created, trace
from tests.conftest import Api

MONTHS = ("2026-01", "2026-02", "2026-03")


@pytest.fixture(scope="module", autouse=True)
def dealers(api: Api) -> None:
    for code in ("M1", "M2", "M3", "BIG"):
        dealer(api, code, region="WEST")


def program(api: Api, code: str, **overrides: Any) -> dict[str, Any]:
    """Monthly, January to March, 1 % of sales, CASH with 10 % tax, minimum payout 1,000."""
    values: dict[str, Any] = {"periodKind": "MONTH", "validTo": "2026-03-31",
                              "minimumPayout": "1000", "productCodes": [code],
                              "terms": [{"tiers": [{"threshold": "0", "rate": "1"}]}]}
    values.update(overrides)
    return created(api, code, **values)


def sales(api: Api, code: str, dealer_code: str, *rows: tuple[str, str]) -> None:
    result = record(api, [row(f"{code}-{dealer_code}-{day}-{amount}", dealer_code, "INVOICE",
                              day, amount, productCode=code, quantity="1")
                          for day, amount in rows])
    assert result["errors"] == [], result
    settled(api)


def nets(api: Api, code: str, dealer_code: str) -> list[tuple[str, str, str]]:
    """(gross, adjustment, net) per month."""
    found = [accrual(api, code, dealer_code, month) for month in MONTHS]
    return [(a["grossAmount"], a["adjustmentAmount"], a["netAmount"]) for a in found]


def test_crumbs_are_carried_across_two_months_and_paid_in_the_last(api: Api) -> None:
    created_program = program(api, "MINPAY")
    assert Decimal(created_program["minimumPayout"]) == Decimal(1000)
    # M1 earns 400, 300 and 200: each under 1,000, even with what is carried.
    sales(api, "MINPAY", "M1", ("2026-01-12", "40000"), ("2026-02-12", "30000"),
          ("2026-03-12", "20000"))
    # BIG earns 5,000 in January: above the minimum, paid as usual.
    sales(api, "MINPAY", "BIG", ("2026-01-20", "500000"))
    assert nets(api, "MINPAY", "M1") == [
        ("400.00", "0.00", "0.00"),      # 400 < 1,000: pays 0, carried to February
        ("300.00", "400.00", "0.00"),    # 300 + 400 carried = 700 < 1,000: carried again
        ("200.00", "700.00", "900.00"),  # the last month pays what it holds: 200 + 700
    ]
    january, february, march = (accrual(api, "MINPAY", "M1", m) for m in MONTHS)
    assert "carried forward" in trace(january).lower(), trace(january)
    assert "1,000.00" in trace(january) and "400.00" in trace(january)
    assert "carried forward from 2026-01" in trace(february), trace(february)
    assert "carried forward" in trace(february).replace(
        "carried forward from 2026-01", "").lower(), trace(february)
    assert "carried forward from 2026-02" in trace(march), trace(march)
    # Never lost, never paid twice: the nets add up to the gross earned.
    total_gross = sum(Decimal(g) for g, _, _ in nets(api, "MINPAY", "M1"))
    total_net = sum(Decimal(n) for _, _, n in nets(api, "MINPAY", "M1"))
    assert total_gross == total_net == Decimal("900.00")
    assert accrual(api, "MINPAY", "BIG", "2026-01")["netAmount"] == "5000.00"

    # Settlement sees only payable amounts: nothing for M1 in January and February.
    for month in MONTHS:
        assert close(api, "MINPAY", month)["userErrors"] == [], month
    paid = _lines(settle(api, "MINPAY", "2026-01"))
    assert paid.get("M1", ("0.00", "0.00", "0.00")) == ("0.00", "0.00", "0.00")
    assert paid["BIG"] == ("5000.00", "500.00", "4500.00")
    february_paid = settle(api, "MINPAY", "2026-02")
    if february_paid["settlement"] is not None:
        assert _lines(february_paid).get("M1", ("0.00", "0.00", "0.00")) == \
            ("0.00", "0.00", "0.00")
    else:
        assert february_paid["userErrors"][0]["code"] == "NOTHING_TO_SETTLE"
    assert _lines(settle(api, "MINPAY", "2026-03"))["M1"] == ("900.00", "90.00", "810.00")


def _lines(result: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    assert result["userErrors"] == [], result["userErrors"]
    return {line["dealer"]["code"]: (line["amount"], line["taxWithheld"], line["payable"])
            for line in result["settlement"]["lines"]}


def test_a_carry_follows_when_the_earlier_month_changes(api: Api) -> None:
    program(api, "MINMOVE")
    sales(api, "MINMOVE", "M2", ("2026-01-05", "60000"), ("2026-02-05", "50000"),
          ("2026-03-05", "30000"))
    # 600 carried into February: 500 + 600 = 1,100 ≥ 1,000, paid there.
    assert nets(api, "MINMOVE", "M2") == [("600.00", "0.00", "0.00"),
                                         ("500.00", "600.00", "1100.00"),
                                         ("300.00", "0.00", "300.00")]
    # A late January invoice lifts January over the minimum: it pays itself, and February
    # no longer holds January's money (paid once, not twice).
    sales(api, "MINMOVE", "M2", ("2026-01-06", "50000"))
    wait_for(lambda: nets(api, "MINMOVE", "M2")[0][2] == "1100.00")
    wait_for(lambda: nets(api, "MINMOVE", "M2")[1] == ("500.00", "0.00", "0.00"))
    assert nets(api, "MINMOVE", "M2") == [("1100.00", "0.00", "1100.00"),
                                         ("500.00", "0.00", "0.00"),
                                         ("300.00", "500.00", "800.00")]


def test_a_net_at_or_above_the_minimum_is_paid_at_once(api: Api) -> None:
    program(api, "MINOK", validTo="2026-12-31", periodKind="QUARTER")
    sales(api, "MINOK", "M3", ("2026-01-05", "100000"), ("2026-04-05", "99999"))
    q1 = accrual(api, "MINOK", "M3", "2026-Q1")
    q2 = accrual(api, "MINOK", "M3", "2026-Q2")
    assert (q1["netAmount"], q2["netAmount"]) == ("1000.00", "0.00")  # 999.99 carried
    assert "carried forward" not in trace(q1).lower()
    # No sales after June: the 999.99 still travels on, and the last quarter pays it.
    wait_for(lambda: _has(api, "MINOK", "M3", "2026-Q4"))
    q3 = accrual(api, "MINOK", "M3", "2026-Q3")
    q4 = accrual(api, "MINOK", "M3", "2026-Q4")
    assert (q3["adjustmentAmount"], q3["netAmount"]) == ("999.99", "0.00")
    assert (q4["adjustmentAmount"], q4["netAmount"]) == ("999.99", "999.99")
    assert "carried forward from 2026-Q3" in trace(q4)


def _has(api: Api, code: str, dealer_code: str, period: str) -> bool:
    data = api.gql("query($f: AccrualFilter) { accruals(filter: $f) { totalCount } }",
                   {"f": {"programCode": code, "dealerCode": dealer_code, "period": period}})
    return bool(data["accruals"]["totalCount"])


def test_late_data_for_a_closed_carrying_month_joins_the_carry(api: Api) -> None:
    dealer(api, "M4", region="WEST")
    program(api, "MINLATE")
    sales(api, "MINLATE", "M4", ("2026-01-05", "40000"))
    assert close(api, "MINLATE", "2026-01")["userErrors"] == []
    january = accrual(api, "MINLATE", "M4", "2026-01")
    assert (january["status"], january["netAmount"]) == ("APPROVED", "0.00")  # 400 carried
    sales(api, "MINLATE", "M4", ("2026-01-06", "70000"))  # late, for the closed January
    # February holds January's 400 carried and the late 700: 1,100 ≥ 1,000, paid there.
    wait_for(lambda: _has(api, "MINLATE", "M4", "2026-02")
             and accrual(api, "MINLATE", "M4", "2026-02")["netAmount"] == "1100.00")
    february = accrual(api, "MINLATE", "M4", "2026-02")
    assert (february["grossAmount"], february["adjustmentAmount"]) == ("0.00", "1100.00")
    assert "carried forward from 2026-01" in trace(february)
    assert accrual(api, "MINLATE", "M4", "2026-01")["netAmount"] == "0.00"  # locked as was
