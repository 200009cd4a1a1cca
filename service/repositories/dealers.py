"""Dealer documents. `scope` (a dealer code or None) limits every read for DEALER callers."""
from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument, UpdateOne

from domain.dealers import Dealer, DealerDraft, DealerStatus
from service.db import Database
from service.errors import unique_violation_as_conflict
from service.pagination import Page, PageRequest
from service.repositories import writes
from service.repositories.pending import FIELD as PENDING
from service.repositories.query import (
    Keyset,
    SortField,
    find_page,
    grouped_page,
    grouped_page_stages,
    narrowing,
)

CURSOR_KIND = "dealer"
ORDER = Keyset((SortField("code"),))  # every list of dealers
MEMBERSHIP_FIELDS = {"code": 1, "region": 1, "channel": 1, "joinedOn": 1, "segmentCodes": 1,
                     "_id": 0}


def _scoped(query: dict[str, Any], scope: str | None) -> dict[str, Any]:
    if scope is None:
        return query
    return {"$and": [query, {"code": scope}]} if query else {"code": scope}


def from_doc(doc: dict[str, Any]) -> Dealer:
    joined = doc.get("joinedOn")
    return Dealer(
        code=doc["code"], name=doc.get("name", doc["code"]), region=doc.get("region"),
        channel=doc.get("channel"),
        joined_on=dt.date.fromisoformat(joined) if joined else None,
        status=DealerStatus(doc.get("status", "ACTIVE")),
        attributes=doc.get("attributes") or {},
        segment_codes=tuple(doc.get("segmentCodes") or ()))


async def get(db: Database, code: str, *, scope: str | None = None) -> Dealer | None:
    doc = await db.dealers.find_one(_scoped({"code": code}, scope))
    return from_doc(doc) if doc else None


async def field_of(db: Database, codes: Iterable[str], name: str) -> dict[str, Any]:
    """One field of some dealers, without the rest of their documents (a long list of codes
    read in one plain pass, filtered here: see `narrowing`)."""
    wanted = set(codes)
    narrowed = narrowing(wanted)
    cursor = db.dealers.find({} if narrowed is None else {"code": narrowed},
                             {"code": 1, name: 1, "_id": 0})
    return {doc["code"]: doc.get(name) async for doc in cursor if doc["code"] in wanted}


async def term_fields(db: Database, codes: Iterable[str]) -> list[dict[str, Any]]:
    """What choosing a dealer's terms needs: code, status, segments, sales version."""
    wanted = set(codes)
    narrowed = narrowing(wanted)
    cursor = db.dealers.find({} if narrowed is None else {"code": narrowed},
                             {"code": 1, "status": 1, "segmentCodes": 1, "salesVersion": 1,
                              "_id": 0})
    return [doc async for doc in cursor if doc["code"] in wanted]


async def without_sales(db: Database, codes: Iterable[str]) -> set[str]:
    """Dealers created here that never had a transaction (sales version 0, set at insert):
    no accrual of theirs can exist, so there is nothing to recompute. A document without
    the field (written before it existed) is not counted among them."""
    wanted = set(codes)
    narrowed = narrowing(wanted)
    cursor = db.dealers.find({} if narrowed is None else {"code": narrowed},
                             {"code": 1, "salesVersion": 1, "_id": 0})
    return {doc["code"] async for doc in cursor
            if doc["code"] in wanted and doc.get("salesVersion", None) == 0}


async def get_doc(db: Database, code: str) -> dict[str, Any] | None:
    return await db.dealers.find_one({"code": code})


async def get_many(db: Database, codes: Iterable[str], *,
                   scope: str | None = None) -> dict[str, Dealer]:
    wanted = list(dict.fromkeys(codes))
    cursor = db.dealers.find(_scoped({"code": {"$in": wanted}}, scope))
    return {doc["code"]: from_doc(doc) async for doc in cursor}


@dataclass(frozen=True)
class SalesFacts:
    """What recording a dealer's sales needs of its document."""

    region: str | None
    has_sales: bool  # salesVersion left 0 (see `note_first_sales`)


async def sales_facts(db: Database, codes: Iterable[str]) -> dict[str, SalesFacts]:
    """The facts of these dealers that exist, with one read (a batch's dealers)."""
    wanted = {c for c in codes if isinstance(c, str)}
    if not wanted:
        return {}
    narrowed = narrowing(wanted)
    cursor = db.dealers.find({} if narrowed is None else {"code": narrowed},
                             {"code": 1, "region": 1, "salesVersion": 1, "_id": 0})
    return {doc["code"]: SalesFacts(doc.get("region"), doc.get("salesVersion", None) != 0)
            async for doc in cursor if doc["code"] in wanted}


async def existing_codes(db: Database, codes: Iterable[str]) -> set[str]:
    wanted = [c for c in dict.fromkeys(codes) if isinstance(c, str)]
    if not wanted:
        return set()
    narrowed = narrowing(wanted)
    cursor = db.dealers.find({} if narrowed is None else {"code": narrowed},
                             {"code": 1, "_id": 0})
    return {doc["code"] async for doc in cursor} & set(wanted)


async def set_status(db: Database, code: str, status: DealerStatus, *,
                     only_if: DealerStatus | None = None,
                     pending: dict[str, Any] | None = None) -> None:
    query: dict[str, Any] = {"code": code}
    if only_if is not None:
        query["status"] = only_if.value
    fields: dict[str, Any] = {"status": status.value}
    if pending is not None:
        fields[PENDING] = pending
    await db.dealers.update_one(query, {"$set": fields})


async def note_first_sales(db: Database, codes: Iterable[str],
                           facts: Mapping[str, SalesFacts] | None = None) -> None:
    """These dealers have sales now: `salesVersion` leaves 0 (the mark of a dealer with no
    sales, whose segment changes queue no work). Written once per dealer, at its first
    sale; what orders computations is the ledger's sales stamp, not this field. `facts`:
    read already (by the call recording the sales)."""
    first = await without_sales(db, codes) if facts is None else {
        code for code in codes if code in facts and not facts[code].has_sales}
    if first:  # a bulk import's first batch: a thousand of them, in few commits
        await writes.bulk_write(db, db.dealers, [
            UpdateOne({"code": code, "salesVersion": 0}, {"$set": {"salesVersion": 1}})
            for code in sorted(first)])


async def page(db: Database, request: PageRequest, *, segment_code: str | None,
               status: DealerStatus | None, scope: str | None) -> Page[Dealer]:
    query: dict[str, Any] = {}
    if segment_code is not None:
        query["segmentCodes"] = segment_code
    if status is not None:
        query["status"] = status.value
    return await find_page(db.dealers, _scoped(query, scope), ORDER, request, kind=CURSOR_KIND,
                           convert=from_doc)


async def upsert(db: Database, draft: DealerDraft, *, now: dt.datetime,
                 pending: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Insert or update by code, with the pending marker of what follows (segments,
    recomputation, audit); returns the stored document before and after."""
    fields: dict[str, Any] = {
        "name": draft.name, "region": draft.region, "channel": draft.channel,
        "joinedOn": draft.joined_on.isoformat() if draft.joined_on else None,
        "attributes": draft.attributes, "updatedAt": now, PENDING: pending}
    if draft.status is not None:
        fields["status"] = draft.status.value
    on_insert: dict[str, Any] = {"createdAt": now, "segmentCodes": [], "salesVersion": 0}
    if draft.status is None:
        on_insert["status"] = DealerStatus.ACTIVE.value
    with unique_violation_as_conflict({"code": ("input", "code")}):
        before = await db.dealers.find_one_and_update(
            {"code": draft.code}, {"$set": fields, "$setOnInsert": on_insert},
            upsert=True, return_document=ReturnDocument.BEFORE)
    after = await db.dealers.find_one({"code": draft.code})
    assert after is not None
    return before, after


async def set_segments(db: Database, code: str, segment_codes: Iterable[str]) -> None:
    await db.dealers.update_one({"code": code}, {"$set": {"segmentCodes": list(segment_codes)}})


async def set_segment_members(db: Database, segment_code: str, members: set[str], *,
                              pending: dict[str, Any]) -> None:
    """Make `members` exactly the dealers carrying `segment_code` (two bulk updates); each
    dealer that moves gets the pending marker in the same write."""
    codes = sorted(members)
    await db.dealers.update_many({"code": {"$in": codes}, "segmentCodes": {"$ne": segment_code}},
                                 {"$push": {"segmentCodes": segment_code},
                                  "$set": {PENDING: pending}})
    await db.dealers.update_many({"code": {"$nin": codes}, "segmentCodes": segment_code},
                                 {"$pull": {"segmentCodes": segment_code},
                                  "$set": {PENDING: pending}})


async def set_segments_of(db: Database, changes: Mapping[str, Sequence[str]], *,
                          pending: dict[str, Any]) -> None:
    """New segments per dealer, each with the pending marker in the same write."""
    if changes:
        await db.dealers.bulk_write(
            [UpdateOne({"code": code}, {"$set": {"segmentCodes": list(found), PENDING: pending}})
             for code, found in changes.items()], ordered=False)


async def clear_pending(db: Database, codes: Iterable[str], mark: dict[str, Any]) -> None:
    """Drop this marker (not a newer one another change wrote meanwhile)."""
    wanted = sorted(codes)
    if wanted:
        await db.dealers.bulk_write(
            [UpdateOne({"code": code, f"{PENDING}.since": mark["since"]},
                       {"$unset": {PENDING: ""}}) for code in wanted], ordered=False)


async def stream_all(db: Database) -> AsyncIterator[Dealer]:
    async for doc in db.dealers.find({}, MEMBERSHIP_FIELDS):
        yield from_doc(doc)


async def count(db: Database) -> int:
    """How many dealers, from the collection's metadata (no scan; may lag a write)."""
    return await db.dealers.estimated_document_count()


async def none_stored(db: Database) -> bool:
    """No dealer at all, from the collection's metadata (no scan)."""
    return await db.dealers.estimated_document_count() == 0


async def pages_by_segment(db: Database, segment_codes: list[str], request: PageRequest, *,
                           scope: str | None) -> dict[str, Page[Dealer]]:
    """A page of members of each of many segments, from one aggregation: unwind membership,
    keep the asked segments, and page each (query.grouped_page_stages). A segment with no
    member (visible to `scope`) is absent."""
    match: dict[str, Any] = _scoped({"segmentCodes": {"$in": segment_codes}}, scope)
    pipeline: list[dict[str, Any]] = [
        {"$match": match},
        {"$addFields": {"_segment": "$segmentCodes"}},  # the member keeps all its segments
        {"$unwind": "$_segment"},
        {"$match": {"_segment": {"$in": segment_codes}}},
        *grouped_page_stages(ORDER, request, group_by="$_segment",
                             after=ORDER.place(request.after, "after"),
                             before=ORDER.place(request.before, "before")),
    ]
    cursor = await db.dealers.aggregate(pipeline)
    return {row["_id"]: grouped_page(row, ORDER, request, kind=CURSOR_KIND, convert=from_doc)
            async for row in cursor}
