"""The audit log: append-only. This module offers no update or delete, by design."""
from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from service.auth import Principal
from service.db import Database
from service.jsonsafe import jsonable
from service.pagination import Page, PageRequest
from service.repositories.ids import parse_id
from service.repositories.query import Keyset, SortField, find_page

CURSOR_KIND = "audit"
ORDER = Keyset((SortField("_id", descending=True, parse=ObjectId),))  # newest first


@dataclass(frozen=True)
class AuditEvent:
    id: str
    at: dt.datetime
    actor: str
    role: str
    action: str
    entity_type: str
    entity_id: str
    before: Any
    after: Any


def from_doc(doc: dict[str, Any]) -> AuditEvent:
    return AuditEvent(id=str(doc["_id"]), at=doc["at"], actor=doc["actor"], role=doc["role"],
                      action=doc["action"], entity_type=doc["entityType"],
                      entity_id=doc["entityId"], before=doc.get("before"),
                      after=doc.get("after"))


def event(*, actor: Principal, action: str, entity_type: str, entity_id: str, before: Any,
          after: Any, now: dt.datetime, dealer_code: str | None = None,
          event_id: ObjectId | None = None) -> dict[str, Any]:
    """An audit event document, not yet written: an operation that finishes in several
    writes keeps it in its `pending` marker and writes it among its follow-ups."""
    return {"_id": event_id or ObjectId(), "at": now, "actor": actor.sub,
            "role": actor.role.value, "action": action, "entityType": entity_type,
            "entityId": entity_id, "before": jsonable(before), "after": jsonable(after),
            "dealerCode": dealer_code}


async def write(db: Database, doc: dict[str, Any]) -> AuditEvent:
    """Write an event once: writing the same event (same `_id`) again changes nothing."""
    with contextlib.suppress(DuplicateKeyError):
        await db.audit_events.insert_one(doc)
    return from_doc(doc)


async def write_many(db: Database, docs: list[dict[str, Any]]) -> None:
    """Write events once each, in one round trip: events already written are skipped."""
    if not docs:
        return
    try:
        await db.audit_events.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        if any(f.get("code") != 11000 for f in error.details.get("writeErrors", [])):
            raise


async def append(db: Database, *, actor: Principal, action: str, entity_type: str,
                 entity_id: str, before: Any, after: Any, now: dt.datetime,
                 dealer_code: str | None = None,
                 event_id: ObjectId | None = None) -> AuditEvent:
    return await write(db, event(actor=actor, action=action, entity_type=entity_type,
                                 entity_id=entity_id, before=before, after=after, now=now,
                                 dealer_code=dealer_code, event_id=event_id))


async def get(db: Database, event_id: str) -> AuditEvent | None:
    oid = parse_id(event_id)
    if oid is None:
        return None
    doc = await db.audit_events.find_one({"_id": oid})
    return from_doc(doc) if doc else None


async def page(db: Database, request: PageRequest, *, entity_type: str | None,
               entity_id: str | None) -> Page[AuditEvent]:
    """Newest first."""
    query: dict[str, Any] = {}
    if entity_type is not None:
        query["entityType"] = entity_type
    if entity_id is not None:
        query["entityId"] = entity_id
    return await find_page(db.audit_events, query, ORDER, request, kind=CURSOR_KIND,
                           convert=from_doc)
