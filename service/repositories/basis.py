"""A program's basis per dealer, aggregated inside MongoDB from the domain's BASIS_RULES.

One pipeline gives, per dealer, the period basis, the cumulative (year-to-date) basis and
the transactions left out because their currency is not the program's.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.basis import BASIS_RULES, QUANTITY
from domain.money import ZERO
from domain.periods import DateRange, Period, parse_period
from domain.programs import ProgramRules
from service.db import Database
from service.repositories.query import one_of


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


def match_stage(rules: ProgramRules, window: DateRange,
                dealer_codes: Iterable[str] | None) -> dict[str, Any]:
    match: dict[str, Any] = {
        "date": {"$gte": window.start.isoformat(), "$lte": window.end.isoformat()},
        "kind": {"$in": [kind.value for kind in BASIS_RULES[rules.basis]]},
    }
    if rules.product_codes:
        match["productCode"] = {"$in": list(rules.product_codes)}
    if dealer_codes is not None:
        match["dealerCode"] = one_of(dealer_codes)
    return {"$match": match}


async def basis_by_dealer(db: Database, rules: ProgramRules, *, period: DateRange,
                          cumulative: DateRange,
                          dealer_codes: Iterable[str] | None = None) -> dict[str, DealerBasis]:
    """`cumulative` covers `period` (equal to it for PER_PERIOD programs)."""
    value = signed_value(rules)
    home = {"$eq": ["$currency", rules.currency]}
    in_period = {"$gte": ["$date", period.start.isoformat()]}
    foreign_in_period = {"$and": [{"$not": [home]}, in_period]}
    pipeline: list[dict[str, Any]] = [
        match_stage(rules, cumulative, dealer_codes),
        {"$group": {
            "_id": "$dealerCode",
            "period": {"$sum": {"$cond": [{"$and": [home, in_period]}, value, 0]}},
            "cumulative": {"$sum": {"$cond": [home, value, 0]}},
            "counted": {"$sum": {"$cond": [home, 1, 0]}},
            "foreignCount": {"$sum": {"$cond": [foreign_in_period, 1, 0]}},
            "foreignCurrencies": {"$addToSet": {
                "$cond": [foreign_in_period, "$currency", "$$REMOVE"]}},
        }},
    ]
    cursor = await db.transactions.aggregate(pipeline)
    return {row["_id"]: DealerBasis(
        period=Decimal(row["period"]), cumulative=Decimal(row["cumulative"]),
        counted=row["counted"], foreign_count=row["foreignCount"],
        foreign_currencies=tuple(sorted(row["foreignCurrencies"])))
        async for row in cursor}


async def dealers_with_business(db: Database, rules: ProgramRules,
                                window: DateRange) -> set[str]:
    cursor = await db.transactions.aggregate([
        match_stage(rules, window, None), {"$group": {"_id": "$dealerCode"}}])
    return {row["_id"] async for row in cursor}


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
        match_stage(rules, window, dealer_codes),
        {"$match": {"currency": rules.currency, "$or": late_in}},
        {"$group": {"_id": {"dealer": "$dealerCode", "period": label}, "count": {"$sum": 1}}},
    ])
    found: dict[str, list[tuple[str, int]]] = {}
    async for row in cursor:
        found.setdefault(row["_id"]["dealer"], []).append((row["_id"]["period"], row["count"]))
    return {dealer: sorted(items) for dealer, items in found.items()}
