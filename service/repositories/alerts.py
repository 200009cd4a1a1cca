"""Alert documents: one per anomaly, named by a unique `key` so it is raised only once."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from domain.alerts import Alert, AlertDraft, AlertKind, AlertStatus
from service.db import Database
from service.jsonsafe import jsonable
from service.pagination import Page, PageRequest
from service.repositories import outbox
from service.repositories.pending import FIELD as PENDING
from service.repositories.query import Keyset, SortField, find_page
from service.repositories.texts import text_doc, text_of

CURSOR_KIND = "alert"
ORDER = Keyset((SortField("_id", descending=True, parse=ObjectId),))  # newest first
# Figures of a raised alert are refreshed while someone may still act on them; a dismissed
# alert keeps what it was dismissed on.
REFRESHABLE = (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value)


def from_doc(doc: dict[str, Any]) -> Alert:
    return Alert(key=doc["key"], kind=AlertKind(doc["kind"]), status=AlertStatus(doc["status"]),
                 dealer_code=doc["dealerCode"], program_code=doc.get("programCode"),
                 period=doc.get("period"),
                 message=text_of(doc.get("messageText"), doc["message"]),
                 details=jsonable(doc.get("details") or {}), created_at=doc["createdAt"],
                 resolved_by=doc.get("resolvedBy"), resolved_at=doc.get("resolvedAt"),
                 resolution_note=doc.get("resolutionNote"))


async def raise_alerts(db: Database, drafts: Sequence[AlertDraft], *, now: dt.datetime) -> int:
    """Store new alerts in one bulk write; returns how many were newly raised.

    An alert that exists and is still OPEN or ACKNOWLEDGED gets the latest figures; a
    DISMISSED one is left alone: the filter misses it, the upsert hits the unique key and
    that duplicate is ignored — so re-running never duplicates or reopens anything.
    """
    if not drafts:
        return 0
    operations = [UpdateOne(
        {"key": d.key, "status": {"$in": list(REFRESHABLE)}},
        {"$set": {"message": str(d.message), "messageText": text_doc(d.message),
                  "details": dict(d.details)},
         "$setOnInsert": {"kind": d.kind.value, "status": AlertStatus.OPEN.value,
                          "dealerCode": d.dealer_code, "programCode": d.program_code,
                          "period": d.period, "createdAt": now,
                          outbox.NOTICE: outbox.notice(now)}},  # webhook alert.raised
        upsert=True) for d in drafts]
    try:
        result = await db.alerts.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") != 11000]
        if others:
            raise
        return int(error.details.get("nUpserted", 0))
    return result.upserted_count


async def get(db: Database, key: str) -> Alert | None:
    doc = await db.alerts.find_one({"key": key})
    return from_doc(doc) if doc else None


async def get_doc(db: Database, key: str) -> dict[str, Any] | None:
    return await db.alerts.find_one({"key": key}, {"_id": 0})


def move_changes(*, target: AlertStatus, actor: str, note: str | None,
                 now: dt.datetime) -> dict[str, Any]:
    """A new note replaces the earlier one; without a note the earlier one is kept."""
    changes: dict[str, Any] = {"status": target.value, "resolvedBy": actor, "resolvedAt": now}
    if note is not None:
        changes["resolutionNote"] = note
    return changes


async def move(db: Database, key: str, *, expected: AlertStatus, changes: dict[str, Any],
               pending: dict[str, Any]) -> dict[str, Any] | None:
    """Change the status if it is still `expected` (None: it changed meanwhile), with the
    pending marker of the audit event that follows."""
    return await db.alerts.find_one_and_update(
        {"key": key, "status": expected.value}, {"$set": {**changes, PENDING: pending}},
        return_document=ReturnDocument.AFTER)


async def page(db: Database, request: PageRequest, *,
               status: AlertStatus | None) -> Page[Alert]:
    """Newest first."""
    query: dict[str, Any] = {} if status is None else {"status": status.value}
    return await find_page(db.alerts, query, ORDER, request, kind=CURSOR_KIND,
                           convert=from_doc)
