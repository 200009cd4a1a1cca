"""The books around accruals: closed (locked) periods and adjustment entries.

An adjustment is money that lands on an accrual for a reason outside its own period's
figures: late data for a locked period, a violation dated in a locked period, settled money
reclaimed after a forfeiture, an accepted dispute. Entries are append-only; each carries a
`sequence` per dealer × program × source so that two racing writers cannot book the same
correction twice (a unique index refuses the second).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pymongo.errors import DuplicateKeyError

from domain.net import Adjustment
from domain.text import Text
from service.db import Database
from service.repositories.ids import DocumentId
from service.repositories.pending import FIELD as PENDING
from service.repositories.pending import clear as clear_marker
from service.repositories.query import narrowing, one_of
from service.repositories.texts import text_doc, text_of


@dataclass(frozen=True)
class PeriodLock:
    program_code: str
    period: str
    closed_at: dt.datetime
    closed_by: str


async def locks(db: Database, program_code: str) -> dict[str, PeriodLock]:
    cursor = db.period_locks.find({"programCode": program_code})
    return {doc["period"]: PeriodLock(doc["programCode"], doc["period"], doc["closedAt"],
                                      doc["closedBy"]) async for doc in cursor}


async def lock(db: Database, program_code: str, period: str, period_start: dt.date, *,
               actor: str, now: dt.datetime, pending: dict[str, Any]) -> bool:
    """False if the period was already closed (by this call's twin, say). The lock is
    written with its pending marker: the approval of the period's accruals follows."""
    try:
        await db.period_locks.insert_one({"programCode": program_code, "period": period,
                                          "periodStart": period_start.isoformat(),
                                          "closedAt": now, "closedBy": actor,
                                          PENDING: pending})
    except DuplicateKeyError:
        return False
    return True


async def lock_doc(db: Database, program_code: str, period: str) -> dict[str, Any] | None:
    return await db.period_locks.find_one({"programCode": program_code, "period": period})


async def add_adjustment(db: Database, *, dealer_code: str, program_code: str,
                         target_period: str | None, amount: Decimal, cause: Text, kind: str,
                         source_period: str | None, sequence: int,
                         now: dt.datetime) -> bool:
    """Book one entry; False when an identical booking (same source and sequence) won."""
    try:
        await db.adjustments.insert_one({
            "dealerCode": dealer_code, "programCode": program_code,
            "targetPeriod": target_period, "amount": amount, "cause": str(cause),
            "causeText": text_doc(cause), "kind": kind,
            "sourcePeriod": source_period, "sequence": sequence, "createdAt": now})
    except DuplicateKeyError:
        return False
    return True


async def for_targets(db: Database, program_code: str, period: str,
                      dealer_codes: Iterable[str] | None = None) -> dict[str, list[Adjustment]]:
    query: dict[str, Any] = {"programCode": program_code, "targetPeriod": period}
    wanted = None if dealer_codes is None else set(dealer_codes)
    if wanted is not None and (narrowed := narrowing(wanted)) is not None:
        query["dealerCode"] = narrowed
    found: dict[str, list[Adjustment]] = {}
    async for doc in db.adjustments.find(query).sort("createdAt", 1):
        if wanted is not None and doc["dealerCode"] not in wanted:
            continue
        found.setdefault(doc["dealerCode"], []).append(Adjustment(
            doc["amount"], text_of(doc.get("causeText"), doc["cause"])))
    return found


async def booked_from(db: Database, program_code: str, source_period: str,
                      dealer_codes: Iterable[str], kind: str) -> dict[str, tuple[Decimal, int]]:
    """Per dealer: the entries of a kind already booked for a locked period, and how many."""
    cursor = await db.adjustments.aggregate([
        {"$match": {"programCode": program_code, "sourcePeriod": source_period,
                    "kind": kind, "dealerCode": one_of(dealer_codes)}},
        {"$group": {"_id": "$dealerCode", "amount": {"$sum": "$amount"},
                    "count": {"$sum": 1}}}])
    return {row["_id"]: (Decimal(row["amount"]), row["count"]) async for row in cursor}


async def clear_lock_pending(db: Database, lock_id: DocumentId) -> None:
    """The close is complete: its accruals approved and audited."""
    await clear_marker(db.period_locks, {"_id": lock_id})
