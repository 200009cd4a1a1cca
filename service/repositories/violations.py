"""Violation documents: immutable once recorded."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from bson import ObjectId

from domain.violations import PenaltyKind, Violation, ViolationType
from service.db import Database
from service.repositories.ids import parse_id
from service.repositories.pending import FIELD as PENDING
from service.repositories.pending import clear as clear_marker
from service.repositories.query import one_of


def from_doc(doc: dict[str, Any]) -> Violation:
    penalty = doc["penalty"]
    percent = penalty.get("percent")
    return Violation(id=str(doc["_id"]), dealer_code=doc["dealerCode"],
                     type=ViolationType(doc["type"]),
                     occurred_on=dt.date.fromisoformat(doc["occurredOn"]),
                     description=doc["description"], kind=PenaltyKind(penalty["kind"]),
                     percent=Decimal(percent) if percent is not None else None)


async def insert(db: Database, violation_id: ObjectId, violation: Violation, *, actor: str,
                 now: dt.datetime, pending: dict[str, Any]) -> dict[str, Any]:
    """Stored with its pending marker: applying it to the accruals follows."""
    doc = {"_id": violation_id, "dealerCode": violation.dealer_code,
           "type": violation.type.value, "occurredOn": violation.occurred_on.isoformat(),
           "description": violation.description,
           "penalty": {"kind": violation.kind.value, "percent": violation.percent},
           "recordedBy": actor, "recordedAt": now, PENDING: pending}
    await db.violations.insert_one(doc)
    return doc


async def for_dealers(db: Database, dealer_codes: Iterable[str], *, start: dt.date,
                      end: dt.date) -> dict[str, list[Violation]]:
    """Violations dated start..end (inclusive), per dealer."""
    cursor = db.violations.find({"dealerCode": one_of(dealer_codes),
                                 "occurredOn": {"$gte": start.isoformat(),
                                                "$lte": end.isoformat()}})
    found: dict[str, list[Violation]] = {}
    async for doc in cursor:
        found.setdefault(doc["dealerCode"], []).append(from_doc(doc))
    return found


async def for_dealer(db: Database, dealer_code: str) -> list[Violation]:
    cursor = db.violations.find({"dealerCode": dealer_code}).sort("occurredOn", 1)
    return [from_doc(d) async for d in cursor]


async def by_dealers(db: Database, dealer_codes: Iterable[str]) -> dict[str, list[Violation]]:
    found: dict[str, list[Violation]] = {}
    cursor = db.violations.find({"dealerCode": one_of(dealer_codes)}).sort(
        [("occurredOn", 1), ("_id", 1)])
    async for doc in cursor:
        found.setdefault(doc["dealerCode"], []).append(from_doc(doc))
    return found


async def get(db: Database, violation_id: str, *, scope: str | None = None) -> Violation | None:
    oid = parse_id(violation_id)
    if oid is None:
        return None
    query: dict[str, Any] = {"_id": oid}
    if scope is not None:
        query["dealerCode"] = scope
    doc = await db.violations.find_one(query)
    return from_doc(doc) if doc else None


async def clear_pending(db: Database, violation_id: ObjectId) -> None:
    """The violation is applied and audited."""
    await clear_marker(db.violations, {"_id": violation_id})
