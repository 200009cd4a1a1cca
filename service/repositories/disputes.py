"""Dispute documents (申诉)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from service.db import Database


@dataclass(frozen=True)
class Dispute:
    id: str
    accrual_id: str
    dealer_code: str
    reason: str
    status: str
    adjustment_amount: Decimal | None
    resolution_note: str | None
    opened_by: str
    opened_at: dt.datetime


def from_doc(doc: dict[str, Any]) -> Dispute:
    return Dispute(id=str(doc["_id"]), accrual_id=doc["accrualId"],
                   dealer_code=doc["dealerCode"], reason=doc["reason"], status=doc["status"],
                   adjustment_amount=doc.get("adjustmentAmount"),
                   resolution_note=doc.get("resolutionNote"), opened_by=doc["openedBy"],
                   opened_at=doc["openedAt"])


def _id(value: str) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


async def insert(db: Database, *, accrual: dict[str, Any], reason: str, actor: str,
                 now: dt.datetime) -> Dispute:
    doc = {"accrualId": str(accrual["_id"]), "dealerCode": accrual["dealerCode"],
           "programCode": accrual["programCode"], "period": accrual["period"],
           "reason": reason, "status": "OPEN", "openedBy": actor, "openedAt": now}
    result = await db.disputes.insert_one(doc)
    return from_doc({**doc, "_id": result.inserted_id})


async def get(db: Database, dispute_id: str, *, scope: str | None = None) -> Dispute | None:
    oid = _id(dispute_id)
    if oid is None:
        return None
    query: dict[str, Any] = {"_id": oid}
    if scope is not None:
        query["dealerCode"] = scope
    doc = await db.disputes.find_one(query)
    return from_doc(doc) if doc else None


async def resolve(db: Database, dispute_id: str, *, status: str, adjustment: Decimal | None,
                  note: str | None, actor: str, now: dt.datetime) -> Dispute | None:
    """Only an OPEN dispute is resolved, once (atomic)."""
    oid = _id(dispute_id)
    if oid is None:
        return None
    doc = await db.disputes.find_one_and_update(
        {"_id": oid, "status": "OPEN"},
        {"$set": {"status": status, "adjustmentAmount": adjustment, "resolutionNote": note,
                  "resolvedBy": actor, "resolvedAt": now}}, return_document=True)
    return from_doc(doc) if doc else None


async def find(db: Database, *, status: str | None, scope: str | None) -> list[Dispute]:
    query: dict[str, Any] = {}
    if status is not None:
        query["status"] = status
    if scope is not None:
        query["dealerCode"] = scope
    return [from_doc(d) async for d in db.disputes.find(query).sort("_id", 1)]
