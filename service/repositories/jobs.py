"""Recomputation jobs: one per dealer (or ALL_DEALERS) × program, leased by workers.

A mark is an upsert that adds period names and bumps `version`; a worker leases jobs, and
finishing is a compare-and-set on the version it read, so a job marked again while it was
being computed stays dirty for another round.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument, UpdateOne

from service.db import Database

ALL_DEALERS = "*"


def _free(now: dt.datetime) -> dict[str, Any]:
    return {"$or": [{"leaseUntil": None}, {"leaseUntil": {"$lt": now}}]}


async def upsert_marks(db: Database, marks: Mapping[tuple[str, str], set[str]],
                       now: dt.datetime) -> None:
    """marks: (dealer code or ALL_DEALERS, program code) → period names to recompute."""
    operations = [
        UpdateOne({"dealerCode": dealer, "programCode": program},
                  {"$addToSet": {"periods": {"$each": sorted(periods)}},
                   "$inc": {"version": 1}, "$set": {"dirty": True, "markedAt": now},
                   "$setOnInsert": {"leaseUntil": None}}, upsert=True)
        for (dealer, program), periods in marks.items() if periods]
    if operations:
        await db.accrual_jobs.bulk_write(operations, ordered=False)


async def claim_oldest(db: Database, owner: str, now: dt.datetime,
                       lease: dt.timedelta) -> dict[str, Any] | None:
    """Take the oldest dirty job nobody holds (or whose holder's lease ran out)."""
    return await db.accrual_jobs.find_one_and_update(
        {"dirty": True, **_free(now)},
        {"$set": {"leaseUntil": now + lease, "owner": owner}},
        sort=[("markedAt", 1)], return_document=ReturnDocument.AFTER)


async def claim_dealers_of(db: Database, program_code: str, owner: str, now: dt.datetime,
                           lease: dt.timedelta) -> list[dict[str, Any]]:
    """Every free dirty dealer job of a program, in one lease."""
    token = uuid.uuid4().hex
    await db.accrual_jobs.update_many(
        {"programCode": program_code, "dirty": True, "dealerCode": {"$ne": ALL_DEALERS},
         **_free(now)},
        {"$set": {"leaseUntil": now + lease, "owner": owner, "claim": token}})
    return await db.accrual_jobs.find({"claim": token}).to_list()


RUNS_KEPT = 10


async def finish(db: Database, batch: Sequence[dict[str, Any]], *,
                 now: dt.datetime | None = None) -> int:
    """Done, unless marked again meanwhile (then a job stays dirty for another round);
    returns how many were done. One round trip for the batch.

    A finished round is recorded on the job (`runs`: owner and version, the last few): a
    version is finished once, by the worker that held the lease, whichever process it is."""
    if not batch:
        return 0
    operations = [UpdateOne(
        {"_id": job["_id"], "version": job["version"], "dirty": True},
        {"$set": {"dirty": False, "periods": [], "leaseUntil": None},
         "$push": {"runs": {"$each": [{"owner": job.get("owner"), "version": job["version"],
                                       "at": now}],
                            "$slice": -RUNS_KEPT}}}) for job in batch]
    done = (await db.accrual_jobs.bulk_write(operations, ordered=False)).modified_count
    if done < len(batch):  # marked again while computed: free it for the next round
        ids = [job["_id"] for job in batch]
        for start in range(0, len(ids), 50):
            await db.accrual_jobs.update_many(
                {"_id": {"$in": ids[start:start + 50]}, "dirty": True},
                {"$set": {"leaseUntil": None}})
    return int(done)


async def release(db: Database, batch: Sequence[dict[str, Any]]) -> None:
    """The leases of these jobs given back; they stay dirty (only the holder's lease goes)."""
    ids = [job["_id"] for job in batch]
    for start in range(0, len(ids), 50):
        await db.accrual_jobs.update_many(
            {"_id": {"$in": ids[start:start + 50]}, "owner": batch[0].get("owner")},
            {"$set": {"leaseUntil": None}})


async def dirty_of_program(db: Database, program_code: str) -> list[dict[str, Any]]:
    return await db.accrual_jobs.find({"programCode": program_code, "dirty": True}).to_list()


async def count_dirty(db: Database) -> int:
    return await db.accrual_jobs.count_documents({"dirty": True})


async def backlog(db: Database) -> tuple[int, dt.datetime | None]:
    """How many jobs wait for a worker, and when the longest-waiting one was last marked."""
    waiting = await db.accrual_jobs.count_documents({"dirty": True})
    oldest = await db.accrual_jobs.find_one({"dirty": True}, {"markedAt": 1},
                                            sort=[("markedAt", 1)]) if waiting else None
    return waiting, None if oldest is None else oldest.get("markedAt")
