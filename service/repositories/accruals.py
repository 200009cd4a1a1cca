"""Accrual documents: one per dealer × program × period (a unique index makes sure)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from domain.accrual import AccrualFigures, EarlierGross
from domain.calculation import CalculationStep
from domain.money import format_amount
from domain.net import AccrualStatus
from domain.periods import Period
from service.db import Database
from service.pagination import Page, page_of
from service.repositories.query import narrowing, one_of

CURSOR_KIND = "accrual"
# Statuses a recomputation may overwrite; anything else is approved money (issue 4 locks it).
RECOMPUTABLE = (AccrualStatus.OPEN.value, AccrualStatus.ON_HOLD.value,
                AccrualStatus.FORFEITED.value)


@dataclass(frozen=True)
class StoredAccrual:
    id: str
    dealer_code: str
    program_code: str
    program_version: int
    period: str
    basis: Decimal
    cumulative_basis: Decimal
    rate: Decimal
    gross_amount: Decimal
    score_multiplier: Decimal
    deduction_amount: Decimal
    adjustment_amount: Decimal
    net_amount: Decimal
    status: AccrualStatus
    calculation: tuple[CalculationStep, ...]
    computed_at: dt.datetime


@dataclass(frozen=True)
class ComputedAccrual:
    dealer_code: str
    program_code: str
    program_version: int
    period: Period
    figures: AccrualFigures
    inputs_version: int


def from_doc(doc: dict[str, Any]) -> StoredAccrual:
    return StoredAccrual(
        id=str(doc["_id"]), dealer_code=doc["dealerCode"], program_code=doc["programCode"],
        program_version=doc["programVersion"], period=doc["period"], basis=doc["basis"],
        cumulative_basis=doc["cumulativeBasis"], rate=doc["rate"],
        gross_amount=doc["grossAmount"], score_multiplier=doc["scoreMultiplier"],
        deduction_amount=doc["deductionAmount"], adjustment_amount=doc["adjustmentAmount"],
        net_amount=doc["netAmount"], status=AccrualStatus(doc["status"]),
        calculation=tuple(CalculationStep(s["label"], s["formula"], s.get("amount"))
                          for s in doc["calculation"]),
        computed_at=doc["computedAt"])


def _figures_doc(item: ComputedAccrual, now: dt.datetime) -> dict[str, Any]:
    f = item.figures
    return {
        "programVersion": item.program_version, "periodStart": item.period.start.isoformat(),
        "periodEnd": item.period.end.isoformat(), "basis": f.basis,
        "cumulativeBasis": f.cumulative_basis, "rate": f.rate, "grossAmount": f.gross_amount,
        "scoreMultiplier": f.score_multiplier, "deductionPercent": f.deduction_percent,
        "deductionAmount": f.deduction_amount, "capReduction": f.cap_reduction,
        "adjustmentAmount": f.adjustment_amount, "netAmount": f.net_amount,
        "status": f.status.value,
        "calculation": [{"label": s.label, "formula": s.formula, "amount": s.amount}
                        for s in f.calculation],
        "computedAt": now, "inputsVersion": item.inputs_version,
    }


async def save_computed(db: Database, items: Sequence[ComputedAccrual], *,
                        now: dt.datetime) -> int:
    """Write recomputed accruals; returns how many were written.

    A write lands only on an accrual that is still recomputable and was computed from the
    same or older sales data (`inputsVersion`): a slow, stale computation can never
    overwrite a newer one, and the unique key means a dealer never gets two accruals for
    one program period, however many workers run. Existing accruals are found with one
    read and then updated by `_id` with the guard in the filter (a compare-and-set); new
    ones are inserted, and a twin inserted meanwhile wins.
    """
    if not items:
        return 0
    first = items[0]
    query: dict[str, Any] = {"programCode": first.program_code, "period": first.period.name}
    if (dealers := narrowing(item.dealer_code for item in items)) is not None:
        query["dealerCode"] = dealers
    stored = {doc["dealerCode"]: doc["_id"]
              async for doc in db.accruals.find(query, {"dealerCode": 1})}
    operations: list[UpdateOne | InsertOne[dict[str, Any]]] = []
    for item in items:
        figures = _figures_doc(item, now)
        if item.dealer_code in stored:
            operations.append(UpdateOne(
                {"_id": stored[item.dealer_code], "status": {"$in": list(RECOMPUTABLE)},
                 "inputsVersion": {"$lte": item.inputs_version}}, {"$set": figures}))
        else:
            operations.append(InsertOne({"programCode": item.program_code,
                                         "period": item.period.name,
                                         "dealerCode": item.dealer_code, **figures}))
    try:
        result = await db.accruals.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        # duplicate key: inserted meanwhile by another computation — leave it be
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") != 11000]
        if others:
            raise
        details = error.details
        return int(details.get("nInserted", 0)) + int(details.get("nModified", 0))
    return result.inserted_count + result.modified_count


@dataclass(frozen=True)
class EarlierPeriods:
    """What a period's computation needs from the program's earlier periods of a dealer."""

    gross: list[EarlierGross]  # subtracted by a year-to-date true-up, oldest first
    net: Decimal  # already used under the terms' cap


async def earlier_periods(db: Database, program_code: str, period: Period,
                          dealer_codes: Iterable[str]) -> dict[str, EarlierPeriods]:
    wanted = set(dealer_codes)
    query: dict[str, Any] = {"programCode": program_code,
                             "periodStart": {"$lt": period.start.isoformat()}}
    if (dealers := narrowing(wanted)) is not None:
        query["dealerCode"] = dealers
    cursor = db.accruals.find(
        query, {"dealerCode": 1, "period": 1, "grossAmount": 1, "netAmount": 1, "_id": 0},
    ).sort("periodStart", 1)
    found: dict[str, EarlierPeriods] = {}
    async for doc in cursor:
        if doc["dealerCode"] not in wanted:
            continue
        entry = found.setdefault(doc["dealerCode"], EarlierPeriods([], Decimal(0)))
        entry.gross.append(EarlierGross(doc["period"], doc["grossAmount"]))
        found[doc["dealerCode"]] = EarlierPeriods(entry.gross, entry.net + doc["netAmount"])
    return found


async def dealers_of_period(db: Database, program_code: str, period: str) -> set[str]:
    cursor = db.accruals.find({"programCode": program_code, "period": period},
                              {"dealerCode": 1, "_id": 0})
    return {doc["dealerCode"] async for doc in cursor}


async def for_period(db: Database, program_code: str, period: str, *,
                     dealer_codes: Iterable[str] | None = None) -> list[StoredAccrual]:
    query: dict[str, Any] = {"programCode": program_code, "period": period}
    wanted = None if dealer_codes is None else set(dealer_codes)
    if wanted is not None and (narrowed := narrowing(wanted)) is not None:
        query["dealerCode"] = narrowed
    return [from_doc(d) async for d in db.accruals.find(query).sort("dealerCode", 1)
            if wanted is None or d["dealerCode"] in wanted]


async def get(db: Database, accrual_id: str, *, scope: str | None = None) -> StoredAccrual | None:
    doc = await get_doc(db, accrual_id, scope=scope)
    return from_doc(doc) if doc else None


async def bases_by_period(db: Database, program_code: str, periods: list[str], *,
                          start: dt.date, last_start: dt.date,
                          dealer_codes: list[str] | None) -> dict[str, dict[str, Decimal]]:
    """Per dealer, the basis of each of these periods (for surge checks)."""
    query: dict[str, Any]
    if dealer_codes is not None and len(dealer_codes) == 1:  # the worker's case: indexed
        query = {"dealerCode": dealer_codes[0], "programCode": program_code,
                 "periodStart": {"$gte": start.isoformat(), "$lte": last_start.isoformat()}}
    else:
        query = {"programCode": program_code, "period": {"$in": periods}}
        if dealer_codes is not None:
            query["dealerCode"] = {"$in": dealer_codes}
    figures: dict[str, dict[str, Decimal]] = {}
    async for doc in db.accruals.find(query, {"dealerCode": 1, "period": 1, "basis": 1,
                                              "_id": 0}):
        figures.setdefault(doc["dealerCode"], {})[doc["period"]] = doc["basis"]
    return figures


async def get_doc(db: Database, accrual_id: str, *,
                  scope: str | None = None) -> dict[str, Any] | None:
    try:
        query: dict[str, Any] = {"_id": ObjectId(accrual_id)}
    except (InvalidId, TypeError):
        return None
    if scope is not None:
        query["dealerCode"] = scope
    return await db.accruals.find_one(query)


async def take_for_dispute(db: Database, accrual_id: str, dispute_id: ObjectId) -> bool:
    """APPROVED and unclaimed → DISPUTED by this dispute; True also if it already is."""
    oid = ObjectId(accrual_id)
    taken = await db.accruals.update_one(
        {"_id": oid, "status": AccrualStatus.APPROVED.value, "settlementId": None},
        {"$set": {"status": AccrualStatus.DISPUTED.value, "disputeId": dispute_id}})
    if taken.modified_count:
        return True
    return await db.accruals.find_one({"_id": oid, "disputeId": dispute_id,
                                       "status": AccrualStatus.DISPUTED.value}) is not None


async def release_from_dispute(db: Database, accrual_id: str, dispute_id: ObjectId, *,
                               adjustment: Decimal | None, cause: str) -> None:
    """DISPUTED by this dispute → APPROVED, with the accepted adjustment added, in one
    atomic write (so it is added once, however often this runs)."""
    oid = ObjectId(accrual_id)
    while True:
        doc = await db.accruals.find_one({"_id": oid, "disputeId": dispute_id,
                                          "status": AccrualStatus.DISPUTED.value})
        if doc is None:
            return  # done already (or forfeited meanwhile)
        update: dict[str, Any] = {"$set": {"status": AccrualStatus.APPROVED.value},
                                  "$unset": {"disputeId": ""}}
        if adjustment is not None:
            net = doc["netAmount"] + adjustment
            update["$inc"] = {"adjustmentAmount": adjustment, "netAmount": adjustment}
            update["$push"] = {"calculation": {"$each": [
                {"label": f"Adjustment: {cause}", "formula": format_amount(adjustment),
                 "amount": adjustment},
                {"label": "Net after dispute", "formula":
                    f"{format_amount(doc['netAmount'])} + {format_amount(adjustment)} = "
                    f"{format_amount(net)}", "amount": net}]}}
        done = await db.accruals.update_one(
            {"_id": oid, "disputeId": dispute_id, "status": AccrualStatus.DISPUTED.value,
             "netAmount": doc["netAmount"]}, update)
        if done.modified_count:
            return


def _filter(*, dealer_code: str | None, program_code: str | None, period: str | None,
            status: AccrualStatus | None, scope: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if dealer_code is not None:
        query["dealerCode"] = dealer_code
    if program_code is not None:
        query["programCode"] = program_code
    if period is not None:
        query["period"] = period
    if status is not None:
        query["status"] = status.value
    if scope is not None:
        query = {"$and": [query, {"dealerCode": scope}]} if query else {"dealerCode": scope}
    return query


ORDER = [("periodStart", 1), ("dealerCode", 1), ("_id", 1)]  # every list of accruals


def _sort_key(accrual: dict[str, Any]) -> str:
    """The cursor key: the sort fields themselves, so a page continues exactly after it."""
    return f"{accrual['periodStart']}|{accrual['dealerCode']}|{accrual['_id']}"


async def _after(db: Database, key: str) -> dict[str, Any]:
    """The query for what follows a cursor key in ORDER (a bare id: the id's own place)."""
    period_start, dealer_code, raw_id = "", "", key
    if "|" in key:
        period_start, _, rest = key.partition("|")
        dealer_code, _, raw_id = rest.partition("|")
    try:
        oid = ObjectId(raw_id)
    except (InvalidId, TypeError):
        return {"_id": {"$exists": False}}
    if not period_start:
        doc = await db.accruals.find_one({"_id": oid}, {"periodStart": 1, "dealerCode": 1})
        if doc is None:
            return {"_id": {"$gt": oid}}
        period_start, dealer_code = doc["periodStart"], doc["dealerCode"]
    return {"$or": [{"periodStart": {"$gt": period_start}},
                    {"periodStart": period_start, "dealerCode": {"$gt": dealer_code}},
                    {"periodStart": period_start, "dealerCode": dealer_code,
                     "_id": {"$gt": oid}}]}


async def page(db: Database, *, first: int, after: str | None, dealer_code: str | None = None,
               program_code: str | None = None, period: str | None = None,
               status: AccrualStatus | None = None, scope: str | None = None,
               ) -> Page[StoredAccrual]:
    """By period, then dealer code (then id, for a dealer's programs of the same period)."""
    query = _filter(dealer_code=dealer_code, program_code=program_code, period=period,
                    status=status, scope=scope)
    total = await db.accruals.count_documents(query)
    if after is not None:
        query = {"$and": [query, await _after(db, after)]}
    docs = await db.accruals.find(query).sort(ORDER).limit(first + 1).to_list()
    return page_of([from_doc(d) for d in docs], [_sort_key(d) for d in docs],
                   kind=CURSOR_KIND, first=first, total=total, after=after)


async def discard_recomputable(db: Database, program_code: str, period: str,
                               dealer_codes: Sequence[str]) -> None:
    """A dealer no longer eligible (no terms apply, disqualified) loses its unapproved accrual."""
    if dealer_codes:
        await db.accruals.delete_many({"programCode": program_code, "period": period,
                                       "dealerCode": one_of(dealer_codes),
                                       "status": {"$in": list(RECOMPUTABLE)}})


async def pages_by_dealer(db: Database, dealer_codes: list[str], *, program_code: str | None,
                          period: str | None, first: int, after: str | None,
                          scope: str | None) -> dict[str, tuple[list[StoredAccrual], int]]:
    """Per dealer: the first `first + 1` accruals after `after` (an id; by period, then id)
    and the count."""
    query = _filter(dealer_code=None, program_code=program_code, period=period, status=None,
                    scope=scope)
    query = {"$and": [query, {"dealerCode": {"$in": dealer_codes}}]} if query \
        else {"dealerCode": {"$in": dealer_codes}}
    on_page: Any = {"$literal": True}
    if after:
        try:
            after_id = ObjectId(after)
        except (InvalidId, TypeError):
            after_id = None
        found = after_id and await db.accruals.find_one({"_id": after_id}, {"periodStart": 1})
        if found:
            start = found["periodStart"]
            on_page = {"$or": [{"$gt": ["$periodStart", start]},
                               {"$and": [{"$eq": ["$periodStart", start]},
                                         {"$gt": ["$_id", after_id]}]}]}
        elif after_id:
            on_page = {"$gt": ["$_id", after_id]}
    cursor = await db.accruals.aggregate([
        {"$match": query},
        {"$addFields": {"_onPage": on_page}},
        {"$group": {"_id": "$dealerCode", "total": {"$sum": 1},
                    "docs": {"$topN": {"n": first + 1,
                                       "sortBy": {"_onPage": -1, "periodStart": 1, "_id": 1},
                                       "output": {"$cond": ["$_onPage", "$$ROOT", None]}}}}},
    ])
    return {row["_id"]: ([from_doc(d) for d in row["docs"] if d is not None], row["total"])
            async for row in cursor}


async def save_locked_release(db: Database, items: Sequence[ComputedAccrual], *,
                              now: dt.datetime) -> None:
    """In a closed period, only an accrual that was never approved (ON_HOLD, or OPEN left by
    a computation racing the close) may still be written — and it is approved as it lands."""
    for item in items:
        await db.accruals.update_one(
            {"programCode": item.program_code, "period": item.period.name,
             "dealerCode": item.dealer_code,
             "status": {"$in": [AccrualStatus.ON_HOLD.value, AccrualStatus.OPEN.value]}},
            {"$set": {**_figures_doc(item, now), "approvedAt": now}})


async def mark_forfeited(db: Database, accrual_id: str, step: CalculationStep, *,
                         now: dt.datetime) -> None:
    """An approved, unpaid accrual is forfeited: its figures stay, it is never paid."""
    await db.accruals.update_one(
        {"_id": ObjectId(accrual_id), "status": {"$in": ["APPROVED", "DISPUTED"]}},
        {"$set": {"status": AccrualStatus.FORFEITED.value, "forfeitedAt": now},
         "$push": {"calculation": {"label": step.label, "formula": step.formula,
                                   "amount": step.amount}}})


async def approve_open(db: Database, program_code: str, period: str, *,
                       now: dt.datetime) -> int:
    result = await db.accruals.update_many(
        {"programCode": program_code, "period": period, "status": AccrualStatus.OPEN.value},
        {"$set": {"status": AccrualStatus.APPROVED.value, "approvedAt": now}})
    return result.modified_count


async def get_many(db: Database, ids: Iterable[str], *,
                   scope: str | None = None) -> dict[str, StoredAccrual]:
    oids = []
    for value in ids:
        try:
            oids.append(ObjectId(value))
        except (InvalidId, TypeError):
            continue
    query: dict[str, Any] = {"_id": {"$in": oids}}
    if scope is not None:
        query["dealerCode"] = scope
    return {str(doc["_id"]): from_doc(doc) async for doc in db.accruals.find(query)}
