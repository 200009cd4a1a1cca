"""Many single-document writes, committed in few commits.

Every statement of a plain bulk write is its own durable commit: with `j: true` the server
flushes its journal once per statement, so a round that rewrites four thousand accruals, or a
ledger fold of twelve thousand dealer-months, spends most of its time in fsync. Where the
server has multi-document transactions (a replica set; the embedded server, which presents
itself as a one-node replica set) `bulk_write` commits a chunk of statements at once: the
same writes, the same guards in their filters, one journal flush. A standalone server gets
the plain unordered bulk write.

A chunk that keeps conflicting with another writer (transient errors, retried with a growing
pause) is written at last as single statements, which cannot conflict.

A statement that a unique index refuses (a twin inserted meanwhile, a document another
writer moved past the guard) is not an error here: it is counted in `duplicates` and the
other statements still land, as in an unordered bulk write. In a transaction the refused
statement aborts the chunk, which is then committed again without it.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, OperationFailure

from service.db import Database

CHUNK = 1_000  # statements per transaction: far below every server's limits
DUPLICATE_KEY = 11000
ATTEMPTS = 5  # of one chunk, on transient errors (a write conflict with another writer)
BACKOFF = 0.01  # seconds before the second attempt; doubled before each next one

Operation = InsertOne[dict[str, Any]] | UpdateOne


@dataclass
class Written:
    inserted: int = 0
    modified: int = 0
    upserted: int = 0
    duplicates: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.modified + self.upserted


async def bulk_write(db: Database, collection: AsyncCollection[dict[str, Any]],
                     operations: Sequence[Operation], *, chunk: int = CHUNK) -> Written:
    written = Written()
    if not operations:
        return written
    together = await db.has_transactions()
    for start in range(0, len(operations), chunk):
        part = list(operations[start:start + chunk])
        if together:
            await _in_transactions(db, collection, part, written)
        else:
            await _unordered(collection, part, written)
    return written


async def _unordered(collection: AsyncCollection[dict[str, Any]],
                     operations: list[Operation], written: Written) -> None:
    try:
        result = await collection.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        details = error.details
        written.inserted += int(details.get("nInserted", 0))
        written.modified += int(details.get("nModified", 0))
        written.upserted += int(details.get("nUpserted", 0))
        written.duplicates += len(errors)
        return
    written.inserted += result.inserted_count
    written.modified += result.modified_count
    written.upserted += result.upserted_count


async def _in_transactions(db: Database, collection: AsyncCollection[dict[str, Any]],
                           operations: list[Operation], written: Written) -> None:
    """One transaction for the chunk; a refused statement is dropped and the rest committed
    again; a transient error (a conflict with another writer) retries the chunk."""
    transient = 0
    while operations:
        try:
            async with db.client.start_session() as session:
                async with await session.start_transaction():
                    result = await collection.bulk_write(operations, ordered=True,
                                                         session=session)
        except OperationFailure as error:  # BulkWriteError among them
            errors = error.details.get("writeErrors", []) if isinstance(
                error, BulkWriteError) and error.details else []
            if errors and all(e.get("code") == DUPLICATE_KEY for e in errors):
                refused = {int(e["index"]) for e in errors}
                written.duplicates += len(refused)
                operations = [op for i, op in enumerate(operations) if i not in refused]
                continue
            if not (error.code in (INTERNAL_ERROR, WRITE_CONFLICT) or any(
                    error.has_error_label(label) or _label_in(errors, label)
                    for label in RETRIED)):
                raise
            transient += 1
            if transient >= ATTEMPTS:
                # writers that keep meeting on the same documents (two processes marking
                # one import's dealers): one statement at a time cannot conflict
                await _unordered(collection, operations, written)
                return
            # the guards in the filters make a second commit change nothing twice; the
            # pause lets the other writer's transaction end first
            await asyncio.sleep(BACKOFF * 2 ** transient * (0.5 + random.random()))  # noqa: S311
            continue
        written.inserted += result.inserted_count
        written.modified += result.modified_count
        written.upserted += result.upserted_count
        return


RETRIED = ("TransientTransactionError", "UnknownTransactionCommitResult")
WRITE_CONFLICT = 112
# The embedded server (SecantusDB 0.7) answers a write conflict found at commit with a bare
# InternalError, unlabelled (its log: "conflict between concurrent operations"); WiredTiger
# has rolled the transaction back, and the guards make committing the chunk again safe.
INTERNAL_ERROR = 1


def _label_in(errors: list[dict[str, Any]], label: str) -> bool:
    """A write conflict inside a bulk write comes as a write error, labelled or not."""
    return any(label in (e.get("errorLabels") or ()) or e.get("code") == WRITE_CONFLICT
               for e in errors)


# Documents per keyed-merge statement: keeps the statement far below 16 MB (an accrual's
# figures and trace are a few KB).
MERGE_CHUNK = 500


async def merge_by_key(collection: AsyncCollection[dict[str, Any]], scope: dict[str, Any],
                       key: str, entries: dict[str, dict[str, Any]], guard: dict[str, Any],
                       *, marker: str, chunk: int = MERGE_CHUNK) -> int:
    """Set each document's fields from `entries[document[key]]`, many documents per
    statement; returns how many changed.

    One update statement per `chunk` keys instead of one per document: the embedded server
    plans, checks and logs every statement on its own (about 3 ms for an accrual), and a
    statement over a run of keys costs it about half of that a document. The statement's
    filter is `scope` plus a range of `key`, which an index on `scope`'s fields then `key`
    serves; a document of the range without an entry is left as it is. `guard` is the
    compare-and-set of a per-document update as an expression over the stored document
    (`$field`) and its entry (`$$entry`): where it is false the document is left as it is,
    exactly as a per-document filter that does not match. Every entry carries the field
    `marker` (not null): it tells a document with an entry from one without (the embedded
    server's `$type` calls a missing `$getField` result an object). Needs
    Database.has_keyed_merge; keys must be plain field names (no `.`, no leading `$`). The
    statements are sent together; if one fails, the others may still have landed, exactly
    as with per-document updates (each is guarded, so a retry completes the rest)."""
    present = {"$ne": [{"$ifNull": [f"$$entry.{marker}", None]}, None]}
    merged = {"$cond": [{"$and": [present, guard]},
                        {"$mergeObjects": ["$$ROOT", "$$entry"]}, "$$ROOT"]}

    async def statement(part: list[str]) -> int:
        lookup = {"$getField": {"field": f"${key}",
                                "input": {"$literal": {k: entries[k] for k in part}}}}
        result = await collection.update_many(
            scope | {key: {"$gte": part[0], "$lte": part[-1]}},
            [{"$replaceWith": {"$let": {"vars": {"entry": lookup}, "in": merged}}}])
        return result.modified_count

    keys = sorted(entries)
    # all sent at once (disjoint ranges, each document guarded on its own): the server works
    # through them back to back while this process computes something else
    return sum(await asyncio.gather(*(statement(keys[start:start + chunk])
                                      for start in range(0, len(keys), chunk))))


def plain_keys(keys: Sequence[str]) -> bool:
    """Keys merge_by_key can look up as field names."""
    return all("." not in k and not k.startswith("$") for k in keys)
