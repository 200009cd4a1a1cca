"""Sales figures aggregated inside MongoDB (never by pulling transactions into Python)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from service.db import Database
from service.repositories.query import one_of


def year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


async def trailing_sales(db: Database, *, as_of: dt.date, currency: str,
                         dealer_codes: Iterable[str] | None = None) -> dict[str, Decimal]:
    """Net sales (INVOICE − RETURN amounts) of the 12 months before `as_of`, per dealer."""
    match: dict[str, Any] = {
        "date": {"$gte": year_before(as_of).isoformat(), "$lt": as_of.isoformat()},
        "kind": {"$in": ["INVOICE", "RETURN"]}, "currency": currency}
    if dealer_codes is not None:
        match["dealerCode"] = one_of(dealer_codes)
    pipeline: list[dict[str, Any]] = [
        {"$match": match},
        {"$group": {"_id": "$dealerCode", "net": {"$sum": {"$cond": [
            {"$eq": ["$kind", "RETURN"]}, {"$multiply": ["$amount", -1]}, "$amount"]}}}},
    ]
    cursor = await db.transactions.aggregate(pipeline)
    return {row["_id"]: Decimal(row["net"]) async for row in cursor}
