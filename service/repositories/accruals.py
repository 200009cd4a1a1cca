"""Accrual documents: one per dealer × program × period (a unique index makes sure)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from bson import ObjectId

from domain.accrual import AccrualFigures, CarriedIn, EarlierGross
from domain.calculation import CalculationStep, dispute_steps
from domain.net import AccrualStatus
from domain.periods import Period
from domain.text import Text
from service.db import Database
from service.errors import InvalidArgument
from service.pagination import Page, PageRequest
from service.repositories.ids import parse_id
from service.repositories.query import (
    Keyset,
    SortField,
    find_page,
    grouped_page,
    grouped_page_stages,
    narrowing,
    one_of,
)
from service.repositories.texts import step_doc, step_of, trace_of

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
    computed_at: dt.datetime
    target: Decimal | None = None
    achievement_percent: Decimal | None = None
    carried_forward: Decimal = Decimal(0)  # step 6: moved to the next period, net paid 0
    stored_trace: Any = field(default=None, repr=False, compare=False)
    stored_notes: Any = field(default=None, repr=False, compare=False)

    @cached_property
    def calculation(self) -> tuple[CalculationStep, ...]:
        """Every step, explained; parsed when first asked for (a page of figures never
        needs it)."""
        return trace_of(self.stored_trace) + tuple(step_of(s) for s in self.stored_notes or ())


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
        stored_trace=doc["calculation"], stored_notes=doc.get("notes"),
        computed_at=doc["computedAt"], target=doc.get("target"),
        achievement_percent=doc.get("achievementPercent"),
        carried_forward=doc.get("carriedForward") or Decimal(0))


@dataclass(frozen=True)
class EarlierPeriods:
    """What a period's computation needs from the program's earlier periods of a dealer."""

    gross: list[EarlierGross]  # subtracted by a year-to-date true-up, oldest first
    net: Decimal  # already used under the terms' cap
    carried: CarriedIn | None = None  # what the period just before carried forward


async def earlier_periods(db: Database, program_code: str, period: Period,
                          dealer_codes: Iterable[str],
                          previous: str | None = None) -> dict[str, EarlierPeriods]:
    """`previous`: the name of the program's period just before `period`, whose carried
    amount (minimum payout) lands on it; a FORFEITED accrual carries nothing."""
    wanted = set(dealer_codes)
    query: dict[str, Any] = {"programCode": program_code,
                             "periodStart": {"$lt": period.start.isoformat()}}
    if (dealers := narrowing(wanted)) is not None:
        query["dealerCode"] = dealers
    cursor = db.accruals.find(
        query, {"dealerCode": 1, "period": 1, "grossAmount": 1, "netAmount": 1, "_id": 0,
                "carriedForward": 1, "status": 1},
    ).sort("periodStart", 1)
    found: dict[str, EarlierPeriods] = {}
    async for doc in cursor:
        if doc["dealerCode"] not in wanted:
            continue
        entry = found.setdefault(doc["dealerCode"], EarlierPeriods([], Decimal(0)))
        entry.gross.append(EarlierGross(doc["period"], doc["grossAmount"]))
        carry = doc.get("carriedForward")
        carried = (CarriedIn(doc["period"], carry)
                   if carry and doc["period"] == previous
                   and doc.get("status") != AccrualStatus.FORFEITED.value else entry.carried)
        found[doc["dealerCode"]] = EarlierPeriods(entry.gross, entry.net + doc["netAmount"],
                                                  carried)
    return found


async def carrying_dealers(db: Database, program_code: str, period: str) -> set[str]:
    """Dealers whose accrual of `period` carried an amount forward (minimum payout): the
    next period owes them an accrual even without sales of its own."""
    cursor = db.accruals.find({"programCode": program_code, "period": period,
                               "carriedForward": {"$gt": Decimal(0)},
                               "status": {"$ne": AccrualStatus.FORFEITED.value}},
                              {"dealerCode": 1, "_id": 0})
    return {doc["dealerCode"] async for doc in cursor}


async def carried_in(db: Database, program_code: str, period: str,
                     dealer_codes: Iterable[str]) -> dict[str, Decimal]:
    """Per dealer with an accrual of `period`: the carried amount it took in when computed."""
    wanted = set(dealer_codes)
    query: dict[str, Any] = {"programCode": program_code, "period": period}
    if (dealers := narrowing(wanted)) is not None:
        query["dealerCode"] = dealers
    return {doc["dealerCode"]: doc.get("carriedIn") or Decimal(0)
            async for doc in db.accruals.find(query, {"dealerCode": 1, "carriedIn": 1, "_id": 0})
            if doc["dealerCode"] in wanted}


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
    oid = parse_id(accrual_id)
    if oid is None:
        return None
    query: dict[str, Any] = {"_id": oid}
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
                               adjustment: Decimal | None, cause: Text) -> None:
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
            update["$inc"] = {"adjustmentAmount": adjustment, "netAmount": adjustment}
            update["$push"] = {"notes": {"$each": [
                step_doc(step) for step in dispute_steps(cause, adjustment, doc["netAmount"],
                                                         doc.get("currency", ""))]}}
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


ORDER = Keyset((SortField("periodStart"), SortField("dealerCode"),
               SortField("_id", parse=ObjectId)))  # every list of accruals, both ways


async def _place(db: Database, key: str | None, argument: str,
                 scope: str | None) -> tuple[Any, ...] | None:
    """Where a cursor points in ORDER. A bare accrual id (what `Dealer.accruals` cursors held
    before they carried the sort values) is looked up among the accruals the caller may see;
    one not found there counts as the start of the list, like an id that never existed."""
    if key is None or "|" in key:
        return ORDER.place(key, argument)
    oid = parse_id(key)
    if oid is None:
        raise InvalidArgument(argument, "is not a cursor of this list")
    query: dict[str, Any] = {"_id": oid} if scope is None else {"_id": oid, "dealerCode": scope}
    doc = await db.accruals.find_one(query, {"periodStart": 1, "dealerCode": 1})
    return (doc["periodStart"], doc["dealerCode"], oid) if doc else ("", "", oid)


async def page(db: Database, request: PageRequest, *, dealer_code: str | None = None,
               program_code: str | None = None, period: str | None = None,
               status: AccrualStatus | None = None, scope: str | None = None,
               ) -> Page[StoredAccrual]:
    """By period, then dealer code (then id, for a dealer's programs of the same period)."""
    query = _filter(dealer_code=dealer_code, program_code=program_code, period=period,
                    status=status, scope=scope)
    return await find_page(db.accruals, query, ORDER, request, kind=CURSOR_KIND,
                           convert=from_doc,
                           after=await _place(db, request.after, "after", scope),
                           before=await _place(db, request.before, "before", scope))


async def discard_recomputable(db: Database, program_code: str, period: str,
                               dealer_codes: Sequence[str]) -> None:
    """A dealer no longer eligible (no terms apply, disqualified) loses its unapproved accrual."""
    if dealer_codes:
        await db.accruals.delete_many({"programCode": program_code, "period": period,
                                       "dealerCode": one_of(dealer_codes),
                                       "status": {"$in": list(RECOMPUTABLE)}})


async def pages_by_dealer(db: Database, dealer_codes: list[str], request: PageRequest, *,
                          program_code: str | None, period: str | None,
                          scope: str | None) -> dict[str, Page[StoredAccrual]]:
    """A page of each dealer's accruals (in ORDER: by period) from one aggregation; a dealer
    without accruals is absent."""
    query = _filter(dealer_code=None, program_code=program_code, period=period, status=None,
                    scope=scope)
    query = {"$and": [query, {"dealerCode": {"$in": dealer_codes}}]} if query \
        else {"dealerCode": {"$in": dealer_codes}}
    cursor = await db.accruals.aggregate([
        {"$match": query},
        *grouped_page_stages(ORDER, request, group_by="$dealerCode",
                             after=await _place(db, request.after, "after", scope),
                             before=await _place(db, request.before, "before", scope)),
    ])
    return {row["_id"]: grouped_page(row, ORDER, request, kind=CURSOR_KIND, convert=from_doc)
            async for row in cursor}


async def mark_forfeited(db: Database, accrual_id: str, step: CalculationStep, *,
                         now: dt.datetime) -> None:
    """An approved, unpaid accrual is forfeited: its figures stay, it is never paid."""
    await db.accruals.update_one(
        {"_id": ObjectId(accrual_id), "status": {"$in": ["APPROVED", "DISPUTED"]}},
        {"$set": {"status": AccrualStatus.FORFEITED.value, "forfeitedAt": now},
         "$push": {"notes": step_doc(step)},
         "$unset": {"figuresDigest": ""}})  # no longer the computed figures


async def approve_open(db: Database, program_code: str, period: str, *,
                       now: dt.datetime) -> int:
    result = await db.accruals.update_many(
        {"programCode": program_code, "period": period, "status": AccrualStatus.OPEN.value},
        {"$set": {"status": AccrualStatus.APPROVED.value, "approvedAt": now}})
    return result.modified_count


async def get_many(db: Database, ids: Iterable[str], *,
                   scope: str | None = None) -> dict[str, StoredAccrual]:
    oids = [oid for oid in map(parse_id, ids) if oid is not None]
    query: dict[str, Any] = {"_id": {"$in": oids}}
    if scope is not None:
        query["dealerCode"] = scope
    return {str(doc["_id"]): from_doc(doc) async for doc in db.accruals.find(query)}
