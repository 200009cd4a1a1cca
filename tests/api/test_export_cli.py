"""`rebates export settlement`: what the finance system receives, as CSV and XLSX."""
from __future__ import annotations

import csv
import os
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
    with target.open(encoding="utf-8") as handle:
        lines = {r["dealer_code"]: r for r in csv.DictReader(handle)}
    # 1,234.567 → 1,234.57; tax 10 % 123.457 → 123.46; payable 1,111.11
    assert (lines["EX1"]["amount"], lines["EX1"]["tax_withheld"], lines["EX1"]["payable"]) \
        == ("1234.57", "123.46", "1111.11")
    assert lines["EX1"]["dealer_name"] == "华东 East" and lines["EX2"]["form"] == "CASH"
    assert lines["EX2"]["currency"] == "CNY" and lines["EX2"]["period"] == "2026-Q1"


def test_xlsx_has_numbers_and_a_totals_row(api: Api, tmp_path: Path) -> None:
    target, _ = export_settlement(f"{api.base_url}/graphql", api.token("FINANCE"), "EXPORT",
                                  "2026-Q1", "xlsx", tmp_path / "out.xlsx")
    sheet = load_workbook(target).active
    assert sheet is not None
    values = [[cell.value for cell in r] for r in sheet.iter_rows()]
    header, *body, totals = values
    payable = header.index("payable")
    assert [Decimal(str(r[payable])) for r in body] == [Decimal("1111.11"), Decimal("9.00")]
    assert totals[0] == "TOTAL" and Decimal(str(totals[payable])) == Decimal("1120.11")


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
