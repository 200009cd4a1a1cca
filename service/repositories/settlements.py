"""Settlement documents (payout documents) and the claims that make paying twice impossible.

A settlement is written in steps, each safe to repeat, so that a retry or the recovery pass
can finish one that was interrupted anywhere, and two of them can even run at once:

1. `begin`: the document, state PENDING, before anything else (the intent). It carries the
   settlement's number (allocated just before from a per-year counter) and the payees as
   they are now — dealer name and region, the program's payout form and tax rate — so a
   retry or the recovery pass writes the lines with what the settlement started with, even
   if the dealer or the program changed meanwhile;
2. `claim`: every unclaimed APPROVED accrual of the period gets its `settlementId` — each
   accrual is claimed by exactly one settlement, the update being atomic per document;
3. `write_lines`: the lines, from the accruals claimed, each with its payee snapshot, written
   once (PENDING → WRITTEN, or VOID when nothing was claimed); whoever loses that
   compare-and-set takes the winner's;
4. credits (the use case, through repositories/rebate_accounts.py): each CREDIT_NOTE line
   with a positive payable credits the dealer's rebate account, one entry per line keyed
   by the settlement and the line's accrual, so repeating it credits nothing twice. Before
   step 6, so an accrual is never SETTLED without its credit;
5. `release_strays`: a claim that did not make it into the lines is given back;
6. `mark_settled`: the accruals in the lines become SETTLED;
7. `finish`: state DONE. Only DONE settlements are shown.

Numbers (`STL-2026-000123`): the year the settlement was created (UTC), then a per-year
sequence from the `counters` collection (`$inc`, upsert: atomic, so never handed out
twice; a unique index on `number` backs that up). A number is taken before the intent is
written, so a process that dies in between leaves a gap, never a duplicate; so does a
settlement that ends VOID (a concurrent one claimed everything first). Documents from
before numbers get theirs the first time they are completed or read (`ensure_number`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from domain.programs import PayoutForm
from service.db import Database
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories.ids import parse_id
from service.repositories.pending import FIELD as PENDING


class State(StrEnum):
    PENDING = "PENDING"
    WRITTEN = "WRITTEN"
    DONE = "DONE"
    VOID = "VOID"


UNFINISHED = [State.PENDING.value, State.WRITTEN.value]
SHOWN: dict[str, Any] = {"state": {"$nin": [State.PENDING.value, State.WRITTEN.value,
                                            State.VOID.value]}}


NUMBER_PREFIX = "STL"
INTENT = "intent"  # what `begin` saw: the payout terms and the payees; dropped at `finish`


@dataclass(frozen=True)
class Payout:
    """The program's payout terms a settlement pays by."""

    form: PayoutForm
    tax_rate: Decimal
    credit_validity_days: int | None = None  # CREDIT_NOTE: how long its credits last


@dataclass(frozen=True)
class Payee:
    """Whom a line paid, as they were when the settlement began."""

    dealer_code: str
    name: str
    region: str | None
    payout_form: PayoutForm
    tax_rate: Decimal


@dataclass(frozen=True)
class SettlementLine:
    dealer_code: str
    accrual_id: str
    amount: Decimal
    tax_withheld: Decimal
    payable: Decimal
    form: PayoutForm
    payee: Payee


@dataclass(frozen=True)
class Settlement:
    id: str
    number: str
    program_code: str
    period: str
    lines: tuple[SettlementLine, ...]
    total_payable: Decimal
    created_at: dt.datetime
    created_by: str


def _payee_doc(payee: Payee) -> dict[str, Any]:
    return {"dealerCode": payee.dealer_code, "name": payee.name, "region": payee.region,
            "payoutForm": payee.payout_form.value, "taxRate": payee.tax_rate}


def _payee(doc: dict[str, Any]) -> Payee:
    return Payee(dealer_code=doc["dealerCode"], name=doc["name"], region=doc.get("region"),
                 payout_form=PayoutForm(doc["payoutForm"]), tax_rate=doc["taxRate"])


LegacyKey = tuple[str, str, str]  # program code, dealer code, payout form


def _legacy_key(doc: dict[str, Any], line: dict[str, Any]) -> LegacyKey:
    return doc["programCode"], line["dealerCode"], line["form"]


def from_doc(doc: dict[str, Any], current: dict[LegacyKey, Payee] | None = None) -> Settlement:
    """`current`: today's payees, for lines written before payee snapshots (see
    `to_settlements`)."""
    def payee_of(line: dict[str, Any]) -> Payee:
        if "payee" in line:
            return _payee(line["payee"])
        assert current is not None, "a line without a payee snapshot needs current data"
        return current[_legacy_key(doc, line)]

    return Settlement(
        id=str(doc["_id"]), number=doc["number"], program_code=doc["programCode"],
        period=doc["period"],
        lines=tuple(SettlementLine(line["dealerCode"], line["accrualId"], line["amount"],
                                   line["taxWithheld"], line["payable"],
                                   PayoutForm(line["form"]), payee_of(line))
                    for line in doc["lines"]),
        total_payable=doc["totalPayable"], created_at=doc["createdAt"],
        created_by=doc["createdBy"])


async def _current_payees(db: Database,
                          docs: list[dict[str, Any]]) -> dict[LegacyKey, Payee]:
    """Legacy lines (no snapshot) show the dealer and the program as they are now: name and
    region of today's dealer, the line's own payout form, the program's current tax rate."""
    legacy = {_legacy_key(doc, line) for doc in docs for line in doc["lines"]
              if "payee" not in line}
    if not legacy:
        return {}
    dealers = await dealer_repo.get_many(db, [dealer for _, dealer, _ in legacy])
    programs = await program_repo.get_many(db, [program for program, _, _ in legacy])
    found: dict[LegacyKey, Payee] = {}
    for key in legacy:
        program_code, dealer_code, form = key
        dealer, program = dealers.get(dealer_code), programs.get(program_code)
        found[key] = Payee(
            dealer_code=dealer_code, name=dealer.name if dealer else dealer_code,
            region=dealer.region if dealer else None, payout_form=PayoutForm(form),
            tax_rate=program.rules.tax_rate if program else Decimal(0))
    return found


async def to_settlements(db: Database, docs: list[dict[str, Any]]) -> list[Settlement]:
    """Documents as settlements: a number given to any that has none yet (documents from
    before numbers), current data for lines from before payee snapshots."""
    numbered = [await ensure_number(db, doc) for doc in docs]
    current = await _current_payees(db, numbered)
    return [from_doc(doc, current) for doc in numbered]


def number_of(year: int, sequence: int) -> str:
    return f"{NUMBER_PREFIX}-{year:04d}-{sequence:06d}"


async def allocate_number(db: Database, year: int) -> str:
    """The next number of `year`: an atomic increment of the year's counter, never the same
    number twice and none skipped.

    The counter is created first, on its own: callers racing for the year's first number
    would otherwise race to create it in the increment itself, and one of them could be
    answered with no document after its increment took a number (the embedded server) or
    meet the unique `_id` (MongoDB)."""
    key = f"settlement-{year:04d}"
    with contextlib.suppress(DuplicateKeyError):  # created meanwhile by another caller
        await db.counters.update_one({"_id": key}, {"$setOnInsert": {"sequence": 0}},
                                     upsert=True)
    counter = await db.counters.find_one_and_update(
        {"_id": key}, {"$inc": {"sequence": 1}}, return_document=ReturnDocument.AFTER)
    if counter is None:
        raise RuntimeError(f"the settlement number counter of {year} is missing")
    return number_of(year, int(counter["sequence"]))


async def ensure_number(db: Database, doc: dict[str, Any]) -> dict[str, Any]:
    """The document with a number: its own, or (a document from before numbers) one
    allocated now for the year it was created and set only if it still has none — two
    completers racing here leave a gap, never two numbers."""
    if doc.get("number"):
        return doc
    number = await allocate_number(db, doc["createdAt"].year)
    numbered = await db.settlements.find_one_and_update(
        {"_id": doc["_id"], "number": {"$exists": False}}, {"$set": {"number": number}},
        return_document=ReturnDocument.AFTER)
    if numbered is None:
        numbered = await db.settlements.find_one({"_id": doc["_id"]})
        assert numbered is not None and numbered.get("number"), "settlements are never deleted"
    return {**doc, "number": numbered["number"]}


def intended_payout(doc: dict[str, Any]) -> Payout | None:
    """The payout terms `begin` stored (None: an intent from before snapshots)."""
    payout = (doc.get(INTENT) or {}).get("payout")
    return Payout(PayoutForm(payout["form"]), payout["taxRate"],
                  payout.get("creditValidityDays")) if payout else None


def intends_credit_validity(doc: dict[str, Any]) -> bool:
    """Whether `begin` stored the credits' validity (intents from before rebate accounts
    did not: their credits take the program's current one)."""
    return "creditValidityDays" in ((doc.get(INTENT) or {}).get("payout") or {})


def intended_payees(doc: dict[str, Any], payout: Payout) -> dict[str, Payee]:
    """The payees `begin` stored, by dealer code."""
    return {p["dealerCode"]: Payee(p["dealerCode"], p["name"], p.get("region"), payout.form,
                                   payout.tax_rate)
            for p in (doc.get(INTENT) or {}).get("payees", [])}


def state_of(doc: dict[str, Any]) -> State:
    return State(doc.get("state", State.DONE.value))  # documents from before the states


async def begin(db: Database, settlement_id: ObjectId, *, program_code: str, period: str,
                actor: str, now: dt.datetime, pending: dict[str, Any],
                number: str | None = None, payout: Payout | None = None,
                payees: list[Payee] | None = None) -> dict[str, Any]:
    """The intent. Without `number` and `payout` it is written as before numbers and
    snapshots (what a process of the previous version left); `complete` copes with both."""
    doc: dict[str, Any] = {
        "_id": settlement_id, "programCode": program_code, "period": period,
        "state": State.PENDING.value, "lines": [], "totalPayable": Decimal(0),
        "createdAt": now, "createdBy": actor, PENDING: pending}
    if number is not None:
        doc["number"] = number
    if payout is not None:
        doc[INTENT] = {"payout": {"form": payout.form.value, "taxRate": payout.tax_rate,
                                  "creditValidityDays": payout.credit_validity_days},
                       "payees": [{"dealerCode": p.dealer_code, "name": p.name,
                                   "region": p.region} for p in payees or []]}
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


async def unclaimed_dealers(db: Database, program_code: str, period: str) -> list[str]:
    """The dealers a settlement begun now would pay (those with an unclaimed APPROVED
    accrual of the period)."""
    cursor = db.accruals.find({"programCode": program_code, "period": period,
                               "status": "APPROVED", "settlementId": None}, {"dealerCode": 1})
    return sorted({doc["dealerCode"] async for doc in cursor})


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
                             "payable": line.payable, "form": line.form.value,
                             "payee": _payee_doc(line.payee)}
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
         "$unset": {PENDING: "", INTENT: ""}})


async def line_paying(db: Database, program_code: str, period: str,
                      accrual_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The settlement document and its line that paid an accrual (None: not paid)."""
    doc = await db.settlements.find_one({"programCode": program_code, "period": period,
                                         "lines.accrualId": accrual_id,
                                         "state": {"$ne": State.VOID.value}})
    if doc is None:
        return None
    return doc, next(line for line in doc["lines"] if line["accrualId"] == accrual_id)


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
               dealer_scope: str | None, number: str | None = None) -> list[Settlement]:
    query: dict[str, Any] = dict(SHOWN)
    if program_code is not None:
        query["programCode"] = program_code
    if period is not None:
        query["period"] = period
    if number is not None:
        query["number"] = number
    if dealer_scope is not None:
        query["lines.dealerCode"] = dealer_scope
    return await to_settlements(db, await db.settlements.find(query).sort("_id", 1).to_list())


async def get(db: Database, settlement_id: str) -> Settlement | None:
    oid = parse_id(settlement_id)
    if oid is None:
        return None
    doc = await db.settlements.find_one({"_id": oid, **SHOWN})
    return (await to_settlements(db, [doc]))[0] if doc else None
