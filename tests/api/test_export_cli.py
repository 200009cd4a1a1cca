"""`rebates export settlement` and `rebates export account`: what the finance system
receives, and the statement of account a dealer is sent, as CSV and XLSX."""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from service.exporter import ExportFailed, export_settlement
from service.statement import export_account
from tests.api.account_helpers import capture, fund, refund, reserve
from tests.api.control_helpers import close, settle
from tests.api.engine_helpers import create_program, dealer, record, row, settled
from tests.conftest import Api


@pytest.fixture(scope="module", autouse=True)
def settled_period(api: Api) -> None:
    for code, name in (("EX1", "华东 East"), ("EX2", "South, Ltd.")):
        dealer(api, code, name=name)
    create_program(api, "EXPORT", terms=[{"tiers": [{"threshold": "0", "rate": "10"}]}])
    record(api, [row("ex-1", "EX1", "INVOICE", "2026-02-01", "12345.67"),
                 row("ex-2", "EX2", "INVOICE", "2026-02-01", "100")])
    settled(api)
    close(api, "EXPORT", "2026-Q1")
    assert settle(api, "EXPORT", "2026-Q1")["userErrors"] == []


def test_csv_has_a_line_per_dealer_with_exact_figures(api: Api, tmp_path: Path) -> None:
    target, count = export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"),
                                      "EXPORT", "2026-Q1", "csv", tmp_path / "out.csv")
    assert count == 2
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for Excel
    with target.open(encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames is not None and reader.fieldnames[0] == "settlement"
        lines = {r["dealer_code"]: r for r in reader}
    # 1,234.567 → 1,234.57; tax 10 % 123.457 → 123.46; payable 1,111.11
    assert (lines["EX1"]["amount"], lines["EX1"]["tax_withheld"], lines["EX1"]["payable"]) \
        == ("1234.57", "123.46", "1111.11")
    assert lines["EX1"]["dealer_name"] == "华东 East" and lines["EX2"]["form"] == "CASH"
    assert lines["EX2"]["currency"] == "CNY" and lines["EX2"]["period"] == "2026-Q1"


def test_csv_references_are_readable_and_global_ids_come_last(api: Api,
                                                               tmp_path: Path) -> None:
    target, _ = export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"), "EXPORT",
                                  "2026-Q1", "csv", tmp_path / "refs.csv")
    with target.open(encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        lines = {r["dealer_code"]: r for r in reader}
        assert reader.fieldnames is not None
        assert list(reader.fieldnames[-2:]) == ["settlement_id", "accrual_id"]
    first = lines["EX1"]
    assert re.fullmatch(r"EXPORT/2026-Q1/[0-9A-Z]{8}", first["settlement"]), first
    assert first["settlement"] == lines["EX2"]["settlement"]  # one settlement, two lines
    assert (first["accrual"], lines["EX2"]["accrual"]) == ("EXPORT/2026-Q1/EX1",
                                                            "EXPORT/2026-Q1/EX2")
    # the opaque global ids are still there, for a round trip to the API
    assert first["settlement_id"] not in first["settlement"] and first["settlement_id"]
    assert first["accrual_id"] and first["accrual_id"] != lines["EX2"]["accrual_id"]
    assert dt.datetime.fromisoformat(first["settled_at"]).tzinfo is not None


def test_xlsx_has_numbers_and_a_totals_row(api: Api, tmp_path: Path) -> None:
    target, _ = export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"), "EXPORT",
                                  "2026-Q1", "xlsx", tmp_path / "out.xlsx")
    sheet = load_workbook(target).active
    assert sheet is not None
    values = [[cell.value for cell in r] for r in sheet.iter_rows()]
    header, *body, totals = values
    payable = header.index("payable")
    assert [Decimal(str(r[payable])) for r in body] == [Decimal("1111.11"), Decimal("9.00")]
    assert totals[0] == "TOTAL"
    assert body[0][header.index("settlement")].startswith("EXPORT/2026-Q1/")


def test_xlsx_is_finance_ready(api: Api, tmp_path: Path) -> None:
    target, _ = export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"), "EXPORT",
                                  "2026-Q1", "xlsx", tmp_path / "ready.xlsx")
    sheet = load_workbook(target).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    last_body, totals_row = 3, 4  # two lines, then the totals
    assert sheet.max_row == totals_row
    letter = {name: sheet.cell(row=1, column=i + 1).column_letter
              for i, name in enumerate(header)}
    # real dates: a datetime cell with a date number format, not text
    settled = sheet[f"{letter['settled_at']}2"]
    assert isinstance(settled.value, dt.datetime) and settled.is_date
    assert "yyyy" in settled.number_format.lower()
    # amounts: numbers with two decimals, exact
    for name in ("amount", "tax_withheld", "payable"):
        for row_number in (2, last_body):
            cell = sheet[f"{letter[name]}{row_number}"]
            assert isinstance(cell.value, int | float | Decimal), (name, cell.value)
            assert cell.number_format == "#,##0.00"
        # totals by formula, over exactly the body rows
        total = sheet[f"{letter[name]}{totals_row}"]
        assert total.value == f"=SUM({letter[name]}2:{letter[name]}{last_body})"
        assert total.number_format == "#,##0.00"
    assert sheet[f"{letter['amount']}2"].value == pytest.approx(1234.57)
    # layout: widths, autofilter over the header and body, frozen header
    for column in sheet.iter_cols(min_row=1, max_row=last_body):
        widest = max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(cell.value))
                     for cell in column if not isinstance(cell.value, dt.datetime))
        width = sheet.column_dimensions[column[0].column_letter].width
        assert width is not None and width >= widest, (column[0].value, width, widest)
    assert sheet.column_dimensions[letter["settlement"]].width > 13  # not the default
    assert sheet.auto_filter.ref == f"A1:{letter[header[-1]]}{last_body}"
    assert sheet.freeze_panes == "A2"


def test_an_unsettled_period_and_a_dealer_token_are_refused(api: Api, tmp_path: Path) -> None:
    with pytest.raises(ExportFailed, match="settle it first"):
        export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"), "EXPORT",
                          "2026-Q2", "csv", tmp_path / "none.csv")
    target, count = export_settlement(f"{api.base_url}/graphql",
                                      api.token("DEALER", dealer="EX2"), "EXPORT", "2026-Q1",
                                      "csv", tmp_path / "mine.csv")
    assert count == 1 and "EX1" not in target.read_text(encoding="utf-8")


def test_the_command_line_writes_the_file(api: Api, tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "service.cli", "export", "settlement", "EXPORT", "2026-Q1",
         "--url", f"{api.base_url}/graphql", "--token", api.token("FINANCE"),
         "--output", str(out)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "REBATES_DATA_DIR": str(tmp_path)}, check=False)
    assert done.returncode == 0, done.stderr
    assert "2 line(s) written" in done.stdout and out.exists()


# ---- `rebates export account`: the statement of account (对账单) ----------------------------

@pytest.fixture(scope="module")
def statement_account(api: Api, settled_period: None) -> str:
    """EXA: 250.00 credited (P-EXA, CREDIT_NOTE), an order using 100.00 of it and 40.00
    given back, another holding 30.00. Balance 190.00, reserved 30.00."""
    dealer(api, "EXA", name="华南 Statement Ltd")
    fund(api, "P-EXA", {"EXA": "250.00"}, days=90)
    for call in (reserve(api, "EXA", "SO-EXA-1", "100.00"), capture(api, "SO-EXA-1"),
                 refund(api, "SO-EXA-1", "40.00"), reserve(api, "EXA", "SO-EXA-2", "30.00")):
        assert call["userErrors"] == [], call
    return "EXA"


def statement_csv(api: Api, path: Path, **options: Any) -> tuple[list[dict[str, str]], int]:
    target, count = export_account(f"{api.base_url}/graphql", api.token("FINANCE"), "EXA",
                                   None, "csv", path, **options)
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for Excel
    with target.open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle)), count


def money(value: str) -> Decimal:
    return Decimal(value) if value else Decimal(0)


def test_the_statement_adds_up_from_opening_to_closing(api: Api, statement_account: str,
                                                       tmp_path: Path) -> None:
    lines, count = statement_csv(api, tmp_path / "statement.csv")
    opening, *body, closing = lines
    assert count == len(body) == 5
    assert (opening["kind"], opening["balance"]) == ("OPENING BALANCE", "0.00")
    assert [r["kind"] for r in body] == ["CREDIT", "RESERVE", "CAPTURE", "REFUND", "RESERVE"]
    assert [(r["amount_in"], r["amount_out"], r["balance"], r["reserved"]) for r in body] == [
        ("250.00", "", "250.00", "0.00"), ("", "", "250.00", "100.00"),
        ("", "100.00", "150.00", "0.00"), ("40.00", "", "190.00", "0.00"),
        ("", "", "190.00", "30.00")]
    running = money(opening["balance"])
    for line in body:  # each balance is the one before, plus in, minus out
        running += money(line["amount_in"]) - money(line["amount_out"])
        assert money(line["balance"]) == running, line
    assert closing["kind"] == "CLOSING BALANCE"
    assert (closing["amount_in"], closing["amount_out"], closing["balance"],
            closing["reserved"]) == ("290.00", "100.00", "190.00", "30.00")
    assert money(opening["balance"]) + money(closing["amount_in"]) - \
        money(closing["amount_out"]) == money(closing["balance"])
    # the account the API shows says the same
    [shown] = api.gql('{ dealer(code: "EXA") { rebateAccounts { balance reserved } } }')[
        "dealer"]["rebateAccounts"]
    assert (money(shown["balance"]), money(shown["reserved"])) == \
        (Decimal("190.00"), Decimal("30.00"))


def test_the_statement_says_what_caused_each_entry(api: Api, statement_account: str,
                                                   tmp_path: Path) -> None:
    lines, _ = statement_csv(api, tmp_path / "words.csv")
    credit, reserved, used, returned, held = lines[1:-1]
    [settlement] = api.gql('{ settlements(programCode: "P-EXA") { number } }')["settlements"]
    assert credit["settlement_number"] == settlement["number"]
    assert credit["reference"] == f"Rebate credited, settlement {settlement['number']} " \
                                  "(P-EXA 2026-Q1)"
    assert credit["expires_on"] == "2027-02-18"  # settled 2026-11-20, valid 90 days
    assert (reserved["order_id"], used["order_id"], returned["order_id"], held["order_id"]) == \
        ("SO-EXA-1", "SO-EXA-1", "SO-EXA-1", "SO-EXA-2")
    assert used["reference"] == "Used on order SO-EXA-1"
    assert returned["reference"] == "Given back, order SO-EXA-1 returned"
    assert {line["dealer_name"] for line in lines} == {"华南 Statement Ltd"}
    assert {line["currency"] for line in lines} == {"CNY"}
    assert dt.datetime.fromisoformat(credit["date"]).date() == dt.date(2026, 11, 20)


def test_dates_outside_the_range_become_the_opening_balance(api: Api, statement_account: str,
                                                            tmp_path: Path) -> None:
    later, count = statement_csv(api, tmp_path / "later.csv", start=dt.date(2026, 11, 21))
    assert count == 0
    opening, closing = later
    assert (opening["balance"], opening["reserved"], closing["balance"],
            closing["reserved"]) == ("190.00", "30.00", "190.00", "30.00")
    assert opening["date"].startswith("2026-11-21")
    earlier, count = statement_csv(api, tmp_path / "earlier.csv", end=dt.date(2026, 11, 19))
    assert count == 0 and [line["balance"] for line in earlier] == ["0.00", "0.00"]
    same_day, count = statement_csv(api, tmp_path / "day.csv", start=dt.date(2026, 11, 20),
                                    end=dt.date(2026, 11, 20))
    assert count == 5 and same_day[-1]["balance"] == "190.00"


def test_the_statement_xlsx_is_finance_ready(api: Api, statement_account: str,
                                            tmp_path: Path) -> None:
    target, count = export_account(f"{api.base_url}/graphql", api.token("FINANCE"), "EXA",
                                   "CNY", "xlsx", tmp_path / "statement.xlsx")
    sheet = load_workbook(target).active
    assert sheet is not None and count == 5
    header = [cell.value for cell in sheet[1]]
    letter = {name: sheet.cell(row=1, column=i + 1).column_letter
              for i, name in enumerate(header)}
    first, last, closing = 2, 7, 8  # the opening row, five entries, the closing row
    assert sheet.max_row == closing
    assert sheet[f"{letter['kind']}{first}"].value == "OPENING BALANCE"
    assert sheet[f"{letter['kind']}{closing}"].value == "CLOSING BALANCE"
    date = sheet[f"{letter['date']}3"]
    assert isinstance(date.value, dt.datetime) and date.is_date
    expires = sheet[f"{letter['expires_on']}3"]
    assert expires.is_date and expires.value.date() == dt.date(2027, 2, 18)
    for name in ("amount_in", "amount_out", "balance", "reserved"):
        for row_number in range(first, closing + 1):
            assert sheet[f"{letter[name]}{row_number}"].number_format == "#,##0.00", name
    assert sheet[f"{letter['amount_in']}3"].value == pytest.approx(250)
    assert sheet[f"{letter['amount_in']}{closing}"].value == \
        f"=SUM({letter['amount_in']}{first}:{letter['amount_in']}{last})"
    b, i, o = letter["balance"], letter["amount_in"], letter["amount_out"]
    assert sheet[f"{b}{closing}"].value == \
        f"={b}{first}+SUM({i}{first}:{i}{last})-SUM({o}{first}:{o}{last})"
    assert sheet.auto_filter.ref == f"A1:{letter[header[-1]]}{last}"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions[letter["reference"]].width > 30  # fitted to the words


def test_the_command_line_writes_the_statement(api: Api, statement_account: str,
                                              tmp_path: Path) -> None:
    out = tmp_path / "account.xlsx"
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "service.cli", "export", "account", "EXA", "--currency", "CNY",
         "--format", "xlsx", "--from", "2026-01-01", "--to", "2026-12-31",
         "--url", f"{api.base_url}/graphql", "--token", api.token("FINANCE"),
         "--output", str(out)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "REBATES_DATA_DIR": str(tmp_path)}, check=False)
    assert done.returncode == 0, done.stderr
    assert "5 entries written" in done.stdout and out.exists()
    wrong = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "service.cli", "export", "account", "EXA", "--currency", "USD",
         "--url", f"{api.base_url}/graphql", "--token", api.token("FINANCE"),
         "--output", str(tmp_path / "none.csv")], capture_output=True, text=True, timeout=60,
        env={**os.environ, "REBATES_DATA_DIR": str(tmp_path)}, check=False)
    assert wrong.returncode == 2 and "no rebate account in USD" in wrong.stderr


def test_a_dealer_reads_only_its_own_statement(api: Api, statement_account: str,
                                               tmp_path: Path) -> None:
    own, count = export_account(f"{api.base_url}/graphql", api.token("DEALER", dealer="EXA"),
                                "EXA", None, "csv", tmp_path / "own.csv")
    assert count == 5 and own.exists()
    with pytest.raises(ExportFailed, match="no dealer EXA"):
        export_account(f"{api.base_url}/graphql", api.token("DEALER", dealer="EX1"), "EXA",
                       None, "csv", tmp_path / "other.csv")
    with pytest.raises(ExportFailed, match="no rebate account yet"):
        export_account(f"{api.base_url}/graphql", api.token("FINANCE"), "EX2", None, "csv",
                       tmp_path / "empty.csv")
