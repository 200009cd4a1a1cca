"""`rebates export account DEALER`: the statement of account (对账单) a dealer is sent.

Reads the dealer's rebate account from the running service (GraphQL over HTTP, as
`rebates export settlement` does, with its writers: service/exporter.py) and writes the
opening balance, one row per entry oldest first — when (business time), what (the entry
kind and its cause in words: the settlement number and program period of a credit or a
reclaim, the order of a reservation, a use, a release or a refund), money in, money out, the
balance after it, what stays reserved for orders after it — and the closing balance.

- `--from`/`--to` (business dates, inclusive) list only the entries of those days; the
  opening balance is then the balance after the last entry before `--from`.
- RESERVE and RELEASE only hold and free money: the balance does not move (their amount
  shows in `reserved`), so opening + Σ in − Σ out = closing always holds.
- CSV: UTF-8 with a BOM, opening and closing as rows of their own. XLSX: real date-times
  and dates, money as two-place numbers, fitted widths, an autofilter, a frozen header; the
  closing row sums in and out by formula and computes the closing balance from the opening
  balance cell, so a reader can check it.
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.exporter import ExportFailed, Table, graphql, write_csv, write_xlsx

PAGE = 100  # the most a page holds (service/pagination.py)
ACCOUNTS = """query Accounts($dealer: String!) {
  dealer(code: $dealer) { code name rebateAccounts { currency balance reserved } }
}"""
ENTRIES = """query Entries($dealer: String!, $first: Int!, $after: String) {
  dealer(code: $dealer) { rebateAccounts { currency
    entries(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { id kind amount balanceAfter reservedAfter orderId settlementId expiresOn
                     at note } } } } }
}"""
SETTLEMENT = """query Settlement($id: ID!) {
  node(id: $id) { ... on Settlement { number period program { code } } }
}"""
COLUMNS = ("date", "kind", "reference", "amount_in", "amount_out", "balance", "reserved",
           "expires_on", "order_id", "settlement_number", "note", "dealer_code", "dealer_name",
           "currency", "entry_id", "settlement_id")
KINDS = {"date": "DATETIME", "amount_in": "MONEY", "amount_out": "MONEY",
         "balance": "MONEY", "reserved": "MONEY", "expires_on": "DATE"}
HOLDS = ("RESERVE", "RELEASE")  # on `reserved`, not on the balance
OPENING, CLOSING = "OPENING BALANCE", "CLOSING BALANCE"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Statement:
    dealer_code: str
    dealer_name: str
    currency: str
    opening: Decimal
    opening_reserved: Decimal
    entries: list[dict[str, Any]]  # oldest first, within the dates asked
    closing: Decimal
    closing_reserved: Decimal


def cents(value: Any) -> str:
    """Money to the cent, as plain text (`0.00`, never `0` or `1E+2`)."""
    return f"{Decimal(str(value)).quantize(CENT):f}"


def _account_currency(dealer: str, accounts: list[dict[str, Any]], wanted: str | None) -> str:
    currencies = [a["currency"] for a in accounts]
    if wanted is not None:
        if wanted.upper() not in currencies:
            raise ExportFailed(f"dealer {dealer} has no rebate account in {wanted.upper()}"
                               + (f" (only {', '.join(currencies)})" if currencies else ""))
        return wanted.upper()
    if not currencies:
        raise ExportFailed(f"dealer {dealer} has no rebate account yet")
    if len(currencies) > 1:
        raise ExportFailed(f"dealer {dealer} has accounts in {', '.join(currencies)}: "
                           "pass --currency")
    return str(currencies[0])


def _local(at: str, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(zone)


def fetch(url: str, token: str, dealer: str, currency: str | None, *,
          start: dt.date | None, end: dt.date | None, zone: ZoneInfo) -> Statement:
    found = graphql(url, token, ACCOUNTS, {"dealer": dealer})["dealer"]
    if found is None:
        raise ExportFailed(f"no dealer {dealer} (or not visible with this token)")
    chosen = _account_currency(dealer, found["rebateAccounts"], currency)
    listed: list[dict[str, Any]] = []  # newest first, as the API gives them
    before: dict[str, Any] | None = None  # the newest entry before `start`
    after: str | None = None
    while before is None:
        data = graphql(url, token, ENTRIES, {"dealer": dealer, "first": PAGE, "after": after})
        [connection] = [a["entries"] for a in data["dealer"]["rebateAccounts"]
                        if a["currency"] == chosen]
        for edge in connection["edges"]:
            entry, day = edge["node"], _local(edge["node"]["at"], zone).date()
            if start is not None and day < start:
                before = entry
                break
            if end is None or day <= end:
                listed.append(entry)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    opening = Decimal(before["balanceAfter"]) if before else Decimal(0)
    opening_reserved = Decimal(before["reservedAfter"]) if before else Decimal(0)
    entries = list(reversed(listed))
    last = entries[-1] if entries else None
    return Statement(
        dealer_code=found["code"], dealer_name=found["name"], currency=chosen,
        opening=opening, opening_reserved=opening_reserved, entries=entries,
        closing=Decimal(last["balanceAfter"]) if last else opening,
        closing_reserved=Decimal(last["reservedAfter"]) if last else opening_reserved)


Named = tuple[str, str]  # a settlement's number, and how a reference names it


def settlement_names(url: str, token: str, statement: Statement) -> dict[str, Named]:
    """Settlement id → (`STL-2026-000123`, `STL-2026-000123 (PROGRAM 2026-Q1)`) for the
    entries that name one."""
    names = {}
    for settlement_id in dict.fromkeys(e["settlementId"] for e in statement.entries
                                       if e.get("settlementId")):
        try:
            node = graphql(url, token, SETTLEMENT, {"id": settlement_id})["node"] or {}
        except ExportFailed:  # the reference stays without its number, the row is kept
            continue
        if node.get("number"):
            names[settlement_id] = (node["number"], f"{node['number']} "
                                                    f"({node['program']['code']} "
                                                    f"{node['period']})")
    return names


def reference(entry: dict[str, Any], settlement: str | None) -> str:
    """What caused the entry, in words."""
    order, kind = entry.get("orderId"), str(entry["kind"])
    of_settlement = f"settlement {settlement}" if settlement else "a settlement"
    words = {
        "CREDIT": f"Rebate credited, {of_settlement}",
        "RESERVE": f"Reserved for order {order}",
        "CAPTURE": f"Used on order {order}",
        "RELEASE": f"Reservation released, order {order} cancelled",
        "REFUND": f"Given back, order {order} returned",
        "EXPIRY": "Credit expired unused" + (f" (valid to {entry['expiresOn']})"
                                             if entry.get("expiresOn") else ""),
        "RECLAIM": f"Reclaimed after forfeiture, {of_settlement}",
    }
    return words.get(kind, kind)


def rows(statement: Statement, names: dict[str, Named], zone: ZoneInfo,
         start: dt.date | None) -> list[dict[str, str]]:
    """The opening balance (dated `start`, else the first entry's day), then the entries."""
    dealer = {"dealer_code": statement.dealer_code, "dealer_name": statement.dealer_name,
              "currency": statement.currency}
    blank = dict.fromkeys(COLUMNS, "")
    first_day = start or (_local(statement.entries[0]["at"], zone).date()
                          if statement.entries else None)
    out = [{**blank, **dealer, "kind": OPENING,
            "date": f"{first_day.isoformat()} 00:00:00" if first_day else "",
            "reference": "Balance brought forward", "balance": cents(statement.opening),
            "reserved": cents(statement.opening_reserved)}]
    for entry in statement.entries:
        amount = Decimal(str(entry["amount"]))
        moves = entry["kind"] not in HOLDS
        number, settlement = names.get(entry.get("settlementId") or "", ("", None))
        out.append({
            **blank, **dealer,
            "date": _local(entry["at"], zone).replace(tzinfo=None).isoformat(sep=" ",
                                                                             timespec="seconds"),
            "kind": entry["kind"], "reference": reference(entry, settlement),
            "amount_in": cents(amount) if moves and amount > 0 else "",
            "amount_out": cents(-amount) if moves and amount < 0 else "",
            "balance": cents(entry["balanceAfter"]), "reserved": cents(entry["reservedAfter"]),
            "expires_on": entry.get("expiresOn") or "", "order_id": entry.get("orderId") or "",
            "settlement_number": number,
            "note": entry.get("note") or "", "entry_id": entry["id"],
            "settlement_id": entry.get("settlementId") or ""})
    return out


def closing_row(statement: Statement, entries: list[dict[str, str]],
                end: dt.date | None) -> dict[str, str]:
    amount_in = sum((Decimal(r["amount_in"]) for r in entries if r["amount_in"]), Decimal(0))
    amount_out = sum((Decimal(r["amount_out"]) for r in entries if r["amount_out"]), Decimal(0))
    day = end.isoformat() if end else entries[-1]["date"][:10]
    return {**dict.fromkeys(COLUMNS, ""), "dealer_code": statement.dealer_code,
            "dealer_name": statement.dealer_name, "currency": statement.currency,
            "kind": CLOSING, "date": f"{day} 23:59:59" if day else "",
            "reference": "Balance carried forward", "amount_in": cents(amount_in),
            "amount_out": cents(amount_out), "balance": cents(statement.closing),
            "reserved": cents(statement.closing_reserved)}


def xlsx_table(closing: dict[str, str]) -> Table:
    """The closing row: in and out summed by formula, the closing balance from the opening
    balance cell (the first body row) and those sums; the rest as computed."""
    sums = {c: f"=SUM({{{c}}}{{first}}:{{{c}}}{{last}})" for c in ("amount_in", "amount_out")}
    return Table(COLUMNS, KINDS, {
        **{c: v for c, v in closing.items() if v}, **sums,
        "balance": "={balance}{first}+SUM({amount_in}{first}:{amount_in}{last})"
                   "-SUM({amount_out}{first}:{amount_out}{last})"})


def export_account(url: str, token: str, dealer: str, currency: str | None, fmt: str,
                   output: Path | None, *, start: dt.date | None = None,
                   end: dt.date | None = None, timezone: str = "UTC") -> tuple[Path, int]:
    """Write the statement; the file and how many entries it lists."""
    if start is not None and end is not None and end < start:
        raise ExportFailed(f"--to {end} is before --from {start}")
    zone = ZoneInfo(timezone)
    statement = fetch(url, token, dealer, currency, start=start, end=end, zone=zone)
    lines = rows(statement, settlement_names(url, token, statement), zone, start)
    closing = closing_row(statement, lines, end)
    target = output or Path(f"statement-{statement.dealer_code}-{statement.currency}.{fmt}")
    if fmt == "csv":
        write_csv(target, [*lines, closing], COLUMNS)
    else:
        write_xlsx(target, lines, f"{statement.dealer_code} {statement.currency}",
                   xlsx_table(closing))
    return target, len(statement.entries)


def run_cli(url: str, token: str, dealer: str, currency: str | None, fmt: str,
            output: Path | None, *, start: dt.date | None, end: dt.date | None,
            timezone: str) -> int:
    try:
        target, count = export_account(url, token, dealer, currency, fmt, output,
                                       start=start, end=end, timezone=timezone)
    except ExportFailed as error:
        print(f"rebates export: {error}", file=sys.stderr)
        return 2
    print(f"statement of {dealer}: {count} entr{'y' if count == 1 else 'ies'} written to "
          f"{target}")
    return 0
