"""Unfinished operations: the marker a document carries until its follow-up writes are done.

An operation that needs several writes stores its main document first with a `pending`
marker — when, and the audit event still to write — then does its follow-ups (each one
idempotent), and removes the marker last. Whatever stops it half-way, the marker stays, and
the worker's recovery pass (service/usecases/recovery.py) finds it and completes the
follow-ups; a retry of the same call completes them too. The marker is the write-ahead
intent, stored atomically with the document it is about.
"""
from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, overload

from pymongo.asynchronous.collection import AsyncCollection

from service.auth import Principal, Role
from service.db import Database
from service.repositories import audit

FIELD = "pending"


class Holder(Enum):
    """What may carry a marker, by the collection it is stored in: what the recovery pass
    scans, and where a one-write change's follow-up clears its marker."""

    TRANSACTION_BATCH = "transaction_batches"
    TARGET_BATCH = "target_batches"
    PROGRAM = "programs"
    SEGMENT = "segments"
    DEALER = "dealers"
    SETTLEMENT = "settlements"
    PERIOD_LOCK = "period_locks"
    DISPUTE = "disputes"
    SCORECARD = "scorecards"
    VIOLATION = "violations"
    REBATE_ENTRY = "rebate_entries"
    ALERT = "alerts"
    SCORECARD_TEMPLATE = "scorecard_templates"


def _collection(db: Database, holder: Holder) -> AsyncCollection[dict[str, Any]]:
    return db.db[holder.value]


def marker(now: dt.datetime, actor: Principal, *, audit: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    """`{pending: …}` for a document written now by `actor`, with the audit event (if any)
    its follow-ups end with."""
    return {"since": now, "actor": actor.sub, "role": actor.role.value,
            "dealer": actor.dealer, "audit": audit, **extra}


def actor_of(mark: dict[str, Any]) -> Principal:
    """Who started the operation (its follow-ups are done in that caller's name)."""
    return Principal(sub=str(mark["actor"]), role=Role(mark["role"]), dealer=mark.get("dealer"))


@overload
def without_marker(doc: dict[str, Any]) -> dict[str, Any]: ...
@overload
def without_marker(doc: None) -> None: ...
def without_marker(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The document as its readers (and audit events) should see it."""
    return None if doc is None else {k: v for k, v in doc.items() if k != FIELD}


async def complete_audited(db: Database, holder: Holder, doc: dict[str, Any]) -> None:
    """The follow-up of a one-write change: the audit event its marker holds, then the
    marker cleared (idempotent: the event has a fixed id)."""
    mark = doc.get(FIELD)
    if mark is None:
        return
    if mark.get("audit"):
        await audit.write(db, mark["audit"])
    await _collection(db, holder).update_one(
        {"_id": doc["_id"], f"{FIELD}.since": mark["since"]}, {"$unset": {FIELD: ""}})


async def stale(db: Database, holder: Holder, *, older_than: dt.datetime,
                limit: int = 100) -> list[dict[str, Any]]:
    """Documents still pending since before `older_than` (their writer stopped, or is slow)."""
    return await _collection(db, holder).find({f"{FIELD}.since": {"$lt": older_than}}).sort(
        f"{FIELD}.since", 1).limit(limit).to_list()


async def clear(collection: AsyncCollection[dict[str, Any]], key: dict[str, Any]) -> None:
    """The follow-ups are done: drop the marker (the last write of the operation). For the
    repositories: each names this step for what it finishes (`ledger.clear_lock_pending`)."""
    await collection.update_many(key, {"$unset": {FIELD: ""}})
