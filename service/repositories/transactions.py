"""Transaction documents: immutable sales facts, unique by externalId; and their batches.

A `recordTransactions` call writes its batch document first (with a pending marker: the
intent), then the rows (each naming its batch), then the follow-ups, and clears the batch's
marker last — one small write, where clearing a marker on every row cost twice the insert.
A batch still pending after its grace period belonged to a call that stopped: the recovery
pass follows up the rows it finds under the batch id. Rows of a dead writer's insert can
land after that (the database finishes an insert it already received), so a recovered
batch is counted again for a while (`recheck`) and followed up again if rows appeared.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.errors import BulkWriteError

from domain.basis import TransactionKind
from domain.transactions import Transaction
from service.db import Database
from service.repositories.pending import FIELD as PENDING

# The embedded server tests an `$in` list against each document in turn: 5,000 ids in one
# query took 40 s, 50 queries of 100 took 1.6 s, 100 of 50 about 1.5 s (on 100,000 rows).
LOOKUP_CHUNK = 50
RECHECK = dt.timedelta(minutes=10)  # how long rows of a dead writer's insert may trail it
# Rows counted by their batch's sales-ledger delta; rows written before the ledger existed
# lack the field and are counted once by its backfill (service/repositories/sales_ledger.py).
IN_LEDGER = "ledger"
LAST_BATCH = "lastBatch"  # on a batch being recorded: it says it is an import's last


@dataclass(frozen=True)
class StoredRow:
    fingerprint: str
    batch_id: str | None


def to_doc(txn: Transaction, *, batch_id: str, actor: str, now: dt.datetime) -> dict[str, Any]:
    return {"externalId": txn.external_id, "dealerCode": txn.dealer_code,
            "kind": txn.kind.value, "date": txn.date.isoformat(),
            "productCode": txn.product_code, "quantity": txn.quantity, "amount": txn.amount,
            "currency": txn.currency, "region": txn.region, "fingerprint": txn.fingerprint,
            "batchId": batch_id, "recordedBy": actor, "recordedAt": now,
            IN_LEDGER: True}


def from_doc(doc: dict[str, Any]) -> Transaction:
    return Transaction(external_id=doc["externalId"], dealer_code=doc["dealerCode"],
                       kind=TransactionKind(doc["kind"]), date=dt.date.fromisoformat(doc["date"]),
                       amount=doc["amount"], currency=doc["currency"],
                       product_code=doc.get("productCode"), quantity=doc.get("quantity"),
                       region=doc.get("region"))


async def stored_rows(db: Database, external_ids: Iterable[str]) -> dict[str, StoredRow]:
    """What is stored under these externalIds: content fingerprint and batch."""
    ids = list(external_ids)
    found: dict[str, StoredRow] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        cursor = db.transactions.find(
            {"externalId": {"$in": ids[start:start + LOOKUP_CHUNK]}},
            {"externalId": 1, "fingerprint": 1, "batchId": 1, "_id": 0})
        async for doc in cursor:
            found[doc["externalId"]] = StoredRow(doc["fingerprint"], doc.get("batchId"))
    return found


async def insert_new(db: Database, docs: Sequence[dict[str, Any]]) -> set[str]:
    """Insert; returns the externalIds already stored (before, or by a racing writer)."""
    if not docs:
        return set()
    try:
        await db.transactions.insert_many(list(docs), ordered=False)
    except BulkWriteError as error:
        raced = set()
        for failure in error.details.get("writeErrors", []):
            if failure.get("code") != 11000:
                raise
            raced.add(docs[failure["index"]]["externalId"])
        return raced
    return set()


async def batch_rows(db: Database, batch_id: str) -> list[Transaction]:
    return [from_doc(doc) async for doc in db.transactions.find({"batchId": batch_id})]


async def ledger_rows(db: Database, batch_id: str) -> list[Transaction]:
    """The batch's rows that its ledger deltas count (all, unless an older version wrote
    some of them: the backfill counts those)."""
    return [from_doc(doc) async for doc in db.transactions.find(
        {"batchId": batch_id, IN_LEDGER: True})]


async def count_rows(db: Database, batch_id: str) -> int:
    return await db.transactions.count_documents({"batchId": batch_id})


async def begin_batch(db: Database, batch_id: str, *, pending: dict[str, Any],
                      last_batch: bool = False) -> None:
    """The batch's intent, first (`last_batch`: it says it is an import's last)."""
    await db.transaction_batches.insert_one({"_id": batch_id, PENDING: pending}
                                            | ({LAST_BATCH: True} if last_batch else {}))


async def batch_begun_since(db: Database, since: dt.datetime) -> bool:
    """Whether a batch begun since then is still being recorded (its pending marker is on:
    the sparse index holds only such batches)."""
    return await db.transaction_batches.find_one(
        {f"{PENDING}.since": {"$gte": since}}, {"_id": 1}) is not None


async def last_batch_begun_since(db: Database, since: dt.datetime) -> bool:
    """Whether a batch that says it is an import's last, begun since then, is still being
    recorded."""
    return await db.transaction_batches.find_one(
        {f"{PENDING}.since": {"$gte": since}, LAST_BATCH: True}, {"_id": 1}) is not None


async def unfinished_batches(db: Database, batch_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Of these batches, the ones whose follow-ups are not done (their call stopped)."""
    wanted = sorted(set(batch_ids))
    if not wanted:
        return []
    found = await db.transaction_batches.find({"_id": {"$in": wanted}}).to_list()
    return [doc for doc in found if PENDING in doc]


async def finish_batch(db: Database, batch_id: str, *, rows: int, recovered: bool,
                       now: dt.datetime) -> None:
    update: dict[str, Any] = {"$unset": {PENDING: ""}, "$set": {"rows": rows}}
    if recovered:
        update["$set"]["recheck"] = {"rows": rows, "until": now + RECHECK}
    await db.transaction_batches.update_one({"_id": batch_id}, update)


async def batches_to_recheck(db: Database, now: dt.datetime) -> list[dict[str, Any]]:
    return await db.transaction_batches.find({"recheck.until": {"$gt": now}}).to_list()


async def end_recheck(db: Database, batch_id: str) -> None:
    await db.transaction_batches.update_one({"_id": batch_id}, {"$unset": {"recheck": ""}})
