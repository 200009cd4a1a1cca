"""The monthly sales ledger against the real server (service/repositories/sales_ledger.py).

Whatever the order of inserts, re-sends, conflicting rows, concurrent writers of one batch,
recoveries with rows of a dead writer landing late, folds at any point (and folds that stop
half-way), cleanups and backfills of rows from before the ledger existed: after every step
a read of the ledger equals the cells of the rows in `transactions`, and a program's
monthly basis read through it equals the basis aggregated from the rows themselves.

The operation sequences are generated (hypothesis) and run on a database of their own,
emptied before each example; the last tests pin down, one by one, races and stops the
sequences cannot reach (or reach only to find the bug they show), and check that the test
fixtures of the service and API suites really read the ledger.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any
from unittest import mock

import httpx
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from pymongo.errors import BulkWriteError

from domain.basis import TransactionKind
from domain.periods import DateRange, PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.sales_ledger import Cells, add_cells, cells_of
from domain.tiers import RateKind, RebateBasis, Tier, TierMode
from domain.transactions import Transaction
from service import failpoints
from service.auth import Principal, Role
from service.config import Settings
from service.db import Database
from service.deps import Deps
from service.repositories import pending, sales_ledger, sales_reads
from service.repositories import transactions as txn_repo
from service.repositories.basis import aggregate_monthly, monthly_basis
from service.usecases import recovery
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.sales_ledger import LedgerKeeper
from service.usecases.transactions import (
    TransactionRow,
    finish_batch,
    follow_up,
    recheck_batch,
    record_transactions,
)
from service.worker import AccrualWorker
from tests.api import engine_helpers
from tests.conftest import Api, serving, ticking_clock

ADMIN = Principal(sub="ledger-test", role=Role.ADMIN)
D = Decimal
DEALERS = ("L1", "L2", "L.3")
UNKNOWN = "LX"  # no such dealer: its rows are refused (NOT_FOUND)
NOBODY = "L4"  # a dealer that never sells: reads asking for it find nothing
PRODUCTS = (None, "P1", "NX.100", "7", "a.b.c")  # '.' in codes, a numeric one
CURRENCIES = ("CNY", "USD")
MONTHS = ("2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05")


def _days() -> list[dt.date]:
    """Sale dates: first, second, mid and last days of January to April 2026."""
    days = []
    for month in range(1, 5):
        first = dt.date(2026, month, 1)
        last = dt.date(2026, month + 1, 1) - dt.timedelta(days=1)
        days += [first, first + dt.timedelta(days=1), first.replace(day=15), last]
    return days


DAYS = _days()
# window ends for monthly_basis: month edges and mid-months, from December to May
EDGES = sorted({d for m in range(0, 6) for d in (
    dt.date(2025 + (11 + m) // 12, (11 + m) % 12 + 1, 1),
    dt.date(2025 + (11 + m) // 12, (11 + m) % 12 + 1, 15),
    dt.date(2025 + (12 + m) // 12, (12 + m) % 12 + 1, 1) - dt.timedelta(days=1))})
LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # "every grace period has passed"
BACKFILL_CHUNK = 3  # cells per backfill delta here: a backfill of a few rows has chunks
EXAMPLES = int(os.environ.get("LEDGER_TEST_EXAMPLES", "25"))

# The collections an example writes; emptied before each (dealers stay).
WRITTEN = ("transactions", "transaction_batches", "sales_ledger", "sales_deltas",
           "ledger_state", "accrual_jobs", "audit_events", "alerts")


# ------------------------------------------------------------------ helpers

def as_txn(row: TransactionRow) -> Transaction:
    return Transaction(row.external_id, row.dealer_code, row.kind, row.date, row.amount,
                       row.currency, row.product_code, row.quantity, row.region)


def docs_of(rows: Sequence[TransactionRow], batch: str | None,
            now: dt.datetime) -> list[dict[str, Any]]:
    docs = []
    for row in rows:
        doc = txn_repo.to_doc(as_txn(row), batch_id=batch or "", actor=ADMIN.sub, now=now)
        doc["batchId"] = batch  # None: a row from before batches
        if batch is None or batch in OLD_BATCHES:  # stored before the ledger existed
            del doc[txn_repo.IN_LEDGER]
        docs.append(doc)
    return docs


def program(basis: RebateBasis, currency: str, products: Sequence[str]) -> ProgramRules:
    return ProgramRules(
        code="LEDGER", name="LEDGER", basis=basis, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.MONTH,
        accumulation=Accumulation.PER_PERIOD, valid_from=dt.date(2025, 1, 1),
        valid_to=dt.date(2026, 12, 31), currency=currency,
        terms=(Terms(None, (Tier(D(0), D(1)),)),), payout_form=PayoutForm.CASH,
        product_codes=tuple(products))


OLD_BATCHES: set[str] = set()


def old_batch_id() -> str:
    """A batch an older version wrote, before the ledger existed: its rows lack the
    `ledger` flag (`docs_of`), so the backfill counts them and no delta does."""
    batch = str(ObjectId())
    OLD_BATCHES.add(batch)
    return batch


async def stored_rows(db: Database) -> list[Transaction]:
    return [txn_repo.from_doc(doc) async for doc in db.transactions.find()]


async def fingerprints(db: Database) -> dict[str, str]:
    return {doc["externalId"]: doc["fingerprint"]
            async for doc in db.transactions.find({}, {"externalId": 1, "fingerprint": 1})}


def expected_cells(txns: Sequence[Transaction], months: Sequence[str],
                   dealers: Sequence[str] | None, *, with_products: bool) -> Cells:
    """What `read` must answer: the cells of the rows themselves."""
    cells = cells_of(t for t in txns if t.date.isoformat()[:7] in set(months)
                     and (dealers is None or t.dealer_code in set(dealers)))
    if with_products:
        return cells
    return add_cells({}, ((dataclasses.replace(k, product=None), s) for k, s in cells.items()))


def outcome(result: Any) -> tuple[int, int, list[tuple[int, str]]]:
    return result.accepted, result.duplicates, [(e.index, e.code) for e in result.errors]


def predicted(rows: Sequence[TransactionRow],
              stored: dict[str, str]) -> tuple[int, int, list[tuple[int, str]]]:
    """recordTransactions' answer, worked out from what is stored: a row repeated in its
    batch is compared with the batch's first one, that one with the stored row."""
    accepted = duplicates = 0
    errors: list[tuple[int, str]] = []
    first: dict[str, str] = {}
    for index, row in enumerate(rows):
        if row.dealer_code not in DEALERS:
            errors.append((index, "NOT_FOUND"))
            continue
        fingerprint = as_txn(row).fingerprint
        known = first.get(row.external_id, stored.get(row.external_id))
        if row.external_id not in first:
            first[row.external_id] = fingerprint
        if known is None:
            accepted += 1
        elif known == fingerprint:
            duplicates += 1
        else:
            errors.append((index, "CONFLICT"))
    return accepted, duplicates, errors


class Killed(Exception):
    """The process "died" here (raised where a kill would stop it)."""


def dying_at(point: str) -> Callable[[str], None]:
    def hit(name: str) -> None:
        if name == point:
            raise Killed(name)
    return hit


class _Dies:
    """A collection whose `method` applies only `apply` of its work, then "dies"."""

    def __init__(self, collection: Any, method: str, owner: Dying) -> None:
        self._collection, self._method, self._owner = collection, method, owner

    def __getattr__(self, name: str) -> Any:
        if name != self._method:
            return getattr(self._collection, name)
        return getattr(self, f"_{name}")

    async def _bulk_write(self, operations: list[Any], **options: Any) -> None:
        if self._owner.apply:
            with contextlib.suppress(BulkWriteError):  # documents that took the fold
                await self._collection.bulk_write(operations[:self._owner.apply], **options)
        raise Killed("sales_ledger.bulk_write")

    async def _update_many(self, query: dict[str, Any], update: dict[str, Any]) -> None:
        ids = query["_id"]["$in"][:self._owner.apply]
        await self._collection.update_many({**query, "_id": {"$in": ids}}, update)
        raise Killed("sales_deltas.update_many")

    async def _insert_one(self, doc: dict[str, Any]) -> Any:
        if self._owner.apply <= 0:
            raise Killed("sales_deltas.insert_one")
        self._owner.apply -= 1
        return await self._collection.insert_one(doc)


class Dying(Database):
    """The same database, but one method of one collection stops part-way."""

    def __init__(self, base: Database, collection: str, method: str, apply: int) -> None:
        super().__init__(base.client, base.db.name)
        self.collection, self.method, self.apply = collection, method, apply

    @property
    def sales_ledger(self) -> Any:
        real = super().sales_ledger
        return _Dies(real, self.method, self) if self.collection == "sales_ledger" else real

    @property
    def sales_deltas(self) -> Any:
        real = super().sales_deltas
        return _Dies(real, self.method, self) if self.collection == "sales_deltas" else real


# ------------------------------------------------------------------ strategies

amounts = st.builds(lambda n, places: D(n).scaleb(-places), st.integers(1, 10**7),
                    st.integers(0, 3))
quantities = st.none() | st.builds(lambda n, places: D(n).scaleb(-places),
                                   st.integers(0, 5000), st.integers(0, 2))


@st.composite
def rows(draw: st.DrawFn, ids: st.SearchStrategy[str],
         dealers: Sequence[str] = (*DEALERS, *DEALERS, *DEALERS, UNKNOWN)) -> TransactionRow:
    return TransactionRow(
        external_id=draw(ids), dealer_code=draw(st.sampled_from(dealers)),
        kind=draw(st.sampled_from(list(TransactionKind))), date=draw(st.sampled_from(DAYS)),
        amount=draw(amounts), currency=draw(st.sampled_from(CURRENCIES)),
        product_code=draw(st.sampled_from(PRODUCTS)), quantity=draw(quantities))


# a small pool of ids: re-used ids make duplicates (same content) and conflicts (other)
pooled_ids = st.integers(0, 24).map(lambda n: f"e{n}" if n % 3 else f"e.{n}:x")


def fresh_rows(prefix: str, size: int = 6) -> st.SearchStrategy[list[TransactionRow]]:
    """Rows never seen before, of known dealers (a recovered batch's, say)."""
    ids = st.integers(0, 999).map(lambda n: f"{prefix}-{n}")
    return st.lists(rows(ids, DEALERS), min_size=1, max_size=size,
                    unique_by=lambda r: r.external_id)


month_choices = st.one_of(
    st.tuples(st.integers(0, len(MONTHS) - 1), st.integers(0, len(MONTHS) - 1)).map(
        lambda ab: list(MONTHS[min(ab):max(ab) + 1])),
    st.lists(st.sampled_from(MONTHS), max_size=4, unique=True))  # gaps, or none at all
dealer_choices = st.one_of(
    st.none(),
    st.sampled_from([*DEALERS, NOBODY]).map(lambda d: [d]),
    st.lists(st.sampled_from([*DEALERS, NOBODY]), max_size=4, unique=True),
    # more than LONG_LIST codes: the dealers are filtered in Python, not by `$in`
    st.lists(st.sampled_from(DEALERS), max_size=2, unique=True).map(
        lambda some: [*some, *(f"Z{n}" for n in range(40))]))
windows = st.tuples(st.sampled_from(EDGES), st.sampled_from(EDGES)).map(
    lambda ab: DateRange(min(ab), max(ab)))
programs = st.builds(program, st.sampled_from(list(RebateBasis)), st.sampled_from(CURRENCIES),
                     st.lists(st.sampled_from([p for p in PRODUCTS if p]), max_size=2,
                              unique=True))


# ------------------------------------------------------------------ the world of one example

@dataclasses.dataclass
class World:
    deps: Deps
    data: st.DataObject
    now: dt.datetime  # the folder's clock: folds and cleanups move it on
    sent: list[list[TransactionRow]] = dataclasses.field(default_factory=list)
    made: int = 0  # batches made by hand (recoveries), for fresh ids

    @property
    def db(self) -> Database:
        return self.deps.db

    def draw(self, strategy: st.SearchStrategy[Any], label: str) -> Any:
        return self.data.draw(strategy, label=label)

    def tick(self, by: dt.timedelta = dt.timedelta(minutes=3)) -> dt.datetime:
        """Move the folder's clock past any lease a dead folder left (FOLD_LEASE)."""
        self.now += by
        return self.now

    async def check(self) -> None:
        """The ledger reads exactly the rows stored, and a program's basis through it is
        the basis aggregated from them."""
        state = await sales_ledger.state(self.db)
        txns = await stored_rows(self.db)
        everything = await sales_reads.read(self.db, MONTHS, None, with_products=True)
        if not state.get("backfilled"):
            assert everything is None, "read must answer None until the ledger is backfilled"
        else:
            assert everything is not None
            assert add_cells({}, everything) == expected_cells(txns, MONTHS, None,
                                                               with_products=True)
            for _ in range(2):
                months = self.draw(month_choices, "read months")
                dealers = self.draw(dealer_choices, "read dealers")
                with_products = self.draw(st.booleans(), "read with products")
                found = await sales_reads.read(self.db, months, dealers,
                                                with_products=with_products)
                assert found is not None
                assert add_cells({}, found) == expected_cells(
                    txns, months, dealers, with_products=with_products), (
                    months, dealers, with_products)
        rules = self.draw(programs, "program")
        window = self.draw(windows, "window")
        dealers = self.draw(dealer_choices, "basis dealers")
        through_ledger = await monthly_basis(self.db, rules, window, dealers)
        aggregated = await aggregate_monthly(self.db, rules, window,
                                             None if dealers is None else list(dealers))
        assert through_ledger == aggregated, (rules.basis, rules.currency,
                                              rules.product_codes, window, dealers)

    async def fold_state(self) -> dict[str, Any]:
        return await self.db.ledger_state.find_one({"_id": sales_ledger.STATE}) or {}


async def reset(world: World, *, legacy: list[TransactionRow], pending_old: bool) -> None:
    """An empty ledger; `legacy`: rows stored before the ledger existed (old batches, some
    from before batches at all), so the ledger starts not backfilled."""
    for name in WRITTEN:
        await world.db.db[name].delete_many({})
    if legacy:
        now = world.deps.now() - dt.timedelta(days=1)
        batches = [old_batch_id(), old_batch_id(), None]
        groups: dict[str | None, list[TransactionRow]] = {}
        for index, row in enumerate(legacy):
            groups.setdefault(batches[index % 3], []).append(row)
        for batch, group in groups.items():
            if batch is not None and batch == batches[0] and pending_old:
                # an old call that stopped after its insert: the recovery finds it pending
                await txn_repo.begin_batch(world.db, batch, pending=pending.marker(
                    now, ADMIN, rows=len(group)))
            assert await txn_repo.insert_new(world.db, docs_of(group, batch, now)) == set()
    started = await sales_ledger.state(world.db)
    assert started["backfilled"] is (not legacy)


# ------------------------------------------------------------------ the operations

async def op_record(world: World) -> None:
    batch = world.draw(st.lists(rows(pooled_ids), min_size=1, max_size=8), "batch")
    expected = predicted(batch, await fingerprints(world.db))
    assert outcome(await record_transactions(world.deps, ADMIN, batch)) == expected
    world.sent.append(batch)


async def op_resend(world: World) -> None:
    if not world.sent:
        return await op_record(world)
    batch = world.draw(st.sampled_from(world.sent), "re-sent batch")
    expected = predicted(batch, await fingerprints(world.db))
    assert expected[0] == 0, "every row of a re-sent batch is stored or refused already"
    assert outcome(await record_transactions(world.deps, ADMIN, batch)) == expected


async def op_conflict(world: World) -> None:
    stored = await stored_rows(world.db)
    if not stored:
        return await op_record(world)
    txn = world.draw(st.sampled_from(stored), "row sent again with other content")
    other = world.draw(st.sampled_from(["amount", "dealer", "date", "quantity", "product"]),
                       "changed")
    row = TransactionRow(txn.external_id, txn.dealer_code, txn.kind, txn.date, txn.amount,
                         txn.currency, txn.product_code, txn.quantity, txn.region)
    row = {"amount": lambda: dataclasses.replace(row, amount=row.amount + 1),
           "dealer": lambda: dataclasses.replace(
               row, dealer_code=next(d for d in DEALERS if d != row.dealer_code)),
           "date": lambda: dataclasses.replace(row, date=row.date.replace(day=28)
                                               if row.date.day != 28
                                               else row.date.replace(day=27)),
           "quantity": lambda: dataclasses.replace(
               row, quantity=None if row.quantity is not None else D(1)),
           "product": lambda: dataclasses.replace(
               row, product_code="NX.100" if row.product_code != "NX.100" else None)}[other]()
    result = await record_transactions(world.deps, ADMIN, [row])
    assert outcome(result) == (0, 0, [(0, "CONFLICT")])


async def op_race(world: World) -> None:
    """Two calls at once sharing rows: one stores each, the other finds it (and, its batch
    still pending, finishes the first call's follow-ups itself)."""
    first = world.draw(st.lists(rows(pooled_ids, DEALERS), min_size=1, max_size=6), "first")
    shared = world.draw(st.lists(st.sampled_from(first), max_size=len(first)), "shared")
    second = shared + world.draw(st.lists(rows(pooled_ids, DEALERS), max_size=3), "more")
    results = await asyncio.gather(record_transactions(world.deps, ADMIN, first),
                                   record_transactions(world.deps, ADMIN, second))
    for batch, result in zip((first, second), results, strict=True):
        assert result.accepted + result.duplicates + len(result.errors) == len(batch)
    world.sent += [first, second]


async def op_fold(world: World) -> None:
    before = await world.fold_state()
    await sales_ledger.fold(world.db, "folder", world.tick(),
                            max_cells=world.draw(st.integers(1, 40), "max cells"))
    after = await world.fold_state()
    assert "folding" not in after and after.get("foldLease") is None, after
    if "folding" in before:  # a fold left half-done is finished first
        assert after["folded"] >= before["folding"]["n"]


async def op_crashed_fold(world: World) -> None:
    """A fold that stops part-way: before its deltas are all stamped, after stamping, while
    updating the ledger documents, or before recording itself done."""
    where = world.draw(st.sampled_from(["stamping", "ledger.after_assign", "applying",
                                        "ledger.after_apply"]), "the fold stops")
    apply = world.draw(st.integers(0, 4), "what the interrupted write did")
    killed = world.draw(st.booleans(), "killed (its lease stays) or an exception (released)")
    owner, now = f"doomed-{world.made}", world.tick()
    db: Database = world.db
    if where == "stamping":
        db = Dying(world.db, "sales_deltas", "update_many", apply)
    elif where == "applying":
        db = Dying(world.db, "sales_ledger", "bulk_write", apply)
    hit = dying_at(where) if where.startswith("ledger.") else failpoints.hit
    try:
        with mock.patch.object(failpoints, "hit", hit):
            await sales_ledger.fold(db, owner, now,
                                    max_cells=world.draw(st.integers(1, 40), "max cells"))
    except Killed:
        if killed:  # as a killed process leaves it: the lease held until it runs out
            await world.db.ledger_state.update_one(
                {"_id": sales_ledger.STATE},
                {"$set": {"foldLease": now + sales_ledger.FOLD_LEASE, "foldOwner": owner}})
            await world.check()  # exact while the dead folder's lease runs
            assert await sales_ledger.fold(world.db, "another", now + dt.timedelta(seconds=60),
                                           max_cells=100) == 0, "a held lease lets nobody fold"


async def op_recover(world: World) -> None:
    """A batch whose call stopped after storing some of its rows: the recovery follows it
    up; the rest of the dead writer's insert lands later (or meanwhile), and the recheck
    counts it."""
    world.made += 1
    batch_rows = world.draw(fresh_rows(f"r{world.made}"), "recovered batch")
    landed = world.draw(st.integers(0, len(batch_rows)), "rows stored before it stopped")
    when = world.draw(st.sampled_from(["during", "after", "never"]), "the rest lands")
    fold_between = world.draw(st.booleans(), "a fold in between")
    batch, now = str(ObjectId()), world.deps.now()
    await txn_repo.begin_batch(world.db, batch, pending=pending.marker(
        now - dt.timedelta(minutes=5), ADMIN, rows=len(batch_rows)))
    await txn_repo.insert_new(world.db, docs_of(batch_rows[:landed], batch, now))
    late = docs_of(batch_rows[landed:] if when != "never" else [], batch, now)
    doc = await world.db.transaction_batches.find_one({"_id": batch})
    assert doc is not None
    if when == "during":
        await asyncio.gather(finish_batch(world.deps, doc), txn_repo.insert_new(world.db, late))
    else:
        await finish_batch(world.deps, doc)
        if fold_between:
            await sales_ledger.fold(world.db, "folder", world.tick(), max_cells=1000)
        await txn_repo.insert_new(world.db, late)
    doc = await world.db.transaction_batches.find_one({"_id": batch})
    assert doc is not None and "pending" not in doc and "recheck" in doc
    await recheck_batch(world.deps, doc)


async def op_concurrent_rows(world: World) -> None:
    """One batch's delta written by several writers at once: the live call and recoveries
    (through the use cases), or record_rows itself with the live rows and stored ones."""
    world.made += 1
    batch_rows = world.draw(fresh_rows(f"c{world.made}"), "batch")
    how = world.draw(st.sampled_from(["use cases", "record_rows", "dead writer"]), "writers")
    batch, now = str(ObjectId()), world.deps.now()
    mark = pending.marker(now, ADMIN, rows=len(batch_rows))
    await txn_repo.begin_batch(world.db, batch, pending=mark)
    txns = [as_txn(r) for r in batch_rows]
    landed = len(batch_rows) if how != "dead writer" else world.draw(
        st.integers(0, len(batch_rows)), "rows stored before")
    await txn_repo.insert_new(world.db, docs_of(batch_rows[:landed], batch, now))

    async def stored() -> Cells:
        return cells_of(await txn_repo.batch_rows(world.db, batch))

    async def given() -> Cells:
        return cells_of(txns)

    if how == "use cases":
        doc = await world.db.transaction_batches.find_one({"_id": batch})
        assert doc is not None
        await asyncio.gather(follow_up(world.deps, batch, txns, mark),
                             finish_batch(world.deps, doc), finish_batch(world.deps, doc))
    elif how == "record_rows":  # the batch stays pending: a later recovery pass finishes it
        await asyncio.gather(*(sales_ledger.record_rows(world.db, batch, rows_now, now=now)
                               for rows_now in (given, stored, stored, given)))
    else:
        await asyncio.gather(
            sales_ledger.record_rows(world.db, batch, stored, now=now),
            sales_ledger.record_rows(world.db, batch, stored, now=now),
            txn_repo.insert_new(world.db, docs_of(batch_rows[landed:], batch, now)))
        await sales_ledger.record_rows(world.db, batch, stored, now=now)  # the recheck
    deltas = await world.db.sales_deltas.find({"batch": batch}).to_list()
    counted = add_cells({}, (cell for d in deltas for cell in sales_ledger._decode(d["cells"])))
    assert counted == cells_of(txns), "the batch's deltas count each of its rows once"


async def op_recovery_pass(world: World) -> None:
    """The worker's recovery pass: finishes what is pending, rechecks recovered batches."""
    await recovery.recover(world.deps, older_than=LATER)
    assert await world.db.transaction_batches.count_documents({"pending": {"$exists": True}}) \
        == 0


async def op_cleanup(world: World) -> None:
    """Deltas of folds finished over an hour ago are deleted — also while a fold is
    half-done, or a batch still pending or rechecked (their deltas must stay: they are
    what will finish the fold, what the batch's recovery counts its rows against)."""
    await sales_ledger.cleanup(world.db, world.tick(dt.timedelta(hours=2)))


async def op_backfill(world: World) -> None:
    """Fold in the rows from before the ledger: all at once, or stopping after a few of its
    deltas (a later backfill completes it); a backfill done changes nothing."""
    stop_after = world.draw(st.none() | st.integers(0, 2), "backfill deltas before it stops")
    was = await world.fold_state()
    if stop_after is None:
        assert await sales_ledger.backfill(world.db, world.deps.now()) is True
        assert (await world.fold_state())["backfilled"] is True
        return
    try:
        await sales_ledger.backfill(Dying(world.db, "sales_deltas", "insert_one", stop_after),
                                    world.deps.now())
    except Killed:
        assert (await world.fold_state())["backfilled"] is False
    else:
        assert (await world.fold_state())["backfilled"] is True
    assert was["backfilled"] is False or (await world.fold_state()) == was


OPERATIONS: dict[str, Callable[[World], Awaitable[None]]] = {
    "record": op_record, "resend": op_resend, "conflict": op_conflict, "race": op_race,
    "fold": op_fold, "crashed fold": op_crashed_fold, "recover": op_recover,
    "concurrent rows": op_concurrent_rows, "recovery pass": op_recovery_pass,
    "cleanup": op_cleanup, "backfill": op_backfill,
}
# Folds (whole and stopped) as often as records: a stop matters when deltas wait.
WEIGHTED = ["record"] * 3 + ["fold"] * 2 + ["crashed fold"] * 3 + [
    name for name in OPERATIONS if name not in {"record", "fold", "crashed fold"}]


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
async def ops_deps(deps: Deps, db_name: str) -> AsyncIterator[Deps]:
    """A database of this module's own for the generated sequences (emptied per example),
    with the dealers; no program (so no row needs a quantity)."""
    db = Database(deps.db.client, f"{db_name}_ops")
    await db.ensure_indexes()
    ops = Deps(db=db, settings=deps.settings, clock=ticking_clock)
    for code in DEALERS:
        await upsert_dealer(ops, ADMIN, code=code, name=code)
    yield ops
    await db.client.drop_database(db.db.name)


@pytest.fixture
def small_backfill_chunks() -> Iterator[None]:
    # and a delta of two or more dealers is indexed as a wide one (a bulk batch's shape)
    with mock.patch.object(sales_ledger, "BACKFILL_CHUNK", BACKFILL_CHUNK), \
            mock.patch.object(sales_ledger, "WIDE_DELTA", 1):
        yield


# ------------------------------------------------------------------ the property

@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_the_ledger_equals_the_transactions_after_any_sequence_of_operations(
        ops_deps: Deps, small_backfill_chunks: None, data: st.DataObject) -> None:
    legacy = data.draw(st.one_of(st.just([]), st.lists(
        rows(pooled_ids, DEALERS), max_size=8, unique_by=lambda r: r.external_id)),
        label="rows stored before the ledger existed")
    world = World(ops_deps, data, ops_deps.now())
    await reset(world, legacy=legacy, pending_old=data.draw(st.booleans(), label="pending old"))
    await world.check()
    steps = data.draw(st.lists(st.sampled_from(WEIGHTED), min_size=1, max_size=10),
                      label="operations")
    if legacy and "backfill" not in steps:
        steps.append("backfill")
    for number, name in enumerate(steps):
        note(f"step {number}: {name}")
        await OPERATIONS[name](world)
        await world.check()
    # and in the end, everything folded: the ledger documents alone hold every row
    while "folding" in await world.fold_state() or (
            await sales_ledger.unfolded(world.db))[0]:
        await sales_ledger.fold(world.db, "last", world.tick(), max_cells=10_000)
    await world.check()
    if (await world.fold_state())["backfilled"]:
        ledger = [cell async for doc in world.db.sales_ledger.find()
                  for cell in sales_ledger.doc_cells(doc, True)]
        assert add_cells({}, ledger) == expected_cells(await stored_rows(world.db), MONTHS,
                                                       None, with_products=True)


# ------------------------------------------------------------------ backfill, step by step

async def fresh(deps: Deps, name: str, *, ledger: bool = True) -> Deps:
    """A database of its own with the dealers; `ledger`: its ledger state created while
    it has no transactions (as the worker's first round does), so it needs no backfill."""
    db = Database(deps.db.client, f"{deps.settings.database}_{name}")
    await db.client.drop_database(db.db.name)
    await db.ensure_indexes()
    made = Deps(db=db, settings=deps.settings, clock=ticking_clock)
    for code in DEALERS:
        await upsert_dealer(made, ADMIN, code=code, name=code)
    if ledger:
        assert (await sales_ledger.state(db))["backfilled"] is True
    return made


async def read_all(db: Database, *, with_products: bool = True) -> Cells | None:
    found = await sales_reads.read(db, MONTHS, None, with_products=with_products)
    return None if found is None else add_cells({}, found)


def sale(external_id: str, dealer: str, day: str, amount: str, *, product: str | None = None,
         kind: TransactionKind = TransactionKind.INVOICE, currency: str = "CNY",
         quantity: str | None = None) -> TransactionRow:
    return TransactionRow(external_id, dealer, kind, dt.date.fromisoformat(day), D(amount),
                          currency, product, D(quantity) if quantity is not None else None)


OLD = [sale("o1", "L1", "2026-01-05", "100", product="NX.100", quantity="2"),
       sale("o2", "L1", "2026-01-31", "50.5", product="NX.100"),
       sale("o3", "L2", "2026-02-01", "70", kind=TransactionKind.RETURN),
       sale("o4", "L.3", "2026-02-14", "30", currency="USD", product="7"),
       sale("o5", "L2", "2026-03-01", "900", kind=TransactionKind.PAYMENT),
       sale("o6", "L1", "2026-03-31", "1.25", product="a.b.c", quantity="1")]


async def test_rows_from_before_the_ledger_are_counted_once_by_a_backfill_even_if_it_stops(
        deps: Deps, small_backfill_chunks: None) -> None:
    ledger = await fresh(deps, "backfill", ledger=False)
    db, now = ledger.db, ledger.now()
    old, older = old_batch_id(), old_batch_id()
    await txn_repo.insert_new(db, docs_of(OLD[:3], old, now) + docs_of(OLD[3:5], None, now))
    await txn_repo.begin_batch(db, older, pending=pending.marker(now, ADMIN, rows=1))
    await txn_repo.insert_new(db, docs_of(OLD[5:], older, now))  # its call stopped there
    assert (await sales_ledger.state(db))["backfilled"] is False
    assert await read_all(db) is None  # the engine aggregates the rows meanwhile
    rules = program(RebateBasis.SALES_AMOUNT, "CNY", [])
    window = DateRange(dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert await monthly_basis(db, rules, window) == await aggregate_monthly(db, rules, window,
                                                                             None)
    # new rows meanwhile: counted by their own deltas, never by the backfill
    result = await record_transactions(ledger, ADMIN, [
        sale("n1", "L1", "2026-02-06", "10", product="NX.100", quantity="1"),
        sale("o1", "L1", "2026-01-05", "100", product="NX.100", quantity="2")])  # a re-send
    assert outcome(result) == (1, 1, [])
    await sales_ledger.fold(db, "folder", now, max_cells=100)
    # the backfill stops after its first delta (of two: 5 cells, 3 a delta here) …
    with pytest.raises(Killed):
        await sales_ledger.backfill(Dying(db, "sales_deltas", "insert_one", 1), now)
    assert await read_all(db) is None
    # … the recovery finishes the old call: the backfill counts its row, no delta does
    assert await recovery.recover(ledger, older_than=LATER) == 1
    assert await db.sales_deltas.count_documents({"batch": older}) == 0
    assert await sales_ledger.backfill(db, now) is True  # completes it
    assert await sales_ledger.backfill(db, now) is True  # and again: nothing more
    assert await db.sales_deltas.count_documents({"batch": "backfill"}) == 2
    expected = cells_of(await stored_rows(db))
    assert len(expected) == 6 and await read_all(db) == expected
    await sales_ledger.fold(db, "folder", now + dt.timedelta(minutes=3), max_cells=100)
    assert await read_all(db) == expected
    assert await read_all(db, with_products=False) == expected_cells(
        await stored_rows(db), MONTHS, None, with_products=False)
    for basis in RebateBasis:
        for products in ([], ["NX.100", "a.b.c"]):
            rules = program(basis, "CNY", products)
            assert await monthly_basis(db, rules, window) == await aggregate_monthly(
                db, rules, window, None)
    await db.client.drop_database(db.db.name)


# ------------------------------------------------------------------ races and stops, one by one

async def recorded(deps: Deps, name: str) -> Deps:
    """A fresh ledger with two batches recorded (two deltas on one ledger document)."""
    ledger = await fresh(deps, name)
    for number in (1, 2):
        result = await record_transactions(ledger, ADMIN, [
            sale(f"{name}-{number}", "L1", "2026-02-03", "10", product="NX.100")])
        assert result.accepted == 1
    return ledger


@pytest.mark.parametrize("winner", ["recovery", "live call"])
async def test_the_loser_of_a_race_for_a_batchs_delta_adds_what_the_winner_did_not_count(
        deps: Deps, winner: str) -> None:
    """A recovery that read the batch's rows while the live call's insert was still landing
    races the live call (all rows stored): both read no delta, one writes `~1`, the other
    meets the unique id, counts again and adds only the difference."""
    ledger = await fresh(deps, f"race-{winner.split()[0]}")
    db, now = ledger.db, ledger.now()
    batch = str(ObjectId())
    rows = [sale(f"race-{n}", DEALERS[n % 3], f"2026-0{n % 4 + 1}-02", f"{n}1",
                 product=PRODUCTS[n % 5]) for n in range(6)]
    await txn_repo.insert_new(db, docs_of(rows, batch, now))
    partial = cells_of(as_txn(r) for r in rows[:2])  # what the recovery saw of them
    both_read, winner_wrote = asyncio.Event(), asyncio.Event()
    seen = {"recovery": 0, "live call": 0}

    def writer(name: str, cells: Cells) -> Callable[[], Awaitable[Cells]]:
        async def rows_now() -> Cells:  # called after the writer read the batch's deltas
            seen[name] += 1
            if seen[name] > 1:  # counting again after losing: the rows as stored now
                return cells_of(await txn_repo.batch_rows(db, batch))
            if name == winner:
                await both_read.wait()
            else:
                both_read.set()
                await winner_wrote.wait()
            return cells
        return rows_now

    async def write(name: str, cells: Cells) -> None:
        await sales_ledger.record_rows(db, batch, writer(name, cells), now=now)
        if name == winner:
            winner_wrote.set()

    try:
        await asyncio.gather(write("recovery", partial),
                             write("live call", cells_of(as_txn(r) for r in rows)))
        loser = "live call" if winner == "recovery" else "recovery"
        assert seen[loser] == 2, seen
        deltas = await db.sales_deltas.find({"batch": batch}).sort("_id", 1).to_list()
        assert [d["_id"] for d in deltas] == (
            [f"{batch}~1", f"{batch}~2"] if winner == "recovery" else [f"{batch}~1"])
        assert await read_all(db) == cells_of(as_txn(r) for r in rows)
    finally:
        await db.client.drop_database(db.db.name)


async def test_a_fold_stopped_after_stamping_survives_a_quiet_hour(deps: Deps) -> None:
    ledger = await recorded(deps, "stamped")
    db, now = ledger.db, ledger.now()
    expected = cells_of(await stored_rows(db))
    with mock.patch.object(failpoints, "hit", dying_at("ledger.after_assign")), \
            pytest.raises(Killed):
        await sales_ledger.fold(db, "doomed", now, max_cells=100)
    assert await read_all(db) == expected  # exact while the fold is half-done
    # the worker's rounds over a quiet night: no new sales, so no new delta
    quiet = dataclasses.replace(ledger, clock=lambda: now + dt.timedelta(hours=2))
    keeper = LedgerKeeper(quiet, "worker")
    try:
        await keeper.keep()
        await keeper.keep()
        assert await read_all(db) == expected
        assert "folding" not in (await db.ledger_state.find_one({"_id": sales_ledger.STATE})
                                 or {}), "the stopped fold is still not finished"
    finally:
        await db.client.drop_database(db.db.name)


async def test_a_folder_whose_lease_ran_out_before_it_recorded_its_fold_loses_nothing(
        deps: Deps) -> None:
    ledger = await recorded(deps, "lease")
    db, now = ledger.db, ledger.now()
    expected = cells_of(await stored_rows(db))
    waiting = sales_ledger._waiting
    stalled = True

    async def stall(db_: Database, max_cells: int) -> list[str]:
        """The first folder picks its deltas, then stalls past its lease (GC, network)."""
        nonlocal stalled
        ids = await waiting(db_, max_cells)
        if stalled:
            stalled = False
            later = now + sales_ledger.FOLD_LEASE + dt.timedelta(seconds=1)
            assert await sales_ledger.fold(db, "second", later, max_cells=1) == 1
        return ids

    try:
        with mock.patch.object(sales_ledger, "_waiting", stall):
            await sales_ledger.fold(db, "first", now, max_cells=100)
        assert await read_all(db) == expected
    finally:
        await db.client.drop_database(db.db.name)


async def test_a_document_written_first_by_another_folder_is_added_to_not_overwritten(
        deps: Deps) -> None:
    """A fold inserts the dealer-months it found no document of; when another folder wrote
    one between that read and the insert, the insert is refused and the fold adds its cells
    to the document as it is then."""
    ledger = await recorded(deps, "first-writer")
    db, now = ledger.db, ledger.now()
    expected = cells_of(await stored_rows(db))
    assert await sales_ledger.fold(db, "one", now, max_cells=1) == 1  # L1's month: fold 1
    read_docs = sales_ledger._ledger_docs
    calls = 0

    async def read_before_the_other_folder(db_: Database, keys: Any) -> dict[Any, Any]:
        nonlocal calls
        calls += 1
        return {} if calls == 1 else await read_docs(db_, keys)

    try:
        with mock.patch.object(sales_ledger, "_ledger_docs", read_before_the_other_folder):
            assert await sales_ledger.fold(db, "two", now, max_cells=100) == 1
        assert calls == 2, "the refused insert was not merged again"
        assert await read_all(db) == expected
    finally:
        await db.client.drop_database(db.db.name)


async def test_a_batch_begun_before_the_ledger_state_existed_is_counted(deps: Deps) -> None:
    ledger = await fresh(deps, "early")
    db = ledger.db
    await db.ledger_state.delete_many({})
    batch = str(ObjectId.from_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)))[:8] \
        + str(ObjectId())[8:]  # begun two seconds ago; its insert is still on its way
    row = sale("early-1", "L1", "2026-02-03", "10")
    mark = pending.marker(ledger.now(), ADMIN, rows=1)
    await txn_repo.begin_batch(db, batch, pending=mark)
    await LedgerKeeper(ledger, "worker").keep()  # the worker's first round: an empty ledger
    assert await txn_repo.insert_new(db, docs_of([row], batch, ledger.now())) == set()
    await follow_up(ledger, batch, [as_txn(row)], mark)
    try:
        assert await read_all(db) == cells_of([as_txn(row)])
    finally:
        await db.client.drop_database(db.db.name)


async def test_a_batch_pending_past_the_retention_of_its_deltas_is_counted_once(
        deps: Deps) -> None:
    ledger = await fresh(deps, "pending")
    db, now = ledger.db, ledger.now()
    rows = [sale("p-1", "L1", "2026-02-03", "10"), sale("p-2", "L2", "2026-03-03", "20")]
    batch = str(ObjectId())
    mark = pending.marker(now, ADMIN, rows=len(rows))
    await txn_repo.begin_batch(db, batch, pending=mark)
    await txn_repo.insert_new(db, docs_of(rows, batch, now))

    async def stored() -> Cells:
        return cells_of(await txn_repo.batch_rows(db, batch))

    # the call wrote the batch's delta, then stopped (or its next follow-up keeps failing)
    await sales_ledger.record_rows(db, batch, stored, now=now)
    await sales_ledger.fold(db, "worker", now, max_cells=100)
    await sales_ledger.cleanup(db, now + sales_ledger.RETENTION + dt.timedelta(minutes=1))
    assert await recovery.recover(ledger, older_than=LATER) == 1
    try:
        assert await read_all(db) == cells_of(as_txn(r) for r in rows)
    finally:
        await db.client.drop_database(db.db.name)


# ------------------------------------------------------------------ a whole read, kept

async def test_a_read_of_every_dealer_is_kept_and_the_next_reads_only_the_deltas_since(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a bulk import each round of every dealer reads every row of it, still in
    deltas: the read is kept in the process, and the next one reads only the deltas written
    since — while no fold has begun or ended (nor the ledger been made anew): then a fresh
    read. At every step it finds exactly what a read with nothing kept finds, which is
    every stored row."""
    ledger = await fresh(deps, "kept")
    db = ledger.db
    decoded: list[str] = []
    add = sales_reads._add

    def counted(sums: Any, delta: dict[str, Any], *rest: Any) -> None:
        decoded.append(delta["_id"])
        add(sums, delta, *rest)
    monkeypatch.setattr(sales_reads, "_add", counted)

    async def read_and_check() -> int:
        """Reads every dealer's cells; how many deltas it decoded."""
        decoded.clear()
        found = await read_all(db)
        read = len(decoded)
        expected = cells_of(await stored_rows(db))
        assert found == expected
        assert await read_all(Database(db.client, db.db.name)) == expected  # nothing kept
        assert await read_all(db, with_products=False) == expected_cells(
            await stored_rows(db), MONTHS, None, with_products=False)
        return read

    async def sell(*rows: TransactionRow) -> None:
        await record_transactions(ledger, ADMIN, list(rows))
    try:
        await sell(sale("k1", "L1", "2026-01-05", "100", product="NX.100"),
                   sale("k2", "L2", "2026-02-01", "70", kind=TransactionKind.RETURN))
        assert await read_and_check() == 1  # nothing kept yet
        await sell(sale("k3", "L1", "2026-01-06", "5", product="NX.100"))
        assert await read_and_check() == 1  # only the new delta
        assert await read_and_check() == 0  # nothing new
        await sales_ledger.fold(db, "folder", ledger.now(), max_cells=100)
        assert await read_and_check() == 0  # a fold ended: a fresh read, all in the ledger
        await sell(sale("k4", "L.3", "2026-02-14", "30", currency="USD", product="7"))
        assert await read_and_check() == 1
        # between an import's batches the worker decodes each one as it is stored
        await sell(sale("k4a", "L1", "2026-02-15", "3"))
        await sell(sale("k4b", "L2", "2026-02-16", "4"))
        assert await sales_reads.refresh_kept(db) == 4  # two batches, for both reads kept
        assert await read_and_check() == 0
        with mock.patch.object(failpoints, "hit", dying_at("ledger.after_assign")), \
                pytest.raises(Killed):
            await sales_ledger.fold(db, "doomed", ledger.now(), max_cells=100)
        await sell(sale("k5", "L2", "2026-03-01", "900", kind=TransactionKind.PAYMENT))
        assert await read_and_check() == 4  # a fold under way: fresh reads, nothing kept
        assert await read_and_check() == 4
        await sales_ledger.fold(db, "folder", LATER, max_cells=100)  # finishes that fold
        await sales_ledger.fold(db, "folder", LATER, max_cells=100)  # and folds k5's
        assert await read_and_check() == 0
        assert (await sales_ledger.state(db))["folded"] == 3
        # the ledger made anew under the same process, and folded as often: nothing of the
        # kept read is taken for it (the fold mark differs)
        for name in WRITTEN:
            await db.db[name].delete_many({})
        await sales_ledger.state(db)
        for number in range(3):
            await sell(sale(f"n{number}", "L1", f"2026-03-0{number + 1}", "1"))
            await sales_ledger.fold(db, "folder", LATER, max_cells=100)
        assert (await sales_ledger.state(db))["folded"] == 3
        assert await read_and_check() == 0
    finally:
        await db.client.drop_database(db.db.name)


async def test_a_read_of_more_cells_than_kept_cells_is_not_kept(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = await fresh(deps, "unkept")
    db = ledger.db
    try:
        await record_transactions(ledger, ADMIN, [sale("u1", "L1", "2026-01-05", "1"),
                                                  sale("u2", "L2", "2026-01-05", "2")])
        monkeypatch.setattr(sales_reads, "KEPT_CELLS", 1)
        assert await read_all(db) == cells_of(await stored_rows(db))
        assert db.kept[sales_reads.KEPT] == {}
        monkeypatch.setattr(sales_reads, "KEPT_CELLS", 2)
        assert await read_all(db) == cells_of(await stored_rows(db))
        assert len(db.kept[sales_reads.KEPT]) == 1
    finally:
        await db.client.drop_database(db.db.name)


# ------------------------------------------------------------------ do the suites read the ledger?

async def test_the_service_fixture_database_reads_the_ledger(deps: Deps) -> None:
    """The module's own `deps` database, used the way the service tests use theirs."""
    await upsert_dealer(deps, ADMIN, code="F1", name="F1")
    await create_program(deps, ADMIN, program(RebateBasis.SALES_AMOUNT, "CNY", []),
                         activate=True)
    await record_transactions(deps, ADMIN, [sale("f-1", "F1", "2026-02-03", "10")])
    await AccrualWorker(deps).drain()
    state = await deps.db.ledger_state.find_one({"_id": sales_ledger.STATE})
    assert state is not None and state["backfilled"] is True, state
    assert await read_all(deps.db) is not None


def test_the_api_fixture_database_reads_the_ledger(settings: Settings) -> None:
    """The real service the API tests run (`api`: `serving`), on a database of its own:
    its worker creates the ledger state on the empty database, so every batch has its
    delta and the engine reads the ledger from the first accrual on."""
    own = settings.model_copy(update={"database": f"{settings.database}_api"})
    with serving(own) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        api = Api(base_url=base_url, client=client, db_name=own.database)
        engine_helpers.dealer(api, "A1")
        assert engine_helpers.create_program(api, "API-LEDGER")["userErrors"] == []
        answer = engine_helpers.record(api, [
            engine_helpers.row("a-1", "A1", "INVOICE", "2026-02-03", "1000"),
            engine_helpers.row("a-2", "A1", "RETURN", "2026-03-03", "100")])
        assert answer["accepted"] == 2
        engine_helpers.settled(api)
        nets = {a["period"]: a["netAmount"] for a in engine_helpers.accruals(
            api, programCode="API-LEDGER")}
        assert nets == {"2026-Q1": "9.00"}

    async def inspect() -> tuple[dict[str, Any] | None, int, int]:
        db = Database.connect(own.mongodb_uri or "", own.database)
        try:
            state = await db.ledger_state.find_one({"_id": sales_ledger.STATE})
            return (state, await db.sales_deltas.count_documents({"batch": {"$ne": "backfill"}}),
                    await db.sales_deltas.count_documents({"batch": "backfill"}))
        finally:
            await db.client.drop_database(own.database)
            await db.close()

    state, deltas, backfilled = asyncio.run(inspect())
    assert state is not None and state["backfilled"] is True, state
    assert (deltas, backfilled) == (1, 0), "the batch counted by its own delta, no backfill"
