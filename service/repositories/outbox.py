"""The webhook outbox: one document per event × endpoint, and the notices that feed it.

Events are never lost between a change and its webhook, without transactions:
- A change that has an event either writes a *notice* (`{notice: {id, since, …}}`) in the
  same single-document write as the change itself (an accrual's figures, an alert, a rebate
  account entry), or happens in a step that a retry and the recovery pass re-run until the
  operation is done (a settlement's completion). So a process that dies right after the
  change leaves the notice, or the operation still pending, behind.
- An event's id is fixed by what it is about (`alert.raised:<alert key>`), and each outbox
  document's `_id` is that id and the endpoint's key: publishing an event twice inserts
  nothing the second time. A notice is cleared only after its event is in the outbox.
- A delivery is claimed by pushing its `nextAttemptAt` a lease ahead with a fresh `lease`
  token, and its outcome is written only under that token: several processes never send
  the same attempt at once, and a dead sender's attempt is retried when the lease ends.

The endpoint's URL is not stored (it may carry credentials): documents name the endpoint by
`endpoint_key(url)`, and only URLs configured now are ever sent to.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from service.db import Database

COLLECTION = "webhook_outbox"
NOTICE = "notice"
NOTICED = ("accruals", "alerts", "rebate_entries")  # what may carry a notice
ERROR_MAX = 300  # characters of a failure kept as `lastError`


class DeliveryState(StrEnum):
    PENDING = "PENDING"  # waiting for its next attempt (or being attempted, under a lease)
    DELIVERED = "DELIVERED"  # the endpoint answered 2xx
    DEAD = "DEAD"  # gave up after the configured number of attempts


@dataclass(frozen=True)
class Event:
    """An event as every endpoint receives it: `body` is fixed when it is published, so
    each attempt sends (and signs) the same bytes."""

    id: str
    type: str
    occurred_at: dt.datetime
    dealer_code: str
    body: bytes


@dataclass(frozen=True)
class Delivery:
    id: str
    event_id: str
    type: str
    endpoint: str
    body: bytes
    attempts: int
    lease: str


def endpoint_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _outbox(db: Database) -> AsyncCollection[dict[str, Any]]:
    return db.db[COLLECTION]


INDEXES: dict[str, list[IndexModel]] = {
    COLLECTION: [
        IndexModel([("state", ASCENDING), ("endpoint", ASCENDING),
                    ("nextAttemptAt", ASCENDING)], name="due"),
        IndexModel([("state", ASCENDING)], name="state"),
        IndexModel([("deliveredAt", ASCENDING)], sparse=True, name="delivered_at"),
        IndexModel([("eventId", ASCENDING)], name="event"),
    ],
    **{name: [IndexModel([(f"{NOTICE}.since", ASCENDING)], sparse=True, name=NOTICE)]
       for name in NOTICED},
}


async def ensure_indexes(db: Database) -> None:
    """The outbox's indexes, and the sparse ones the notices are found by (idempotent)."""
    for name, models in INDEXES.items():
        await db.db[name].create_indexes(models)


# ---- notices -------------------------------------------------------------------------------

def notice(now: dt.datetime, **facts: Any) -> dict[str, Any]:
    """The notice a change writes with itself: its id makes the event's id."""
    return {"id": uuid.uuid4().hex, "since": now, **facts}


TIER_FIGURES = ("rate", "basis", "cumulativeBasis", "grossAmount", "netAmount", "status",
                "currency", "target", "achievementPercent")


def tier_notice(stored: dict[str, Any] | None, figures: dict[str, Any],
                now: dt.datetime) -> dict[str, Any]:
    """`{notice: …}` to add to an accrual's write when its tier rose, else `{}`.

    A tier is known here by its rate (thresholds rise, and so do tiers' rates); an accrual
    not stored yet had none (rate 0). The figures written with the rise go into the notice,
    so the event says what was reached even if the accrual moves again before it is sent."""
    before: Decimal = stored.get("rate", Decimal(0)) if stored else Decimal(0)
    if figures["rate"] <= before:
        return {}
    return {NOTICE: notice(now, previousRate=before,
                           figures={name: figures.get(name) for name in TIER_FIGURES})}


async def noticed(db: Database, collection: str, *, limit: int) -> list[dict[str, Any]]:
    """Documents of `collection` whose change is not in the outbox yet, oldest first."""
    return await db.db[collection].find(
        {f"{NOTICE}.since": {"$gte": dt.datetime(1970, 1, 1, tzinfo=dt.UTC)}}).sort(
        f"{NOTICE}.since", ASCENDING).limit(limit).to_list()


async def clear_notices(db: Database, collection: str, docs: Sequence[dict[str, Any]]) -> None:
    """After their events are in the outbox; a notice replaced meanwhile stays."""
    if docs:
        await db.db[collection].bulk_write(
            [UpdateOne({"_id": doc["_id"], f"{NOTICE}.id": doc[NOTICE]["id"]},
                       {"$unset": {NOTICE: ""}}) for doc in docs], ordered=False)


async def drop_notices(db: Database, collection: str, *, older_than: dt.datetime) -> int:
    """Notices nobody publishes (webhooks are off), once they are old."""
    result = await db.db[collection].update_many(
        {f"{NOTICE}.since": {"$lt": older_than}}, {"$unset": {NOTICE: ""}})
    return result.modified_count


# ---- publishing and delivering --------------------------------------------------------------

async def publish(db: Database, events: Sequence[Event], endpoints: Sequence[str],
                  now: dt.datetime) -> int:
    """Put each event in the outbox once per endpoint; returns how many were new (an event
    published before is left as it is, whatever its state)."""
    docs = [{"_id": f"{event.id}@{endpoint}", "eventId": event.id, "type": event.type,
             "dealerCode": event.dealer_code, "occurredAt": event.occurred_at,
             "endpoint": endpoint, "body": event.body.decode(), "createdAt": now,
             "state": DeliveryState.PENDING.value, "attempts": 0, "nextAttemptAt": now,
             "lastError": None, "lastStatus": None}
            for event in events for endpoint in endpoints]
    if not docs:
        return 0
    try:
        result = await _outbox(db).insert_many(docs, ordered=False)
    except BulkWriteError as error:
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") != 11000]
        if others:
            raise
        return int(error.details.get("nInserted", 0))
    return len(result.inserted_ids)


async def claim(db: Database, endpoint: str, *, now: dt.datetime,
                lease: dt.timedelta) -> Delivery | None:
    """The endpoint's delivery due longest, leased to the caller; its attempt is counted
    now, so an attempt that kills its process still counts towards giving up."""
    token = uuid.uuid4().hex
    doc = await _outbox(db).find_one_and_update(
        {"state": DeliveryState.PENDING.value, "endpoint": endpoint,
         "nextAttemptAt": {"$lte": now}},
        {"$set": {"nextAttemptAt": now + lease, "lease": token, "attemptedAt": now},
         "$inc": {"attempts": 1}},
        sort=[("nextAttemptAt", ASCENDING)], return_document=ReturnDocument.AFTER)
    if doc is None:
        return None
    return Delivery(id=doc["_id"], event_id=doc["eventId"], type=doc["type"],
                    endpoint=endpoint, body=doc["body"].encode(), attempts=doc["attempts"],
                    lease=token)


async def delivered(db: Database, delivery: Delivery, *, status: int,
                    now: dt.datetime) -> bool:
    """False when the lease was lost meanwhile (another attempt's outcome stands)."""
    done = await _outbox(db).update_one(
        {"_id": delivery.id, "lease": delivery.lease},
        {"$set": {"state": DeliveryState.DELIVERED.value, "deliveredAt": now,
                  "lastStatus": status}, "$unset": {"lease": ""}})
    return done.modified_count == 1


async def failed(db: Database, delivery: Delivery, *, error: str, status: int | None,
                 retry_at: dt.datetime | None) -> bool:
    """Another attempt at `retry_at`, or DEAD (None); False when the lease was lost."""
    changes: dict[str, Any] = {"lastError": error[:ERROR_MAX], "lastStatus": status}
    if retry_at is None:
        changes["state"] = DeliveryState.DEAD.value
    else:
        changes["nextAttemptAt"] = retry_at
    done = await _outbox(db).update_one({"_id": delivery.id, "lease": delivery.lease},
                                        {"$set": changes, "$unset": {"lease": ""}})
    return done.modified_count == 1


async def counts(db: Database) -> dict[tuple[str, str], int]:
    """(endpoint key, state) → deliveries waiting or dead (delivered ones are not counted)."""
    cursor = await _outbox(db).aggregate([
        {"$match": {"state": {"$in": [DeliveryState.PENDING.value,
                                      DeliveryState.DEAD.value]}}},
        {"$group": {"_id": {"endpoint": "$endpoint", "state": "$state"}, "n": {"$sum": 1}}}])
    return {(row["_id"]["endpoint"], row["_id"]["state"]): int(row["n"])
            async for row in cursor}


def with_zeros(counted: dict[tuple[str, str], int],
               urls: Sequence[str]) -> dict[tuple[str, str], int]:
    """The counts, with 0 for each configured endpoint's states not counted."""
    zeros = {(endpoint_key(url), state.value): 0 for url in urls
             for state in (DeliveryState.PENDING, DeliveryState.DEAD)}
    return zeros | counted


async def purge_delivered(db: Database, *, before: dt.datetime) -> int:
    result = await _outbox(db).delete_many({"deliveredAt": {"$lt": before}})
    return result.deleted_count


async def of_event(db: Database, event_id: str) -> list[dict[str, Any]]:
    """An event's deliveries, one per endpoint (for admins and tests)."""
    return await _outbox(db).find({"eventId": event_id}).sort("_id", ASCENDING).to_list()
