"""Segment documents."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pymongo import ReturnDocument

from domain.segments import Segment, SegmentRule
from service.db import Database
from service.errors import unique_violation_as_conflict
from service.repositories.pending import FIELD as PENDING
from service.repositories.pending import clear as clear_marker


def _rule_doc(rule: SegmentRule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {"regions": list(rule.regions) if rule.regions is not None else None,
            "channels": list(rule.channels) if rule.channels is not None else None,
            "minTrailingSales": rule.min_trailing_sales,
            "minTenureYears": rule.min_tenure_years}


def from_doc(doc: dict[str, Any]) -> Segment:
    rule = doc.get("rule")
    return Segment(
        code=doc["code"], name=doc["name"], priority=doc["priority"],
        description=doc.get("description"),
        rule=SegmentRule(
            regions=tuple(rule["regions"]) if rule.get("regions") is not None else None,
            channels=tuple(rule["channels"]) if rule.get("channels") is not None else None,
            min_trailing_sales=rule.get("minTrailingSales"),
            min_tenure_years=rule.get("minTenureYears")) if rule else None,
        dealer_codes=tuple(doc.get("dealerCodes") or ()),
        max_order_offset_percent=doc.get("maxOrderOffsetPercent"))


async def get(db: Database, code: str) -> Segment | None:
    doc = await db.segments.find_one({"code": code})
    return from_doc(doc) if doc else None


async def get_many(db: Database, codes: Iterable[str]) -> dict[str, Segment]:
    cursor = db.segments.find({"code": {"$in": list(dict.fromkeys(codes))}})
    return {doc["code"]: from_doc(doc) async for doc in cursor}


async def all_segments(db: Database, *, only: Iterable[str] | None = None) -> list[Segment]:
    query: dict[str, Any] = {} if only is None else {"code": {"$in": list(only)}}
    docs = await db.segments.find(query).sort([("priority", 1), ("code", 1)]).to_list()
    return [from_doc(d) for d in docs]


async def priorities_taken(db: Database) -> dict[int, str]:
    cursor = db.segments.find({}, {"priority": 1, "code": 1, "_id": 0})
    return {doc["priority"]: doc["code"] async for doc in cursor}


async def upsert(db: Database, segment: Segment, *, now: dt.datetime,
                 pending: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Insert or update by code, with the pending marker of the membership refresh that
    follows; returns the stored document before and after."""
    fields = {"name": segment.name, "description": segment.description,
              "priority": segment.priority, "rule": _rule_doc(segment.rule),
              "dealerCodes": list(segment.dealer_codes),
              "maxOrderOffsetPercent": segment.max_order_offset_percent,
              "updatedAt": now, PENDING: pending}
    with unique_violation_as_conflict({"priority": ("input", "priority"),
                                       "code": ("input", "code")}):
        before = await db.segments.find_one_and_update(
            {"code": segment.code}, {"$set": fields, "$setOnInsert": {"createdAt": now}},
            upsert=True, return_document=ReturnDocument.BEFORE)
    after = await db.segments.find_one({"code": segment.code})
    assert after is not None
    return before, after


async def clear_pending(db: Database, code: str, mark: dict[str, Any]) -> None:
    """Drop this marker (not a newer one another change wrote meanwhile)."""
    await clear_marker(db.segments, {"code": code, f"{PENDING}.since": mark["since"]})


async def none_stored(db: Database) -> bool:
    """No segment at all, from the collection's metadata (no scan)."""
    return await db.segments.estimated_document_count() == 0
