"""Transaction documents: immutable sales facts, unique by externalId."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from pymongo.errors import BulkWriteError

from domain.transactions import Transaction
from service.db import Database


def to_doc(txn: Transaction, *, batch_id: str, actor: str, now: dt.datetime) -> dict[str, Any]:
    return {"externalId": txn.external_id, "dealerCode": txn.dealer_code,
            "kind": txn.kind.value, "date": txn.date.isoformat(),
            "productCode": txn.product_code, "quantity": txn.quantity, "amount": txn.amount,
            "currency": txn.currency, "region": txn.region, "fingerprint": txn.fingerprint,
            "batchId": batch_id, "recordedBy": actor, "recordedAt": now}


async def fingerprints(db: Database, external_ids: Iterable[str]) -> dict[str, str]:
    cursor = db.transactions.find({"externalId": {"$in": list(external_ids)}},
                                  {"externalId": 1, "fingerprint": 1, "_id": 0})
    return {doc["externalId"]: doc["fingerprint"] async for doc in cursor}


async def insert_new(db: Database, docs: Sequence[dict[str, Any]]) -> set[str]:
    """Insert; returns the externalIds that another writer inserted first (a race)."""
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
