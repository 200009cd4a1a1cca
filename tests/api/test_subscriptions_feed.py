"""The feed behind the live updates, against the real server: announced changes reach every
listener they concern, once, whether followed by change stream (what the embedded server and
a replica set have) or by polling (a standalone server); a batch of thousands of accruals is
a few small documents; the feed reads nothing while nobody listens and stops cleanly."""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId

from service.config import Settings
from service.db import Database
from service.deps import Deps
from service.feed import AccrualFeed, Listener
from service.repositories import changes
from service.repositories.changes import COLLECTION, LISTED, AccrualChange, ChangeWatcher
from service.usecases import live

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
BOUND = 2.0


@pytest.fixture(scope="module")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database.connect(settings.mongodb_uri or "", settings.database)
    await changes.ensure_collection(database)
    yield database
    await database.client.drop_database(settings.database)
    await database.close()


@pytest.fixture(params=["change stream", "polling"])
async def feed(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[AccrualFeed]:
    followed = AccrualFeed(db, polling=request.param == "polling", poll_seconds=0.1)
    yield followed
    await followed.stop()


async def announce(db: Database, program: str, period: str,
                   dealers: list[str] | None) -> None:
    await changes.publish(db, AccrualChange(program, period,
                                            None if dealers is None else frozenset(dealers)),
                          now=NOW)


async def next_changes(listener: Listener) -> list[AccrualChange]:
    found = await asyncio.wait_for(listener.changes(), BOUND)
    assert found is not None
    return found


async def test_a_change_reaches_the_listeners_it_concerns(feed: AccrualFeed,
                                                         db: Database) -> None:
    async with feed.listen("F1", None) as f1, feed.listen(None, "FP") as program, \
            feed.listen("F2", "OTHER") as elsewhere:
        await announce(db, "FP", "2026-Q4", ["F1", "F3"])
        assert await next_changes(f1) == [AccrualChange("FP", "2026-Q4", frozenset({"F1"}))]
        assert await next_changes(program) == [
            AccrualChange("FP", "2026-Q4", frozenset({"F1", "F3"}))]
        await asyncio.sleep(0.3)
        assert not elsewhere._arrived.is_set()


async def test_a_whole_period_reaches_every_dealer_of_it(feed: AccrualFeed,
                                                        db: Database) -> None:
    async with feed.listen("F9", "FP") as listener:
        await announce(db, "FP", "2026-Q1", None)
        assert await next_changes(listener) == [
            AccrualChange("FP", "2026-Q1", frozenset({"F9"}))]


async def test_changes_arriving_while_the_subscriber_is_busy_are_merged(
        feed: AccrualFeed, db: Database) -> None:
    async with feed.listen(None, None) as listener:
        for dealers in (["A"], ["B"], ["A", "C"]):
            await announce(db, "FM", "2026-Q4", dealers)
        await announce(db, "FM", "2026-Q3", ["A"])
        await asyncio.sleep(0.8)  # all four arrived meanwhile
        found = await next_changes(listener)
        assert sorted(found, key=lambda c: c.period) == [
            AccrualChange("FM", "2026-Q3", frozenset({"A"})),
            AccrualChange("FM", "2026-Q4", frozenset({"A", "B", "C"}))]


async def test_what_was_announced_before_listening_is_not_replayed(
        feed: AccrualFeed, db: Database) -> None:
    await announce(db, "FOLD", "2026-Q4", ["OLD"])
    async with feed.listen(None, "FOLD") as listener:
        await announce(db, "FOLD", "2026-Q4", ["NEW"])
        assert await next_changes(listener) == [
            AccrualChange("FOLD", "2026-Q4", frozenset({"NEW"}))]


async def test_stopping_ends_every_listener_and_leaves_no_task(db: Database) -> None:
    feed = AccrualFeed(db)
    async with feed.listen(None, None) as listener:
        waiting = asyncio.create_task(listener.changes())
        await asyncio.sleep(0.1)
        await asyncio.wait_for(feed.stop(), 1.0)
        assert await asyncio.wait_for(waiting, 1.0) is None
    assert [t for t in asyncio.all_tasks() if t.get_name() == "accrual-feed"] == []
    async with feed.listen(None, None) as late:  # after stop: ends at once
        assert await asyncio.wait_for(late.changes(), 1.0) is None


async def test_nobody_listening_means_nothing_is_read(db: Database) -> None:
    feed = AccrualFeed(db, wait_seconds=0.2)
    assert feed._task is None  # started by the first listener only
    async with feed.listen(None, None):
        assert feed._ready.is_set()
    await asyncio.sleep(0.6)  # the follower notices and closes its stream
    assert not feed._ready.is_set() and not feed._wanted.is_set()
    await feed.stop()


async def test_a_server_without_change_streams_is_polled(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unsupported(self: ChangeWatcher) -> None:
        raise changes.ChangeStreamsUnsupported("standalone server")

    monkeypatch.setattr(ChangeWatcher, "open", unsupported)
    feed = AccrualFeed(db, poll_seconds=0.1)
    try:
        async with feed.listen("S1", None) as listener:
            assert feed.mode == "polling"
            await announce(db, "FS", "2026-Q4", ["S1"])
            assert await next_changes(listener) == [
                AccrualChange("FS", "2026-Q4", frozenset({"S1"}))]
    finally:
        await feed.stop()


async def test_the_poller_sees_an_id_that_lands_late_once(db: Database) -> None:
    """Another process's id from a second ago, inserted after newer ones were read."""
    poller = changes.ChangePoller(db)
    await poller.open()
    await announce(db, "FL", "2026-Q4", ["NEWER"])
    assert [c.dealer_codes for c in await poller.read()] == [frozenset({"NEWER"})]
    late = ObjectId.from_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=3))
    await db.db[COLLECTION].insert_one({"_id": late, "programCode": "FL", "period": "2026-Q4",
                                        "dealerCodes": ["LATE"], "at": NOW})
    assert [c.dealer_codes for c in await poller.read()] == [frozenset({"LATE"})]
    assert await poller.read() == []


async def test_a_batch_of_thousands_is_a_few_documents_in_one_insert(db: Database) -> None:
    dealers = [f"D{n:05d}" for n in range(2 * LISTED + 7)]
    before = await db.db[COLLECTION].count_documents({"programCode": "FBIG"})
    await announce(db, "FBIG", "2026-Q4", dealers)
    docs = await db.db[COLLECTION].find({"programCode": "FBIG"}).to_list()
    assert before == 0 and len(docs) == 3
    assert sorted(c for d in docs for c in d["dealerCodes"]) == dealers
    assert max(len(d["dealerCodes"]) for d in docs) == LISTED


async def test_the_collection_is_capped_and_an_uncapped_one_is_converted(
        settings: Settings) -> None:
    other = Database.connect(settings.mongodb_uri or "", f"{settings.database}_cap"[:63])
    try:
        await other.db[COLLECTION].insert_one({"made": "by a tool, before any service ran"})
        await changes.ensure_collection(other)
        options: dict[str, Any] = await other.db[COLLECTION].options()
        assert options.get("capped") is True
        await asyncio.gather(changes.ensure_collection(other), changes.ensure_collection(other))
    finally:
        await other.client.drop_database(other.db.name)
        await other.close()


async def test_a_cancelled_subscription_leaves_its_listener_behind_nowhere(
        db: Database, settings: Settings) -> None:
    feed = AccrualFeed(db)
    deps = Deps(db=db, settings=settings, accrual_feed=feed)
    updates = live.accrual_updates(deps, live.Watch("NOBODY", None, "NOBODY"))
    waiting = asyncio.create_task(anext(updates))
    await asyncio.sleep(0.3)
    assert len(feed._listeners) == 1
    await announce(db, "FC", "2026-Q4", ["NOBODY"])  # no such accrual: nothing to push
    await asyncio.sleep(0.3)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await updates.aclose()
    assert feed._listeners == set()
    await feed.stop()
