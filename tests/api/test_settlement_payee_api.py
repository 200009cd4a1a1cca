"""A payout document keeps what it was paid to, and has a number a person can say (issue 9).

Q1 is settled while dealer PY1 is "华北 North" in NORTH and the program withholds 10 %; then
the dealer is renamed and moved and the program's tax rate becomes 6 %, and Q2 is settled.
"""
from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from service.exporter import export_settlement
from tests.api.control_helpers import close, settle
from tests.api.engine_helpers import create_program, dealer, program_input, record, row, settled
from tests.conftest import Api

PROGRAM = "PAYEE"
NUMBER = re.compile(r"STL-(\d{4})-(\d{6})")
PAYEE = "payee { dealerCode name region payoutForm taxRate }"
SETTLEMENTS = f"""query($program: String, $period: String, $number: String) {{
  settlements(programCode: $program, period: $period, number: $number) {{
    id number period createdAt totalPayable
    lines {{ {PAYEE} dealer {{ code name region }} amount taxWithheld payable form }} }} }}"""


def settlements(api: Api, role: str = "FINANCE", dealer_code: str | None = None,
                **variables: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.gql(SETTLEMENTS, variables, role=role,
                                          dealer=dealer_code)["settlements"]
    return found


def one(api: Api, period: str) -> dict[str, Any]:
    [found] = settlements(api, program=PROGRAM, period=period)
    return found


def lines_by_dealer(settlement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["payee"]["dealerCode"]: line for line in settlement["lines"]}


def set_tax_rate(api: Api, rate: str) -> None:
    answer = api.gql("""mutation($input: ProgramInput!) { updateProgram(input: $input) {
        program { taxRate } userErrors { field message code } } }""", {"input": program_input(
        PROGRAM, activate=None, taxRate=rate,
        terms=[{"tiers": [{"threshold": "0", "rate": "10"}]}])})["updateProgram"]
    assert answer["userErrors"] == [] and answer["program"]["taxRate"] == rate, answer


@pytest.fixture(scope="module", autouse=True)
def two_settlements(api: Api) -> dict[str, dict[str, Any]]:
    """Q1 paid before the rename and the tax change, Q2 after: the API's answers to settle."""
    dealer(api, "PY1", name="华北 North", region="NORTH")
    dealer(api, "PY2", name="Second Dealer")  # no region
    assert create_program(api, PROGRAM, terms=[{"tiers": [{"threshold": "0", "rate": "10"}]}],
                          taxRate="10")["userErrors"] == []
    record(api, [row("py-1", "PY1", "INVOICE", "2026-02-01", "10000"),
                 row("py-2", "PY2", "INVOICE", "2026-02-01", "500")])
    settled(api)
    close(api, PROGRAM, "2026-Q1")
    first = settle(api, PROGRAM, "2026-Q1")
    assert first["userErrors"] == []
    dealer(api, "PY1", name="Renamed Ltd.", region="SOUTH")
    set_tax_rate(api, "6")
    record(api, [row("py-3", "PY1", "INVOICE", "2026-05-01", "20000")])
    settled(api)
    close(api, PROGRAM, "2026-Q2")
    second = settle(api, PROGRAM, "2026-Q2")
    assert second["userErrors"] == []
    return {"2026-Q1": first["settlement"], "2026-Q2": second["settlement"]}


def test_a_paid_line_keeps_the_name_region_and_tax_it_was_paid_with(api: Api) -> None:
    lines = lines_by_dealer(one(api, "2026-Q1"))
    assert lines["PY1"]["payee"] == {"dealerCode": "PY1", "name": "华北 North",
                                     "region": "NORTH", "payoutForm": "CASH", "taxRate": "10"}
    assert lines["PY2"]["payee"] == {"dealerCode": "PY2", "name": "Second Dealer",
                                     "region": None, "payoutForm": "CASH", "taxRate": "10"}
    # the figures were paid at 10 %, and the payee says so
    assert (lines["PY1"]["amount"], lines["PY1"]["taxWithheld"], lines["PY1"]["payable"]) == \
        ("1000.00", "100.00", "900.00")


def test_the_dealer_field_still_shows_the_dealer_as_it_is_now(api: Api) -> None:
    lines = lines_by_dealer(one(api, "2026-Q1"))
    assert lines["PY1"]["dealer"] == {"code": "PY1", "name": "Renamed Ltd.", "region": "SOUTH"}


def test_a_settlement_made_after_the_change_pays_the_new_name_and_tax(api: Api) -> None:
    line = lines_by_dealer(one(api, "2026-Q2"))["PY1"]
    assert line["payee"] == {"dealerCode": "PY1", "name": "Renamed Ltd.", "region": "SOUTH",
                             "payoutForm": "CASH", "taxRate": "6"}
    assert (line["amount"], line["taxWithheld"], line["payable"]) == \
        ("2000.00", "120.00", "1880.00")


def test_the_answer_to_settle_carries_the_number_and_the_payees(
        two_settlements: dict[str, dict[str, Any]], api: Api) -> None:
    answered = api.gql(f"""query($id: ID!) {{ node(id: $id) {{ ... on Settlement {{
        number lines {{ {PAYEE} }} }} }} }}""",
                       {"id": two_settlements["2026-Q1"]["id"]})["node"]
    assert answered["number"] == one(api, "2026-Q1")["number"]
    assert {line["payee"]["name"] for line in answered["lines"]} == {"华北 North",
                                                                      "Second Dealer"}


def test_numbers_are_per_year_sequential_and_unique(api: Api) -> None:
    first, second = one(api, "2026-Q1"), one(api, "2026-Q2")
    matched = [NUMBER.fullmatch(s["number"]) for s in (first, second)]
    assert all(matched), (first["number"], second["number"])
    years = {m.group(1) for m in matched if m}
    assert years == {first["createdAt"][:4]} == {"2026"}  # the year it was made
    sequences = [int(m.group(2)) for m in matched if m]
    assert sequences == [1, 2]  # this module's database starts its own sequence


def test_a_settlement_is_found_by_its_number(api: Api) -> None:
    wanted = one(api, "2026-Q2")
    assert [s["id"] for s in settlements(api, number=wanted["number"])] == [wanted["id"]]
    assert settlements(api, number="STL-2026-999999") == []
    assert settlements(api, program=PROGRAM, period="2026-Q1", number=wanted["number"]) == []


def test_a_dealer_sees_its_own_line_as_paid(api: Api) -> None:
    [mine] = settlements(api, role="DEALER", dealer_code="PY1", program=PROGRAM,
                         period="2026-Q1")
    assert [line["payee"]["name"] for line in mine["lines"]] == ["华北 North"]
    assert mine["number"] == one(api, "2026-Q1")["number"]


def test_settling_again_takes_no_number(api: Api) -> None:
    again = settle(api, PROGRAM, "2026-Q1")
    assert [e["code"] for e in again["userErrors"]] == ["NOTHING_TO_SETTLE"]
    record(api, [row("py-4", "PY2", "INVOICE", "2026-08-01", "100")])
    settled(api)
    close(api, PROGRAM, "2026-Q3")
    third = settle(api, PROGRAM, "2026-Q3")
    assert third["userErrors"] == []
    [found] = settlements(api, program=PROGRAM, period="2026-Q3")
    assert found["number"].endswith("-000003")  # no number spent by the refused call


def test_the_export_shows_the_number_and_the_payee_as_paid(api: Api, tmp_path: Path) -> None:
    number = one(api, "2026-Q1")["number"]
    target, count = export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"),
                                      PROGRAM, "2026-Q1", "csv", tmp_path / "paid.csv")
    assert count == 2
    with target.open(encoding="utf-8-sig") as handle:
        lines = {r["dealer_code"]: r for r in csv.DictReader(handle)}
    assert (lines["PY1"]["dealer_name"], lines["PY1"]["dealer_region"]) == ("华北 North",
                                                                             "NORTH")
    assert (lines["PY2"]["dealer_name"], lines["PY2"]["dealer_region"]) == ("Second Dealer", "")
    assert {r["settlement_number"] for r in lines.values()} == {number}
    assert {r["tax_rate"] for r in lines.values()} == {"10"}
    assert lines["PY1"]["accrual"] == f"{PROGRAM}/2026-Q1/PY1"


def test_the_xlsx_export_shows_the_number_and_the_payee_as_paid(api: Api,
                                                                 tmp_path: Path) -> None:
    number = one(api, "2026-Q1")["number"]
    target, _ = export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"), PROGRAM,
                                  "2026-Q1", "xlsx", tmp_path / "paid.xlsx")
    sheet = load_workbook(target).active
    assert sheet is not None
    header, *body, totals = [[cell.value for cell in r] for r in sheet.iter_rows()]
    assert totals[0] == "TOTAL"
    found = {r[header.index("dealer_code")]: r for r in body}
    paid = found["PY1"]
    assert paid[header.index("dealer_name")] == "华北 North"
    assert paid[header.index("dealer_region")] == "NORTH"
    assert found["PY2"][header.index("dealer_region")] is None  # an empty cell
    assert paid[header.index("settlement_number")] == number
    assert Decimal(str(paid[header.index("tax_rate")])) == Decimal("10")
