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
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.auth import Principal, Role

FIELD = "pending"


def marker(now: dt.datetime, actor: Principal, *, audit: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    """`{pending: …}` for a document written now by `actor`, with the audit event (if any)
    its follow-ups end with."""
    return {"since": now, "actor": actor.sub, "role": actor.role.value,
            "dealer": actor.dealer, "audit": audit, **extra}


def actor_of(mark: dict[str, Any]) -> Principal:
    """Who started the operation (its follow-ups are done in that caller's name)."""
    return Principal(sub=str(mark["actor"]), role=Role(mark["role"]), dealer=mark.get("dealer"))


async def stale(collection: AsyncCollection[dict[str, Any]], *, older_than: dt.datetime,
                limit: int = 100) -> list[dict[str, Any]]:
    """Documents still pending since before `older_than` (their writer stopped, or is slow)."""
    return await collection.find({f"{FIELD}.since": {"$lt": older_than}}).sort(
        f"{FIELD}.since", 1).limit(limit).to_list()


async def clear(collection: AsyncCollection[dict[str, Any]], key: dict[str, Any]) -> None:
    """The follow-ups are done: drop the marker (the last write of the operation)."""
    await collection.update_many(key, {"$unset": {FIELD: ""}})
