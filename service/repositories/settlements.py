"""Settlement documents (payout documents) and the claim that makes paying twice impossible."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from domain.programs import PayoutForm
from service.db import Database


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


async def claim_approved(db: Database, program_code: str, period: str,
                         settlement_id: ObjectId) -> list[dict[str, Any]]:
    """Mark every still-unclaimed APPROVED accrual as this settlement's. Each accrual is
    claimed by exactly one settlement: the update is atomic per document."""
    await db.accruals.update_many(
        {"programCode": program_code, "period": period, "status": "APPROVED",
         "settlementId": None},
        {"$set": {"settlementId": settlement_id}})
    return await db.accruals.find({"settlementId": settlement_id}).sort("dealerCode",
                                                                      1).to_list()


async def insert(db: Database, settlement_id: ObjectId, *, program_code: str, period: str,
                 lines: list[SettlementLine], total: Decimal, actor: str,
                 now: dt.datetime) -> Settlement:
    doc = {"_id": settlement_id, "programCode": program_code, "period": period,
           "lines": [{"dealerCode": line.dealer_code, "accrualId": line.accrual_id,
                      "amount": line.amount, "taxWithheld": line.tax_withheld,
                      "payable": line.payable, "form": line.form.value} for line in lines],
           "totalPayable": total, "createdAt": now, "createdBy": actor}
    await db.settlements.insert_one(doc)
    await db.accruals.update_many({"settlementId": settlement_id},
                                  {"$set": {"status": "SETTLED", "settledAt": now}})
    return from_doc(doc)


async def find(db: Database, *, program_code: str | None, period: str | None,
               dealer_scope: str | None) -> list[Settlement]:
    query: dict[str, Any] = {}
    if program_code is not None:
        query["programCode"] = program_code
    if period is not None:
        query["period"] = period
    if dealer_scope is not None:
        query["lines.dealerCode"] = dealer_scope
    return [from_doc(d) async for d in db.settlements.find(query).sort("_id", 1)]


async def get(db: Database, settlement_id: str) -> Settlement | None:
    try:
        doc = await db.settlements.find_one({"_id": ObjectId(settlement_id)})
    except (InvalidId, TypeError):
        return None
    return from_doc(doc) if doc else None
