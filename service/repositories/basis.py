"""A program's basis per dealer, aggregated inside MongoDB from the domain's BASIS_RULES.

One pipeline gives, per dealer, the period basis, the cumulative (year-to-date) basis and
the transactions left out because their currency is not the program's.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from domain.basis import BASIS_RULES, QUANTITY
from domain.money import ZERO
from domain.periods import DateRange, Period, parse_period
from domain.programs import ProgramRules
from domain.sales_ledger import CountingRule, MonthFigures, Monthly, month_figures
from domain.transaction_tiers import CountedTransaction
from service.db import Database
from service.repositories import sales_reads
from service.repositories.query import LONG_LIST


@dataclass(frozen=True)
class DealerBasis:
    period: Decimal = ZERO
    cumulative: Decimal = ZERO
    counted: int = 0
    foreign_count: int = 0
    foreign_currencies: tuple[str, ...] = field(default_factory=tuple)


def signed_value(rules: ProgramRules) -> dict[str, Any]:
    """The transaction's contribution to this program's basis, as an expression."""
    branches = []
    for kind, term in BASIS_RULES[rules.basis].items():
        value: Any = f"${term.field}"
        if term.field == QUANTITY:
            value = {"$ifNull": [value, 0]}
        if term.sign < 0:
            value = {"$multiply": [value, -1]}
        branches.append({"case": {"$eq": ["$kind", kind.value]}, "then": value})
    return {"$switch": {"branches": branches, "default": 0}}


def match_stages(rules: ProgramRules, window: DateRange,
                 dealer_codes: Iterable[str] | None) -> list[dict[str, Any]]:
    """The transactions a program counts in a window, as two `$match` stages.

    The first names exactly the fields of an index — (dealerCode, date) for one dealer,
    (date) otherwise — because the embedded server only plans an index for a filter made
    of that index's fields; the second narrows to the program's kinds, products, dealers.
    """
    dates = {"$gte": window.start.isoformat(), "$lte": window.end.isoformat()}
    codes = list(dict.fromkeys(dealer_codes)) if dealer_codes is not None else None
    rest: dict[str, Any] = {"kind": {"$in": [kind.value for kind in BASIS_RULES[rules.basis]]}}
    if rules.product_codes:
        rest["productCode"] = {"$in": list(rules.product_codes)}
    if codes is not None and len(codes) == 1:
        first: dict[str, Any] = {"dealerCode": codes[0], "date": dates}
    else:
        first = {"date": dates}
        if codes is not None and len(codes) <= LONG_LIST:  # else the caller filters
            rest["dealerCode"] = {"$in": codes}
    return [{"$match": first}, {"$match": rest}]


def whole_and_partial_months(window: DateRange) -> tuple[list[str], list[DateRange]]:
    """The calendar months `window` covers entirely (read from the ledger), and the parts of
    months it covers in part (a validity starting or ending mid-month: read from the
    transactions, at most two)."""
    whole: list[str] = []
    partial: list[DateRange] = []
    month = window.start.replace(day=1)
    while month <= window.end:
        following = (month.replace(year=month.year + 1, month=1) if month.month == 12
                     else month.replace(month=month.month + 1))
        last = following - dt.timedelta(days=1)
        if window.start <= month and last <= window.end:
            whole.append(month.isoformat()[:7])
        else:
            partial.append(DateRange(max(window.start, month), min(window.end, last)))
        month = following
    return whole, partial


async def monthly_basis(db: Database, rules: ProgramRules, window: DateRange,
                        dealer_codes: Iterable[str] | None = None) -> Monthly:
    """Per dealer and calendar month of `window`, the signed basis in the program's currency
    and the transactions in other currencies.

    Whole months come from the monthly sales ledger (small documents, one per dealer and
    month); months the window covers in part, and everything while the ledger is being
    backfilled, from the transactions. One pass serves every period (and every
    year-to-date sum) inside `window`.
    """
    codes = list(dict.fromkeys(dealer_codes)) if dealer_codes is not None else None
    whole, partial = whole_and_partial_months(window)
    cells = await sales_reads.read(db, whole, codes,
                                    with_products=bool(rules.product_codes))
    if cells is None:
        return await aggregate_monthly(db, rules, window, codes)
    rule = CountingRule(rules.basis, rules.currency, frozenset(rules.product_codes))
    found = month_figures(rule, cells, set(whole))
    for part in partial:
        for dealer, months in (await aggregate_monthly(db, rules, part, codes)).items():
            found.setdefault(dealer, {}).update(months)
    return found


async def aggregate_monthly(db: Database, rules: ProgramRules, window: DateRange,
                            dealer_codes: list[str] | None) -> Monthly:
    """`monthly_basis` from the transactions themselves: one aggregation over the window."""
    cursor = await db.transactions.aggregate([
        *match_stages(rules, window, dealer_codes),
        {"$group": {"_id": {"dealer": "$dealerCode", "month": {"$substrBytes": ["$date", 0, 7]},
                            "currency": "$currency"},
                    "sum": {"$sum": signed_value(rules)}, "count": {"$sum": 1}}},
    ])
    wanted = None if dealer_codes is None else set(dealer_codes)
    found: Monthly = {}
    async for row in cursor:
        key = row["_id"]
        if wanted is not None and key["dealer"] not in wanted:
            continue
        months = found.setdefault(key["dealer"], {})
        was = months.get(key["month"], MonthFigures())
        if key["currency"] == rules.currency:
            months[key["month"]] = replace(was, home=was.home + Decimal(row["sum"]),
                                           counted=was.counted + row["count"])
        else:
            months[key["month"]] = replace(was, foreign=was.foreign + row["count"],
                                           currencies=was.currencies | {key["currency"]})
    return found


def dealer_basis(months: dict[str, MonthFigures], *, period: DateRange,
                 cumulative: DateRange) -> DealerBasis:
    """`cumulative` covers `period` (equal to it for PER_PERIOD programs); both lie inside
    the window the months were aggregated over."""
    def within(window: DateRange) -> list[MonthFigures]:
        first, last = window.start.isoformat()[:7], window.end.isoformat()[:7]
        return [figures for month, figures in months.items() if first <= month <= last]

    in_period, to_date = within(period), within(cumulative)
    return DealerBasis(
        period=sum((m.home for m in in_period), ZERO),
        cumulative=sum((m.home for m in to_date), ZERO),
        counted=sum(m.counted for m in to_date),
        foreign_count=sum(m.foreign for m in in_period),
        foreign_currencies=tuple(sorted(set().union(*(m.currencies for m in in_period)))))


async def basis_by_dealer(db: Database, rules: ProgramRules, *, period: DateRange,
                          cumulative: DateRange, dealer_codes: Iterable[str] | None = None,
                          monthly: Monthly | None = None) -> dict[str, DealerBasis]:
    """Each dealer's basis for a period; `monthly` (covering `cumulative`) saves the pass."""
    if monthly is None:
        monthly = await monthly_basis(db, rules, cumulative, dealer_codes)
    wanted = None if dealer_codes is None else set(dealer_codes)
    first, last = cumulative.start.isoformat()[:7], cumulative.end.isoformat()[:7]
    return {dealer: dealer_basis(months, period=period, cumulative=cumulative)
            for dealer, months in monthly.items()
            if (wanted is None or dealer in wanted)
            and any(first <= month <= last for month in months)}


async def late_transactions(db: Database, rules: ProgramRules, locks: Mapping[str, Any], *,
                            before: Period,
                            dealer_codes: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
    """Transactions dated in a closed period but recorded after it closed, per dealer and
    period: a year-to-date true-up absorbs them, and the dealer is told so."""
    closed = []
    for name, lock in locks.items():
        period = parse_period(name, rules.period_kind)
        if period.start < before.start:
            closed.append((period, lock.closed_at))
    if not closed:
        return {}
    late_in = [{"date": {"$gte": p.start.isoformat(), "$lte": p.end.isoformat()},
                "recordedAt": {"$gt": closed_at}} for p, closed_at in closed]
    label = {"$switch": {"branches": [
        {"case": {"$and": [{"$gte": ["$date", p.start.isoformat()]},
                           {"$lte": ["$date", p.end.isoformat()]}]}, "then": p.name}
        for p, _ in closed], "default": None}}
    window = DateRange(rules.valid_from, before.start)
    cursor = await db.transactions.aggregate([
        *match_stages(rules, window, dealer_codes),
        {"$match": {"currency": rules.currency, "$or": late_in}},
        {"$group": {"_id": {"dealer": "$dealerCode", "period": label}, "count": {"$sum": 1}}},
    ])
    found: dict[str, list[tuple[str, int]]] = {}
    async for row in cursor:
        found.setdefault(row["_id"]["dealer"], []).append((row["_id"]["period"], row["count"]))
    return {dealer: sorted(items) for dealer, items in found.items()}


async def counted_transactions(db: Database, rules: ProgramRules, window: DateRange,
                               dealer_codes: Iterable[str] | None = None,
                               ) -> dict[str, list[CountedTransaction]]:
    """Per dealer, each transaction the program counts in `window` (its currency only), for
    per-transaction tiers: one pass for every dealer of the period, never one per dealer."""
    value: dict[str, Any] = {"$switch": {"branches": [
        {"case": {"$eq": ["$kind", kind.value]},
         "then": {"$ifNull": [f"${term.field}", 0]} if term.field == QUANTITY
         else f"${term.field}"}
        for kind, term in BASIS_RULES[rules.basis].items()], "default": 0}}
    reverses = [kind.value for kind, term in BASIS_RULES[rules.basis].items() if term.sign < 0]
    cursor = await db.transactions.aggregate([
        *match_stages(rules, window, dealer_codes),
        {"$match": {"currency": rules.currency}},
        {"$project": {"_id": 0, "dealerCode": 1, "kind": 1, "value": value}},
    ])
    wanted = None if dealer_codes is None else set(dealer_codes)
    found: dict[str, list[CountedTransaction]] = {}
    async for row in cursor:
        if wanted is not None and row["dealerCode"] not in wanted:
            continue
        found.setdefault(row["dealerCode"], []).append(
            CountedTransaction(Decimal(row["value"]), row["kind"] in reverses))
    return found
