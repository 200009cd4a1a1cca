"""Many single-document writes in few commits (service/repositories/writes.py), against the
real server: in transactions where it has them, as a plain unordered bulk write where it
has not — the same documents either way, a refused statement counted and the rest kept."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import InsertOne, UpdateOne
from pymongo.errors import OperationFailure

from service.deps import Deps
from service.repositories import writes


@pytest.fixture(params=["transactions", "standalone"])
async def deps_of(request: pytest.FixtureRequest, deps: Deps) -> AsyncIterator[Deps]:
    """The suite's server in both modes: as it is (it has transactions), and taken for a
    standalone server."""
    await deps.db.db["writes"].drop()
    await deps.db.db["writes"].create_index("key", unique=True)
    if request.param == "standalone":
        deps.db._transactions = False
    yield deps
    deps.db._transactions = None


async def test_the_suites_server_runs_transactions(deps: Deps) -> None:
    assert await deps.db.has_transactions()


async def test_every_statement_lands_but_the_refused_ones_in_any_chunking(
        deps_of: Deps) -> None:
    collection = deps_of.db.db["writes"]
    await collection.insert_many([{"key": "a", "n": 0}, {"key": "b", "n": 0}])
    operations: list[Any] = [
        InsertOne({"key": "c", "n": 1}),
        InsertOne({"key": "a", "n": 9}),  # refused: "a" exists
        UpdateOne({"key": "b", "n": 0}, {"$set": {"n": 2}}),
        UpdateOne({"key": "b", "n": 5}, {"$set": {"n": 9}}),  # its guard does not hold
        InsertOne({"key": "d", "n": 3}),
        UpdateOne({"key": "e", "n": {"$lt": 1}}, {"$set": {"n": 4}}, upsert=True),
        UpdateOne({"key": "a", "n": {"$gt": 0}}, {"$set": {"n": 9}}, upsert=True),  # refused
    ]
    written = await writes.bulk_write(deps_of.db, collection, operations, chunk=3)
    assert (written.inserted, written.modified, written.upserted, written.duplicates) == \
        (2, 1, 1, 2)
    stored = {d["key"]: d["n"] async for d in collection.find({}, {"_id": 0})}
    assert stored == {"a": 0, "b": 2, "c": 1, "d": 3, "e": 4}


async def test_writing_the_same_statements_again_changes_nothing(deps_of: Deps) -> None:
    collection = deps_of.db.db["writes"]
    operations: list[Any] = [
        UpdateOne({"key": f"k{i}", "n": {"$lt": 1}}, {"$set": {"n": 1}}, upsert=True)
        for i in range(25)]
    first = await writes.bulk_write(deps_of.db, collection, operations, chunk=10)
    again = await writes.bulk_write(deps_of.db, collection, operations, chunk=10)
    assert (first.upserted, first.duplicates) == (25, 0)
    assert (again.changed, again.duplicates) == (0, 25)
    assert await collection.count_documents({"n": 1}) == 25


async def test_a_chunk_whose_commit_fails_with_an_internal_error_is_committed_again(
        deps: Deps) -> None:
    """SecantusDB reports a write conflict at commit as a bare InternalError (code 1): the
    chunk is rolled back, and written again."""
    collection = deps.db.db["writes"]
    await collection.drop()
    failures = [OperationFailure("internal server error", code=1)]

    class FailsOnce:
        async def bulk_write(self, operations: Any, **options: Any) -> Any:
            if failures:
                raise failures.pop()
            return await collection.bulk_write(operations, **options)

    written = await writes.bulk_write(deps.db, FailsOnce(),  # type: ignore[arg-type]
                                      [InsertOne({"key": "x"}), InsertOne({"key": "y"})])
    assert (written.inserted, failures) == (2, [])
    assert await collection.count_documents({}) == 2


async def test_a_chunk_that_keeps_conflicting_is_written_statement_by_statement(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes marking one import's dealers meet on the same documents transaction
    after transaction: after a few attempts, with growing pauses, the chunk is written as
    single statements (which do not conflict), each guard still in its filter."""
    collection = deps.db.db["writes"]
    await collection.drop()
    await collection.insert_one({"key": "b", "n": 0})
    monkeypatch.setattr(writes, "BACKOFF", 0.001)
    attempts = []

    class AlwaysConflicting:
        async def bulk_write(self, operations: Any, **options: Any) -> Any:
            if options.get("session") is not None:
                attempts.append(1)
                raise OperationFailure("WriteConflict error", code=112, details={
                    "errorLabels": ["TransientTransactionError"]})
            return await collection.bulk_write(operations, **options)

    written = await writes.bulk_write(deps.db, AlwaysConflicting(),  # type: ignore[arg-type]
                                      [InsertOne({"key": "a", "n": 1}),
                                       UpdateOne({"key": "b", "n": 0}, {"$set": {"n": 2}}),
                                       UpdateOne({"key": "b", "n": 7}, {"$set": {"n": 9}})])
    assert len(attempts) == writes.ATTEMPTS
    assert (written.inserted, written.modified) == (1, 1)
    assert {d["key"]: d["n"] async for d in collection.find({}, {"_id": 0})} == {
        "a": 1, "b": 2}


async def test_a_keyed_merge_sets_each_document_from_its_entry_where_the_guard_holds(
        deps: Deps) -> None:
    """writes.merge_by_key with the accruals' guard (repositories/accrual_writes.MERGE_GUARD): an
    entry lands only on a recomputable accrual computed from the same or older sales; a
    document of the key range without an entry, and one of another scope, are left be."""
    from service.repositories.accrual_writes import MERGE_GUARD

    collection = deps.db.db["writes"]
    await collection.drop()
    base = {"programCode": "P", "period": "2026-Q1"}
    await collection.insert_many([
        base | {"dealerCode": "A", "status": "OPEN", "inputsVersion": 3, "n": 0,
                "notes": [{"x": 1}]},
        base | {"dealerCode": "B", "status": "APPROVED", "inputsVersion": 3, "n": 0},
        base | {"dealerCode": "C", "status": "OPEN", "inputsVersion": 9, "n": 0},
        base | {"dealerCode": "D", "status": "OPEN", "inputsVersion": 3, "n": 0},  # no entry
        base | {"dealerCode": "E", "status": "ON_HOLD", "n": 0},  # never stamped
        # the same figures from newer sales: only the stamp moves, onto those figures only
        base | {"dealerCode": "F", "status": "OPEN", "inputsVersion": 3, "n": 0,
                "figuresDigest": "same"},
        base | {"dealerCode": "G", "status": "OPEN", "inputsVersion": 3, "n": 0,
                "figuresDigest": "written meanwhile"},
        {"programCode": "P", "period": "2026-Q2", "dealerCode": "A", "status": "OPEN",
         "inputsVersion": 3, "n": 0},
    ])
    entries: dict[str, dict[str, Any]] = {
        code: {"n": 1, "inputsVersion": 5, "notes": [], "calculation": "{}"}
        for code in "ABCE"}
    entries |= {code: {"inputsVersion": 5, "figuresDigest": "same"} for code in "FG"}
    changed = await writes.merge_by_key(collection, base, "dealerCode", entries,
                                        MERGE_GUARD, marker="inputsVersion", chunk=2)
    assert changed == 3
    stored = {(d["period"], d["dealerCode"]): d async for d in collection.find({}, {"_id": 0})}
    assert {key: d["n"] for key, d in stored.items()} == {
        ("2026-Q1", "A"): 1, ("2026-Q1", "B"): 0, ("2026-Q1", "C"): 0, ("2026-Q1", "D"): 0,
        ("2026-Q1", "E"): 1, ("2026-Q1", "F"): 0, ("2026-Q1", "G"): 0, ("2026-Q2", "A"): 0}
    assert (stored[("2026-Q1", "F")]["inputsVersion"], stored[("2026-Q1", "G")][
        "inputsVersion"]) == (5, 3)
    assert stored[("2026-Q1", "A")]["notes"] == [] and stored[("2026-Q1", "A")][
        "inputsVersion"] == 5
    assert await writes.merge_by_key(collection, base, "dealerCode", entries, MERGE_GUARD,
                                     marker="inputsVersion") == 0  # the same: no change
    # a guard that always holds still leaves a document without an entry be
    assert await writes.merge_by_key(collection, base, "dealerCode", {"A": {"n": 2, "v": 1}},
                                     {"$eq": ["$status", "$status"]}, marker="v") == 1
    assert [d["n"] async for d in collection.find(base, {"n": 1}).sort("dealerCode", 1)] == [
        2, 0, 0, 0, 1, 0, 0]


async def test_the_suites_server_merges_by_key(deps: Deps) -> None:
    assert await deps.db.has_keyed_merge()
    assert writes.plain_keys(["B-1", "b_2"]) and not writes.plain_keys(["a.b"])
