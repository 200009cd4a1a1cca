"""Dispute documents (申诉)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bson import ObjectId

from service.db import Database
from service.repositories.ids import parse_id
from service.repositories.pending import FIELD as PENDING
from service.repositories.pending import clear as clear_marker


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


async def insert(db: Database, dispute_id: ObjectId, *, accrual: dict[str, Any], reason: str,
                 actor: str, now: dt.datetime, pending: dict[str, Any]) -> dict[str, Any]:
    doc = {"_id": dispute_id, "accrualId": str(accrual["_id"]),
           "dealerCode": accrual["dealerCode"], "programCode": accrual["programCode"],
           "period": accrual["period"], "reason": reason, "status": "OPEN",
           "openedBy": actor, "openedAt": now, PENDING: pending}
    await db.disputes.insert_one(doc)
    return doc


async def void(db: Database, dispute_id: ObjectId) -> None:
    """An opened dispute that never took its accrual (settled first): it never was."""
    await db.disputes.delete_one({"_id": dispute_id, "status": "OPEN"})


async def open_for_accrual(db: Database, accrual_id: str) -> list[dict[str, Any]]:
    """The accrual's OPEN disputes (one, or during an opening that stopped half-way, two)."""
    found = await db.disputes.find({"accrualId": accrual_id}).to_list()
    return [doc for doc in found if doc["status"] == "OPEN"]


async def get_doc(db: Database, dispute_id: str) -> dict[str, Any] | None:
    oid = parse_id(dispute_id)
    return None if oid is None else await db.disputes.find_one({"_id": oid})


async def get(db: Database, dispute_id: str, *, scope: str | None = None) -> Dispute | None:
    oid = parse_id(dispute_id)
    if oid is None:
        return None
    query: dict[str, Any] = {"_id": oid}
    if scope is not None:
        query["dealerCode"] = scope
    doc = await db.disputes.find_one(query)
    return from_doc(doc) if doc else None


async def resolve(db: Database, dispute_id: str, *, status: str, adjustment: Decimal | None,
                  note: str | None, actor: str, now: dt.datetime,
                  pending: dict[str, Any]) -> dict[str, Any] | None:
    """Only an OPEN dispute whose opening is complete is resolved, once (atomic)."""
    oid = parse_id(dispute_id)
    if oid is None:
        return None
    doc: dict[str, Any] | None = await db.disputes.find_one_and_update(
        {"_id": oid, "status": "OPEN", PENDING: {"$exists": False}},
        {"$set": {"status": status, "adjustmentAmount": adjustment, "resolutionNote": note,
                  "resolvedBy": actor, "resolvedAt": now, PENDING: pending}},
        return_document=True)
    return doc


async def find(db: Database, *, status: str | None, scope: str | None) -> list[Dispute]:
    query: dict[str, Any] = {}
    if status is not None:
        query["status"] = status
    if scope is not None:
        query["dealerCode"] = scope
    return [from_doc(d) async for d in db.disputes.find(query).sort("_id", 1)]


async def clear_pending(db: Database, dispute_id: ObjectId) -> None:
    """The dispute's accrual (and any adjustment) follows it now, and it is audited."""
    await clear_marker(db.disputes, {"_id": dispute_id})
