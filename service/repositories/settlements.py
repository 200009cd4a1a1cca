"""Settlement documents (payout documents) and the claims that make paying twice impossible.

A settlement is written in steps, each safe to repeat, so that a retry or the recovery pass
can finish one that was interrupted anywhere, and two of them can even run at once:

1. `begin`: the document, state PENDING, before anything else (the intent);
2. `claim`: every unclaimed APPROVED accrual of the period gets its `settlementId` — each
   accrual is claimed by exactly one settlement, the update being atomic per document;
3. `write_lines`: the lines, from the accruals claimed, written once (PENDING → WRITTEN, or
   VOID when nothing was claimed); whoever loses that compare-and-set takes the winner's;
4. `release_strays`: a claim that did not make it into the lines is given back;
5. `mark_settled`: the accruals in the lines become SETTLED;
6. `finish`: state DONE. Only DONE settlements are shown.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import UpdateOne

from domain.programs import PayoutForm
from service.db import Database
from service.repositories.pending import FIELD as PENDING


class State(StrEnum):
    PENDING = "PENDING"
    WRITTEN = "WRITTEN"
    DONE = "DONE"
    VOID = "VOID"


UNFINISHED = [State.PENDING.value, State.WRITTEN.value]
SHOWN: dict[str, Any] = {"state": {"$nin": [State.PENDING.value, State.WRITTEN.value,
                                            State.VOID.value]}}


@dataclass(frozen=True)
class SettlementLine:
    dealer_code: str
    accrual_id: str
    amount: Decimal
    tax_withheld: Decimal
    payable: Decimal
    form: PayoutForm


@dataclass(frozen=True)
class Settlement:
    id: str
    program_code: str
    period: str
    lines: tuple[SettlementLine, ...]
    total_payable: Decimal
    created_at: dt.datetime
    created_by: str


def from_doc(doc: dict[str, Any]) -> Settlement:
    return Settlement(
        id=str(doc["_id"]), program_code=doc["programCode"], period=doc["period"],
        lines=tuple(SettlementLine(line["dealerCode"], line["accrualId"], line["amount"],
                                   line["taxWithheld"], line["payable"],
                                   PayoutForm(line["form"])) for line in doc["lines"]),
        total_payable=doc["totalPayable"], created_at=doc["createdAt"],
        created_by=doc["createdBy"])


def state_of(doc: dict[str, Any]) -> State:
    return State(doc.get("state", State.DONE.value))  # documents from before the states


async def begin(db: Database, settlement_id: ObjectId, *, program_code: str, period: str,
                actor: str, now: dt.datetime, pending: dict[str, Any]) -> dict[str, Any]:
    doc = {"_id": settlement_id, "programCode": program_code, "period": period,
           "state": State.PENDING.value, "lines": [], "totalPayable": Decimal(0),
           "createdAt": now, "createdBy": actor, PENDING: pending}
    await db.settlements.insert_one(doc)
    return doc


async def claim(db: Database, program_code: str, period: str, settlement_id: ObjectId) -> None:
    await db.accruals.update_many(
        {"programCode": program_code, "period": period, "status": "APPROVED",
         "settlementId": None},
        {"$set": {"settlementId": settlement_id}})


async def has_unclaimed(db: Database, program_code: str, period: str) -> bool:
    found = await db.accruals.find_one({"programCode": program_code, "period": period,
                                        "status": "APPROVED", "settlementId": None}, {"_id": 1})
    return found is not None


async def claimed(db: Database, program_code: str, period: str,
                  settlement_id: ObjectId) -> list[dict[str, Any]]:
    found = await db.accruals.find({"programCode": program_code,
                                    "period": period}).to_list()
    return sorted((d for d in found if d.get("settlementId") == settlement_id),
                  key=lambda d: str(d["dealerCode"]))


async def write_lines(db: Database, settlement_id: ObjectId, lines: list[SettlementLine],
                      total: Decimal) -> dict[str, Any] | None:
    """Fix the lines once; None when another writer fixed them first (read theirs)."""
    return await db.settlements.find_one_and_update(
        {"_id": settlement_id, "state": State.PENDING.value},
        {"$set": {"state": (State.WRITTEN if lines else State.VOID).value,
                  "lines": [{"dealerCode": line.dealer_code, "accrualId": line.accrual_id,
                             "amount": line.amount, "taxWithheld": line.tax_withheld,
                             "payable": line.payable, "form": line.form.value}
                            for line in lines],
                  "totalPayable": total}}, return_document=True)


def line_ids(doc: dict[str, Any]) -> list[ObjectId]:
    return [ObjectId(line["accrualId"]) for line in doc["lines"]]


async def release_strays(db: Database, doc: dict[str, Any]) -> int:
    """Claims of this settlement that are not among its lines are given back."""
    keep = set(line_ids(doc))
    strays = [d["_id"] for d in await claimed(db, doc["programCode"], doc["period"], doc["_id"])
              if d["_id"] not in keep]
    if strays:
        await db.accruals.bulk_write([UpdateOne(
            {"_id": accrual_id, "settlementId": doc["_id"], "status": "APPROVED"},
            {"$set": {"settlementId": None}}) for accrual_id in strays], ordered=False)
    return len(strays)


async def mark_settled(db: Database, doc: dict[str, Any], now: dt.datetime) -> None:
    """By id, not by claim: a claim racing in from a twin completer is not in the lines."""
    if doc["lines"]:
        await db.accruals.bulk_write([UpdateOne(
            {"_id": accrual_id, "settlementId": doc["_id"], "status": "APPROVED"},
            {"$set": {"status": "SETTLED", "settledAt": now}}) for accrual_id in line_ids(doc)],
            ordered=False)


async def finish(db: Database, doc: dict[str, Any]) -> None:
    await db.settlements.update_one(
        {"_id": doc["_id"]},
        {"$set": {"state": (State.VOID if state_of(doc) is State.VOID else State.DONE).value},
         "$unset": {PENDING: ""}})


async def get_doc(db: Database, settlement_id: ObjectId) -> dict[str, Any] | None:
    return await db.settlements.find_one({"_id": settlement_id})


async def unfinished(db: Database, program_code: str, period: str) -> list[dict[str, Any]]:
    return await db.settlements.find({"programCode": program_code, "period": period,
                                      "state": {"$in": UNFINISHED}}).sort("_id", 1).to_list()


async def approved_claims(db: Database) -> list[dict[str, Any]]:
    """APPROVED accruals that carry a claim (normally only during a settlement)."""
    cursor = db.accruals.find({"status": "APPROVED"}, {"settlementId": 1})
    return [doc async for doc in cursor if doc.get("settlementId") is not None]


async def release(db: Database, accrual_id: ObjectId, settlement_id: ObjectId) -> None:
    await db.accruals.update_one({"_id": accrual_id, "settlementId": settlement_id,
                                  "status": "APPROVED"}, {"$set": {"settlementId": None}})


async def find(db: Database, *, program_code: str | None, period: str | None,
               dealer_scope: str | None) -> list[Settlement]:
    query: dict[str, Any] = dict(SHOWN)
    if program_code is not None:
        query["programCode"] = program_code
    if period is not None:
        query["period"] = period
    if dealer_scope is not None:
        query["lines.dealerCode"] = dealer_scope
    return [from_doc(d) async for d in db.settlements.find(query).sort("_id", 1)]


async def get(db: Database, settlement_id: str) -> Settlement | None:
    try:
        doc = await db.settlements.find_one({"_id": ObjectId(settlement_id), **SHOWN})
    except (InvalidId, TypeError):
        return None
    return from_doc(doc) if doc else None
