"""`rebates export settlement`: what the finance system receives, as CSV and XLSX."""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from service.exporter import ExportFailed, export_settlement
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
