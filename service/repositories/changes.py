"""Accrual changes, published through MongoDB so that every service process hears of them.

A saved batch of accruals is announced by one small document in a capped collection: the
program, the period and the dealers whose accruals it touched (null: all of the period). Never
one write per accrual — a bulk import rewrites thousands of them per round — and never the
figures: whoever is told re-reads the accruals it may see.

Two ways to follow the collection, the same documents either way:
- `ChangeWatcher`: a change stream on the collection, where the server has one (a replica
  set; the embedded server presents itself as a one-node replica set and has them too).
- `ChangePoller`: reads by `_id` what arrived in the last `LOOKBACK` seconds and was not seen
  yet, for a standalone server. `_id`s are made by the publishing clients, so they do not
  arrive in order across processes: the look back (and the ids already seen) covers that.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import CollectionInvalid, OperationFailure

from service.db import Database

log = logging.getLogger(__name__)

COLLECTION = "accrual_changes"
CAPPED_BYTES = 4 * 1024 * 1024  # a few minutes of changes, whatever the load
CAPPED_DOCUMENTS = 2_000  # the poller reads the recent ones: keep the collection small
LISTED = 500  # dealer codes per document (a batch of thousands: a few documents, one insert)
LOOKBACK = dt.timedelta(seconds=10)  # the poller's allowance for ids that arrive late
NAMESPACE_EXISTS = 48
# not a replica set; command not supported; no $changeStream stage (an old or other server)
NO_CHANGE_STREAMS = {40573, 115, 40324}


@dataclass(frozen=True)
class AccrualChange:
    """Accruals of one program period were written: of these dealers (None: any dealer)."""

    program_code: str
    period: str
    dealer_codes: frozenset[str] | None = None


class ChangeStreamsUnsupported(Exception):
    """The server has no change streams (a standalone server): poll instead."""


class ChangeStreamEnded(Exception):
    """The server ended the change stream (its collection was dropped): open it again."""


async def ensure_collection(db: Database) -> None:
    """The capped collection, created once. One that a write created uncapped (a tool that
    published before any service ran) is made again, capped: what it holds is a few seconds'
    news, never data (and not every server has `convertToCapped`)."""
    if await _create(db):
        return
    options = await db.db[COLLECTION].options()
    if not options.get("capped"):
        await db.db.drop_collection(COLLECTION)
        await _create(db)


async def _create(db: Database) -> bool:
    """False when it exists (another process may have created it a moment ago)."""
    try:
        await db.db.create_collection(COLLECTION, capped=True, size=CAPPED_BYTES,
                                      max=CAPPED_DOCUMENTS)
    except CollectionInvalid:
        return False
    except OperationFailure as error:
        if error.code != NAMESPACE_EXISTS:
            raise
        return False
    return True


def _documents(change: AccrualChange, now: dt.datetime) -> list[dict[str, Any]]:
    base = {"programCode": change.program_code, "period": change.period, "at": now}
    if change.dealer_codes is None:
        return [{**base, "dealerCodes": None}]
    codes = sorted(change.dealer_codes)
    return [{**base, "dealerCodes": codes[start:start + LISTED]}
            for start in range(0, len(codes), LISTED)]


async def publish(db: Database, change: AccrualChange, *, now: dt.datetime) -> None:
    documents = _documents(change, now)
    if documents:
        await db.db[COLLECTION].insert_many(documents, ordered=False)


def change_of(doc: Mapping[str, Any]) -> AccrualChange:
    codes = doc.get("dealerCodes")
    return AccrualChange(doc["programCode"], doc["period"],
                         None if codes is None else frozenset(codes))


class ChangeWatcher:
    """The collection's change stream; after a failure it resumes where it stopped."""

    def __init__(self, db: Database, *, wait_seconds: float = 1.0) -> None:
        self.db = db
        self.wait_ms = int(wait_seconds * 1000)
        self._stream: AsyncChangeStream[Any] | None = None
        self._resume: Mapping[str, Any] | None = None

    async def open(self) -> None:
        try:
            self._stream = await self.db.db[COLLECTION].watch(
                [{"$match": {"operationType": "insert"}}], max_await_time_ms=self.wait_ms,
                resume_after=self._resume)
        except OperationFailure as error:
            if error.code in NO_CHANGE_STREAMS or "replica set" in str(error):
                raise ChangeStreamsUnsupported(str(error)) from None
            if self._resume is None:
                raise
            log.warning("accrual changes: cannot resume the change stream (%s); following "
                        "from now on", error)
            self._resume = None  # its history is gone: from now on
            await self.open()

    async def read(self) -> list[AccrualChange]:
        """The next change, waiting up to `wait_seconds` for it (one at a time: asking for
        a second would wait again when the first came alone)."""
        assert self._stream is not None, "open() first"
        event = await self._stream.try_next()
        self._resume = self._stream.resume_token
        if event is None and not self._stream.alive:  # invalidated: the collection was dropped
            raise ChangeStreamEnded("the change stream ended; following it again")
        if event is None or "fullDocument" not in event:
            return []
        return [change_of(event["fullDocument"])]

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.close()


class ChangePoller:
    """Polls the collection by `_id`: each document once, however late it lands within
    `LOOKBACK` (measured on the ids, which carry their publisher's clock)."""

    def __init__(self, db: Database,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.db = db
        self.clock = clock
        self._seen: set[ObjectId] = set()
        self._started = False

    def _floor(self) -> ObjectId:
        return ObjectId.from_datetime(self.clock() - LOOKBACK)

    async def open(self) -> None:
        """From now on: what is there already counts as seen (kept after a failure)."""
        if not self._started:
            await self._fetch(record_only=True)
            self._started = True

    async def read(self) -> list[AccrualChange]:
        return await self._fetch(record_only=False)

    async def _fetch(self, *, record_only: bool) -> list[AccrualChange]:
        floor = self._floor()
        self._seen = {oid for oid in self._seen if oid >= floor}
        query: dict[str, Any] = {"_id": {"$gte": floor}}
        if self._seen:
            query["_id"]["$nin"] = list(self._seen)
        found: list[AccrualChange] = []
        async for doc in self.db.db[COLLECTION].find(query).sort("_id", 1):
            self._seen.add(doc["_id"])
            if not record_only:
                found.append(change_of(doc))
        return found

    async def close(self) -> None:
        pass


def merged(changes: Iterable[AccrualChange]) -> list[AccrualChange]:
    """One change per program period, its dealers united (None wins)."""
    by_key: dict[tuple[str, str], frozenset[str] | None] = {}
    for change in changes:
        key = (change.program_code, change.period)
        if key in by_key:
            before = by_key[key]
            by_key[key] = None if before is None or change.dealer_codes is None \
                else before | change.dealer_codes
        else:
            by_key[key] = change.dealer_codes
    return [AccrualChange(program, period, codes) for (program, period), codes in by_key.items()]
