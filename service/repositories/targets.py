"""Targets (销售任务): one document per program × dealer × period, and the batches that set them.

`_id` is "PROGRAM:DEALER:PERIOD" (codes never hold a colon), so setting a target is an upsert
by id and a second writer of the same target replaces, never duplicates. A `setTargets` call
that changes anything writes its batch first (the rows, their amounts before, and a pending
marker: the intent), then the targets, then its follow-ups (recomputation marks, audit), and
clears the marker last. The recovery pass finishes a batch whose call stopped: it re-applies
the batch's rows except where a later write has replaced them (`updatedAt` newer), so a
stale batch never overwrites a newer target.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from service.db import Database
from service.repositories.pending import FIELD as PENDING
from service.repositories.query import narrowing, one_of


@dataclass(frozen=True)
class Target:
    program_code: str
    dealer_code: str
    period: str
    amount: Decimal


def target_id(program_code: str, dealer_code: str, period: str) -> str:
    return f"{program_code}:{dealer_code}:{period}"


def from_doc(doc: dict[str, Any]) -> Target:
    return Target(program_code=doc["programCode"], dealer_code=doc["dealerCode"],
                  period=doc["period"], amount=doc["amount"])


def _scoped(query: dict[str, Any], scope: str | None) -> dict[str, Any]:
    return query if scope is None else {"$and": [query, {"dealerCode": scope}]}


async def targets_for(db: Database, program_code: str, dealer_codes: Sequence[str] | None,
                      period_names: Sequence[str]) -> dict[tuple[str, str], Decimal]:
    """(dealer_code, period_name) -> target amount, for the given periods (dealer_codes None =
    all dealers)."""
    if not period_names or (dealer_codes is not None and not dealer_codes):
        return {}
    query: dict[str, Any] = {"programCode": program_code, "period": one_of(period_names)}
    wanted = None if dealer_codes is None else set(dealer_codes)
    narrowed = None if dealer_codes is None else narrowing(dealer_codes)
    if narrowed is not None:
        query["dealerCode"] = narrowed
    cursor = db.targets.find(query, {"dealerCode": 1, "period": 1, "amount": 1, "_id": 0})
    return {(doc["dealerCode"], doc["period"]): doc["amount"] async for doc in cursor
            if wanted is None or doc["dealerCode"] in wanted}


async def stored(db: Database, program_code: str,
                 keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
    """The stored amounts of these (dealer, period) targets of a program."""
    wanted = set(keys)
    found = await targets_for(db, program_code, sorted({d for d, _ in wanted}),
                              sorted({p for _, p in wanted}))
    return {key: amount for key, amount in found.items() if key in wanted}


async def by_dealers(db: Database, dealer_codes: Iterable[str], *, program_code: str | None,
                     scope: str | None) -> list[Target]:
    """Targets of these dealers (one program, or all), by program then period."""
    codes = list(dict.fromkeys(dealer_codes))
    if not codes:
        return []
    query: dict[str, Any] = {}
    if program_code is not None:
        query["programCode"] = program_code
    narrowed = narrowing(codes)
    if narrowed is not None:
        query["dealerCode"] = narrowed
    wanted = set(codes)
    docs = await db.targets.find(_scoped(query, scope)).to_list()
    found = [from_doc(doc) for doc in docs if doc["dealerCode"] in wanted]
    return sorted(found, key=lambda t: (t.program_code, t.period, t.dealer_code))


# ---- writing: batches with a pending marker ----------------------------------------------

def row_doc(dealer_code: str, period: str, amount: Decimal, before: Decimal | None,
            event_id: Any) -> dict[str, Any]:
    """A changed target as its batch remembers it (the audit event id fixed in advance)."""
    return {"dealerCode": dealer_code, "period": period, "amount": amount, "before": before,
            "eventId": event_id}


async def begin_batch(db: Database, batch_id: str, *, program_code: str,
                      rows: list[dict[str, Any]], pending: dict[str, Any]) -> None:
    await db.target_batches.insert_one({"_id": batch_id, "programCode": program_code,
                                        "rows": rows, PENDING: pending})


async def write(db: Database, program_code: str, rows: Sequence[dict[str, Any]], *,
                actor: str, now: dt.datetime) -> None:
    """Upsert the batch's targets, except any a later write (newer `updatedAt`) replaced:
    the id then exists but does not match, the upsert's insert fails on the id, and that
    failure is the "newer one wins" answer. Idempotent."""
    operations = [
        UpdateOne({"_id": target_id(program_code, r["dealerCode"], r["period"]),
                   "$or": [{"updatedAt": {"$lte": now}}, {"updatedAt": None}]},
                  {"$set": {"programCode": program_code, "dealerCode": r["dealerCode"],
                            "period": r["period"], "amount": r["amount"], "updatedAt": now,
                            "updatedBy": actor}}, upsert=True)
        for r in rows]
    if not operations:
        return
    try:
        await db.targets.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        if any(f.get("code") != 11000 for f in error.details.get("writeErrors", [])):
            raise


async def unfinished_batches(db: Database, program_code: str) -> list[dict[str, Any]]:
    """The program's batches whose follow-ups are not done (their call stopped, or runs)."""
    return await db.target_batches.find(
        {"programCode": program_code, f"{PENDING}.since": {"$exists": True}}).to_list()


async def finish_batch(db: Database, batch_id: str) -> None:
    await db.target_batches.update_one({"_id": batch_id}, {"$unset": {PENDING: ""}})
