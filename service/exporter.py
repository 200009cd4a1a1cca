"""`rebates export settlement PROGRAM PERIOD`: the payout lines for the finance system.

Reads the settlements of a program period from the running service (GraphQL over HTTP, like
the import) and writes one row per line: CSV (decimals as text, exactly as stored) or XLSX
(decimals as numbers with two places, a totals row, frozen header).
"""
from __future__ import annotations

import csv
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

QUERY = """query Export($program: String!, $period: String!) {
  settlements(programCode: $program, period: $period) {
    id createdAt totalPayable period program { code name currency }
    lines { dealer { code name } accrual { id } form amount taxWithheld payable }
  }
}"""
COLUMNS = ("settlement", "settled_at", "program", "period", "currency", "dealer_code",
           "dealer_name", "accrual", "form", "amount", "tax_withheld", "payable")
MONEY = ("amount", "tax_withheld", "payable")


class ExportFailed(Exception):
    """Usage, connection or authorisation problem (exit code 2)."""


def fetch(url: str, token: str, program: str, period: str,
          timeout: float = 60.0) -> list[dict[str, Any]]:
    body = json.dumps({"query": QUERY, "variables": {"program": program, "period": period}})
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's
        url, data=body.encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                 "User-Agent": "rebates-export/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = json.loads(response.read(), parse_float=Decimal)
    except urllib.error.HTTPError as error:
        raise ExportFailed(f"the service answered HTTP {error.code}: "
                           f"{error.read()[:200].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ExportFailed(f"cannot read from {url}: {getattr(error, 'reason', error)}") \
            from None
    if payload.get("errors"):
        raise ExportFailed(f"the service refused: {payload['errors'][0].get('message')}")
    return list(payload["data"]["settlements"])


def rows(settlements: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for settlement in settlements:
        program = settlement["program"]
        for line in settlement["lines"]:
            out.append({
                "settlement": settlement["id"], "settled_at": settlement["createdAt"],
                "program": program["code"], "period": settlement["period"],
                "currency": program["currency"], "dealer_code": line["dealer"]["code"],
                "dealer_name": line["dealer"]["name"], "accrual": line["accrual"]["id"],
                "form": line["form"], "amount": line["amount"],
                "tax_withheld": line["taxWithheld"], "payable": line["payable"]})
    return out


def write_csv(path: Path, lines: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(lines)


def write_xlsx(path: Path, lines: list[dict[str, str]], title: str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in lines:
        sheet.append([Decimal(line[c]) if c in MONEY else line[c] for c in COLUMNS])
    totals = ["TOTAL", *[""] * (len(COLUMNS) - 4),
              *[sum((Decimal(line[c]) for line in lines), Decimal(0)) for c in MONEY]]
    sheet.append(totals)
    for column in (COLUMNS.index(c) + 1 for c in MONEY):
        for row in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            row[0].number_format = "#,##0.00"
    sheet.freeze_panes = "A2"
    book.save(path)


def export_settlement(url: str, token: str, program: str, period: str, fmt: str,
                      output: Path | None) -> tuple[Path, int]:
    settlements = fetch(url, token, program, period)
    if not settlements:
        raise ExportFailed(f"no settlement for {program} {period}: settle it first")
    lines = rows(settlements)
    target = output or Path(f"settlement-{program}-{period}.{fmt}")
    if fmt == "csv":
        write_csv(target, lines)
    else:
        write_xlsx(target, lines, f"{program} {period}")
    return target, len(lines)


def run_cli(url: str, token: str, program: str, period: str, fmt: str,
            output: Path | None) -> int:
    try:
        target, count = export_settlement(url, token, program, period, fmt, output)
    except ExportFailed as error:
        print(f"rebates export: {error}", file=sys.stderr)
        return 2
    print(f"{count} line(s) written to {target}")
    return 0
