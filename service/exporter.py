"""`rebates export settlement PROGRAM PERIOD`: the payout lines for the finance system.

Reads the settlements of a program period from the running service (GraphQL over HTTP, like
the import) and writes one row per line, finance-ready:

- CSV: UTF-8 with a BOM (so Excel, whatever its locale, reads Chinese names right), readable
  references (`PROGRAM/PERIOD/REF` for the settlement, its number `STL-2026-000123`,
  `PROGRAM/PERIOD/DEALER` for the accrual paid), decimals as plain text exactly as stored,
  the API's global ids in the last columns.
- The dealer as paid: code, name and region come from each line's payee snapshot, so a
  dealer renamed since still appears under the name the money went to.
- XLSX: the same columns; the settlement time a real date-time cell (UTC), amounts numbers
  with two places (written as Decimals, so exact), column widths fitted to the content, an
  autofilter over header and lines, a frozen header and a totals row of `=SUM(...)` formulas.
"""
from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

QUERY = """query Export($program: String!, $period: String!) {
  settlements(programCode: $program, period: $period) {
    id number createdAt totalPayable period program { code name currency }
    lines { payee { dealerCode name region taxRate } accrual { id } form amount taxWithheld
            payable }
  }
}"""
COLUMNS = ("settlement", "settlement_number", "settled_at", "program", "period", "currency",
           "dealer_code", "dealer_name", "dealer_region", "accrual", "form", "tax_rate",
           "amount", "tax_withheld", "payable", "settlement_id", "accrual_id")
MONEY = ("amount", "tax_withheld", "payable")
MONEY_FORMAT = "#,##0.00"
RATE_FORMAT = "0.00"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"


class ExportFailed(Exception):
    """Usage, connection or authorisation problem (exit code 2)."""


def graphql(url: str, token: str, query: str, variables: dict[str, Any],
            timeout: float = 60.0) -> dict[str, Any]:
    """The `data` of one GraphQL request; any failure as ExportFailed."""
    body = json.dumps({"query": query, "variables": variables})
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
    return dict(payload["data"])


def fetch(url: str, token: str, program: str, period: str,
          timeout: float = 60.0) -> list[dict[str, Any]]:
    data = graphql(url, token, QUERY, {"program": program, "period": period}, timeout)
    return list(data["settlements"])


def short_reference(global_id: str) -> str:
    """The last 8 characters of the key inside a global id, upper case: `A1B2C3D4`."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = global_id
    key = "".join(ch for ch in raw.partition(":")[2] or raw if ch.isalnum())
    return key[-8:].upper()


def plain(value: Any) -> str:
    """A decimal as plain text: `1234.57`, never `1.23457E+3`."""
    return f"{Decimal(str(value)):f}"


def rows(settlements: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for settlement in settlements:
        program = settlement["program"]
        prefix = f"{program['code']}/{settlement['period']}"
        for line in settlement["lines"]:
            payee = line["payee"]
            out.append({
                "settlement": f"{prefix}/{short_reference(settlement['id'])}",
                "settlement_number": settlement["number"],
                "settled_at": settlement["createdAt"],
                "program": program["code"], "period": settlement["period"],
                "currency": program["currency"], "dealer_code": payee["dealerCode"],
                "dealer_name": payee["name"], "dealer_region": payee["region"] or "",
                "accrual": f"{prefix}/{payee['dealerCode']}",
                "form": line["form"], "tax_rate": plain(payee["taxRate"]),
                "amount": plain(line["amount"]),
                "tax_withheld": plain(line["taxWithheld"]), "payable": plain(line["payable"]),
                "settlement_id": settlement["id"], "accrual_id": line["accrual"]["id"]})
    return out


@dataclass(frozen=True)
class Table:
    """What a sheet holds: its columns, how each is typed in XLSX (`MONEY`, `RATE`,
    `DATETIME`, `DATE`; text otherwise) and its last row, the totals: a value or a formula
    template per column, with `{first}`/`{last}` the first and last body row and each
    column's name its letter (`=SUM({payable}{first}:{payable}{last})`)."""

    columns: tuple[str, ...]
    kinds: dict[str, str]
    totals: dict[str, str]


SETTLEMENT_TABLE = Table(
    COLUMNS, {**dict.fromkeys(MONEY, "MONEY"), "tax_rate": "RATE", "settled_at": "DATETIME"},
    {"settlement": "TOTAL",
     **{column: f"=SUM({{{column}}}{{first}}:{{{column}}}{{last}})" for column in MONEY}})
FORMATS = {"MONEY": MONEY_FORMAT, "RATE": RATE_FORMAT, "DATETIME": DATETIME_FORMAT,
           "DATE": DATE_FORMAT}


def write_csv(path: Path, lines: list[dict[str, str]],
              columns: Sequence[str] = COLUMNS) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # BOM for Excel
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(lines)


def _cell_value(kind: str | None, value: str) -> Any:
    if kind in ("MONEY", "RATE"):
        return Decimal(value) if value != "" else None
    if value == "":
        return None  # an empty cell, not an empty string
    if kind == "DATETIME":  # Excel has no time zones: UTC (a naive value as it is)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment
    if kind == "DATE":
        return dt.date.fromisoformat(value)
    return value


def _display_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return len("2026-01-01 00:00:00")
    if isinstance(value, dt.date):
        return len("2026-01-01")
    if isinstance(value, Decimal):
        return len(f"{value:,.2f}")
    # CJK and other wide characters take two columns
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(value))


def write_xlsx(path: Path, lines: list[dict[str, str]], title: str,
               table: Table = SETTLEMENT_TABLE) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    columns = table.columns
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in lines:
        sheet.append([_cell_value(table.kinds.get(c), line[c]) for c in columns])
    last = len(lines) + 1  # the last line's row
    letters = {c: get_column_letter(i + 1) for i, c in enumerate(columns)}
    totals: list[Any] = [None] * len(columns)
    for c, template in table.totals.items():
        if template.startswith("="):  # over no line at all: 0
            totals[columns.index(c)] = (template.format(first=2, last=last, **letters)
                                        if lines else 0)
        else:
            totals[columns.index(c)] = _cell_value(table.kinds.get(c), template)
    sheet.append(totals)
    total_row = last + 1
    for cell in sheet[total_row]:
        cell.font = Font(bold=True)
    for c, kind in table.kinds.items():
        for row in sheet.iter_rows(min_row=2, max_row=total_row, min_col=columns.index(c) + 1,
                                   max_col=columns.index(c) + 1):
            row[0].number_format = FORMATS[kind]
    for c in columns:
        column = sheet.iter_rows(min_row=1, max_row=last, min_col=columns.index(c) + 1,
                                 max_col=columns.index(c) + 1)
        widest = max(_display_width(row[0].value) for row in column)
        sheet.column_dimensions[letters[c]].width = min(widest + 2, 60)
    sheet.auto_filter.ref = f"A1:{letters[columns[-1]]}{last}"
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
