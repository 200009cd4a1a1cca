"""The monthly sales ledger in MongoDB: what the accrual engine reads instead of transactions.

Two collections, written so that no step is ever applied twice:

- `sales_deltas`: the cells a recorded batch's rows add (domain/sales_ledger.py), written
  in the batch's follow-ups before anything is marked for recomputation: usually one
  document (`_id` = the batch id and `~1`); a retry or recovery writes only what the batch's
  deltas do not count yet, as the next number (`record_rows`).
- `sales_ledger`: one document per dealer × month, `t` = sums by currency × kind, `p` = the
  same by product (one compact string: a reader of totals never pays for the products).
  Deltas are *folded* into it in numbered folds, one fold at a time (a lease on the
  `ledger_state` document). A fold first records which deltas it takes (`folding`), stamps
  them with its number, then rewrites each ledger document whose `fold` is below its number
  with the sums plus the fold's cells, setting `fold` — the filter is the guard, so a fold
  that stopped half-way is redone by the next folder and each document takes each fold
  once. The rewrites go in transactions where the server has them (repositories/writes.py).

A reader (service/repositories/sales_reads.py) takes a ledger document plus every delta
whose fold that document has not taken yet (unfolded deltas carry `UNFOLDED`, above every
fold number): exact at every instant, however far folding lags. Folded deltas are kept an
hour (a recovered batch may need them to add rows that landed late), then deleted.

Transactions stored before this ledger existed (without the rows' `ledger` flag) are folded
in once (`backfill`); until then a read answers None and the engine aggregates the
transactions as before. The state exists before any flagged row is stored.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from domain.sales_ledger import CellKey, Cells, CellSums, add_cells, difference, in_order
from service import failpoints
from service.db import Database
from service.repositories import writes
from service.repositories.pending import FIELD as PENDING
from service.repositories.transactions import IN_LEDGER

UNFOLDED = 2 ** 62
STATE = "ledger"
RETENTION = dt.timedelta(hours=1)
FOLD_LEASE = dt.timedelta(seconds=120)
ID_CHUNK = 50  # `$in` lists: the embedded server tests each id against each document
BACKFILL_CHUNK = 20_000  # cells per backfill delta (a document stays far below 16 MiB)
NO_PRODUCT = "-"  # never a product code (codes start with a letter or digit)
# A delta of more dealers than this is indexed under WIDE instead of each of its dealers: a
# bulk batch's delta would otherwise add a thousand index keys, and a reader of a few dealers
# reads the wide deltas anyway (`_deltas_after`).
WIDE_DELTA = 64
WIDE = "*"  # never a dealer code
# Changed with every fold that ends, and new with every state: the ledger documents are what
# they were while the state's `folded` and this mark are (service/repositories/sales_reads).
FOLD_MARK = "foldMark"
LAST_BATCH = "lastBatch"  # the batch that last moved the sales stamp was an import's last


def _mark() -> str:
    return uuid.uuid4().hex


def _pkey(product: str | None) -> str:
    return NO_PRODUCT if product is None else product.replace(".", "%")  # '%' never in codes


def _product(pkey: str) -> str | None:
    return None if pkey == NO_PRODUCT else pkey.replace("%", ".")


def _encode(cells: Cells) -> str:
    """Cells as one compact JSON string of arrays, sums as decimal strings (exact). One
    string field instead of thousands of nested ones: the database decodes every field of
    every document it reads or writes, and a round reads every waiting delta."""
    return json.dumps([[k.dealer, k.month, k.currency, k.kind, k.product, str(s.amount),
                        str(s.quantity), s.count] for k, s in in_order(cells)],
                      separators=(",", ":"))


def delta_rows(stored: str | Iterable[list[Any]]) -> Iterable[list[Any]]:
    """A delta's cells as rows [dealer, month, currency, kind, product, amount, quantity,
    count] (a compact JSON string; arrays in older deltas)."""
    return json.loads(stored) if isinstance(stored, str) else stored


def _decode(stored: str | Iterable[list[Any]]) -> Iterable[tuple[CellKey, CellSums]]:
    for dealer, month, currency, kind, product, amount, quantity, count in delta_rows(stored):
        yield CellKey(dealer, month, currency, kind, product), CellSums(
            Decimal(amount), Decimal(quantity), int(count))


# ---------------------------------------------------------------- state and backfill

async def state(db: Database) -> dict[str, Any]:
    """The ledger's state; created on first use (recordTransactions makes sure of it before
    storing rows). A database without transactions needs no backfill; otherwise the rows
    stored before the ledger existed (without the transactions' `ledger` flag) are folded
    in by `backfill`."""
    found = await db.ledger_state.find_one({"_id": STATE})
    if found is not None:
        return found
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    empty = await db.transactions.estimated_document_count() == 0
    # accruals of a database from before the stamp carry per-dealer sales versions: start
    # above them, so that every new computation is newer than every stored one
    newest = await db.dealers.find_one({}, {"salesVersion": 1}, sort=[("salesVersion", -1)])
    doc = {"_id": STATE, "startedAt": now, "backfilled": empty, "folded": 0,
           "salesStamp": int((newest or {}).get("salesVersion") or 0), FOLD_MARK: _mark()}
    try:
        await db.ledger_state.insert_one(doc)
    except DuplicateKeyError:
        return await db.ledger_state.find_one({"_id": STATE}) or doc
    return doc


async def backfill(db: Database, now: dt.datetime) -> bool:
    """Fold in the transactions recorded before the ledger existed; True when done (also
    when there was nothing to do). Idempotent: the cells are grouped in a fixed order and
    written as deltas with fixed ids, so a backfill that stopped is completed by a rerun."""
    ledger = await state(db)
    if ledger.get("backfilled"):
        return True
    cursor = await db.transactions.aggregate([
        {"$match": {IN_LEDGER: {"$exists": False}}},
        {"$group": {"_id": {"d": "$dealerCode", "m": {"$substrBytes": ["$date", 0, 7]},
                            "c": "$currency", "k": "$kind", "p": "$productCode"},
                    "a": {"$sum": "$amount"}, "q": {"$sum": {"$ifNull": ["$quantity", 0]}},
                    "n": {"$sum": 1}}}])
    cells: Cells = {}
    async for row in cursor:
        key = row["_id"]
        cells[CellKey(key["d"], key["m"], key["c"], key["k"], key.get("p"))] = CellSums(
            Decimal(row["a"]), Decimal(row["q"]), int(row["n"]))
    ordered = in_order(cells)
    for start in range(0, len(ordered), BACKFILL_CHUNK):
        with contextlib.suppress(DuplicateKeyError):  # written by a backfill that stopped
            await db.sales_deltas.insert_one(_delta(
                f"backfill:{start}", "backfill", dict(ordered[start:start + BACKFILL_CHUNK]),
                now))
    await db.ledger_state.update_one({"_id": STATE}, {"$set": {"backfilled": True}})
    return True


# ---------------------------------------------------------------- writing deltas

def _delta(delta_id: str, batch_id: str, cells: Cells, now: dt.datetime) -> dict[str, Any]:
    dealers = sorted({k.dealer for k in cells})
    return {"_id": delta_id, "batch": batch_id, "fold": UNFOLDED, "cells": _encode(cells),
            "dealers": dealers if len(dealers) <= WIDE_DELTA else [WIDE],
            "cellCount": len(cells), "createdAt": now}


async def record_rows(db: Database, batch_id: str, rows_now: Callable[[], Awaitable[Cells]],
                      *, now: dt.datetime) -> None:
    """Make the deltas of a batch count exactly its rows: add what they do not count yet.

    The live call (its rows all inserted) and a recovery (which may see fewer rows while a
    dead writer's insert still lands) can run at once. Each reads the batch's deltas, then
    its rows — rows only ever grow, so the difference is never negative — and writes the
    difference as the batch's next numbered delta; the unique `_id` lets one of two racing
    writers win, and the other starts over."""
    for _ in range(5):
        counted: Cells = {}
        deltas = 0
        async for doc in db.sales_deltas.find({"batch": batch_id}, {"cells": 1}):
            add_cells(counted, _decode(doc["cells"]))
            deltas += 1
        missing = difference(await rows_now(), counted)
        if not missing:
            return
        try:
            await db.sales_deltas.insert_one(_delta(f"{batch_id}~{deltas + 1}", batch_id,
                                                    missing, now))
            return
        except DuplicateKeyError:
            continue  # another writer of this batch won: count again
    raise RuntimeError(f"sales ledger: batch {batch_id} kept changing under five attempts")


# ---------------------------------------------------------------- the sales stamp

async def sales_stamp(db: Database) -> int:
    """The sales stamp now. A computation reads it *before* it reads the ledger and stamps
    its accruals with it; a stored accrual is overwritten only by a computation stamped the
    same or later, so a slow computation that missed a batch never overwrites one that saw
    it (the batch moved the stamp after writing its delta)."""
    return int((await state(db)).get("salesStamp", 0))


async def sales_moment(db: Database) -> tuple[int, bool]:
    """The sales stamp now, and whether the batch that last moved it said it was an
    import's last."""
    ledger = await state(db)
    return int(ledger.get("salesStamp", 0)), bool(ledger.get(LAST_BATCH))


async def next_sales_stamp(db: Database, *, last_batch: bool = False) -> int:
    """New sales are in the ledger (their delta is written): move the stamp past them. One
    small write per batch, whatever the number of dealers in it. `last_batch`: the batch
    says it is an import's last (`sales_moment`)."""
    for _ in range(2):
        doc = await db.ledger_state.find_one_and_update(
            {"_id": STATE}, {"$inc": {"salesStamp": 1}, "$set": {LAST_BATCH: last_batch}},
            projection={"salesStamp": 1}, return_document=True)
        if doc is not None:
            return int(doc.get("salesStamp", 0))
        await state(db)  # not made yet (a database of an older version): make it, again
    raise RuntimeError("sales ledger: no state document")


# ---------------------------------------------------------------- the documents

def months_filter(months: Iterable[str]) -> dict[str, Any]:
    listed = list(months)
    return {"$gte": min(listed), "$lte": max(listed)}


def doc_cells(doc: dict[str, Any], with_products: bool) -> Iterable[tuple[CellKey, CellSums]]:
    """A ledger document's cells: per-kind totals (`t`, product None) or by product (`p`:
    a compact JSON string `{currency: {kind: {product: [a, q, n]}}}`; nested documents of
    sums in documents folded before it was a string)."""
    dealer, month = doc["dealerCode"], doc["month"]
    if not with_products:
        for currency, kinds in (doc.get("t") or {}).items():
            for kind, sums in kinds.items():
                yield CellKey(dealer, month, currency, kind, None), _sums(sums)
        return
    products = doc.get("p") or {}
    for currency, kinds in (json.loads(products) if isinstance(products, str)
                            else products).items():
        for kind, by_product in kinds.items():
            for pkey, sums in by_product.items():
                yield CellKey(dealer, month, currency, kind, _product(pkey)), _sums(sums)


def _sums(stored: dict[str, Any] | list[Any]) -> CellSums:
    if isinstance(stored, list):
        return CellSums(Decimal(stored[0]), Decimal(stored[1]), int(stored[2]))
    return CellSums(Decimal(stored.get("a", 0)), Decimal(stored.get("q", 0)),
                    int(stored.get("n", 0)))


# ---------------------------------------------------------------- folding

async def unfolded(db: Database) -> tuple[int, int, dt.datetime | None]:
    """How many deltas wait to be folded, their cells, and when the oldest was written."""
    cursor = await db.sales_deltas.aggregate([
        {"$match": {"fold": UNFOLDED}},
        {"$group": {"_id": None, "docs": {"$sum": 1}, "cells": {"$sum": "$cellCount"},
                    "oldest": {"$min": "$createdAt"}}}])
    rows = await cursor.to_list()
    if not rows:
        return 0, 0, None
    return int(rows[0]["docs"]), int(rows[0]["cells"]), rows[0]["oldest"]


async def fold(db: Database, owner: str, now: dt.datetime, *, max_cells: int) -> int:
    """Fold waiting deltas (up to about `max_cells` cells) into the ledger; returns how many
    deltas. Only one folder at a time; one that stopped is completed by the next."""
    await state(db)
    held = await db.ledger_state.find_one_and_update(
        {"_id": STATE, "$or": [{"foldLease": None}, {"foldLease": {"$lt": now}}]},
        {"$set": {"foldLease": now + FOLD_LEASE, "foldOwner": owner}},
        return_document=True)
    if held is None:
        return 0
    try:
        if held.get("folding"):
            number, ids = int(held["folding"]["n"]), list(held["folding"]["ids"])
        else:
            ids = await _waiting(db, max_cells)
            if not ids:
                return 0
            number = int(held.get("folded", 0)) + 1
            claimed = await db.ledger_state.update_one(
                {"_id": STATE, "foldOwner": owner, "folding": None,
                 "folded": held.get("folded", 0)},
                {"$set": {"folding": {"n": number, "ids": ids}}})
            if not claimed.modified_count:
                return 0  # our lease ran out and another folder took over: leave it to it
        await _fold(db, number, ids, now)
        failpoints.hit("ledger.after_apply")
        await db.ledger_state.update_one(
            {"_id": STATE, "folding.n": number},
            {"$max": {"folded": number}, "$set": {FOLD_MARK: _mark()},
             "$unset": {"folding": ""}})
        return len(ids)
    finally:
        await db.ledger_state.update_one({"_id": STATE, "foldOwner": owner},
                                         {"$set": {"foldLease": None}})


async def _waiting(db: Database, max_cells: int) -> list[str]:
    ids, cells = [], 0
    async for doc in db.sales_deltas.find({"fold": UNFOLDED}, {"cellCount": 1}).sort(
            "createdAt", 1):
        ids.append(doc["_id"])
        cells += int(doc.get("cellCount", 0))
        if cells >= max_cells:
            break
    return ids


async def _fold(db: Database, number: int, ids: Sequence[str], now: dt.datetime) -> None:
    cells: Cells = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = list(ids[start:start + ID_CHUNK])
        await db.sales_deltas.update_many({"_id": {"$in": chunk}, "fold": UNFOLDED},
                                          {"$set": {"fold": number, "foldedAt": now}})
        async for doc in db.sales_deltas.find({"_id": {"$in": chunk}}, {"cells": 1}):
            add_cells(cells, _decode(doc["cells"]))
    failpoints.hit("ledger.after_assign")
    by_doc: dict[tuple[str, str], Cells] = {}
    for key, sums in cells.items():
        by_doc.setdefault((key.dealer, key.month), {})[key] = sums
    stored = await _ledger_docs(db, by_doc)
    written = await writes.bulk_write(db, db.sales_ledger,
                                      _fold_writes(number, by_doc, stored))
    if written.duplicates:
        # a document first written meanwhile by another folder: merged into as it is now
        again = await _ledger_docs(db, by_doc)
        await writes.bulk_write(db, db.sales_ledger, _fold_writes(
            number, {key: by_doc[key] for key in again if key not in stored}, again))


def _fold_writes(number: int, by_doc: dict[tuple[str, str], Cells],
                 stored: dict[tuple[str, str], dict[str, Any]]) -> list[writes.Operation]:
    """Each dealer-month's document with this fold's cells added: a new one is inserted (a
    year's import creates thousands at once, which an insert writes for a tenth of an
    update's cost), a stored one updated under a guard that makes the write once-only — a
    document another folder has moved past this fold meanwhile is left alone. A refused
    insert is a document another folder wrote first (see _fold)."""
    operations: list[writes.Operation] = []
    for (dealer, month), added in sorted(by_doc.items()):
        before = stored.get((dealer, month))
        if before is not None and int(before.get("fold", 0)) >= number:
            continue  # took this fold before its folder stopped
        merged = add_cells({} if before is None else dict(doc_cells(before, True)),
                           added.items())
        fields = {"fold": number, "dealerCode": dealer, "month": month,
                  **_ledger_fields(merged)}
        if before is None:
            operations.append(InsertOne({"_id": f"{dealer}|{month}", **fields}))
        else:
            operations.append(UpdateOne({"_id": f"{dealer}|{month}", "fold": {"$lt": number}},
                                        {"$set": fields}))
    return operations


async def _ledger_docs(db: Database, keys: Iterable[tuple[str, str]]
                       ) -> dict[tuple[str, str], dict[str, Any]]:
    """The ledger documents of these dealer × months: one pass over their months (the month
    index; a document is small, its products one string), not one query per dealer — live
    sales fold a few dealers of the current month every few seconds, while the worker
    computes."""
    wanted = set(keys)
    if not wanted:
        return {}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    months = months_filter([month for _, month in wanted])
    async for doc in db.sales_ledger.find({"month": months}):
        if (key := (doc["dealerCode"], doc["month"])) in wanted:
            found[key] = doc
    return found


def _ledger_fields(cells: Cells) -> dict[str, Any]:
    """A dealer-month's cells as its ledger document's `t` (per-kind totals, decimal
    strings: exact, and read back by the C `Decimal` constructor rather than a Decimal128
    decoder written in Python) and `p` (by product, one compact string)."""
    totals: dict[str, dict[str, dict[str, Any]]] = {}
    products: dict[str, dict[str, dict[str, list[Any]]]] = {}
    by_kind: Cells = {}
    for key, sums in in_order(cells):
        products.setdefault(key.currency, {}).setdefault(key.kind, {})[
            _pkey(key.product)] = [str(sums.amount), str(sums.quantity), sums.count]
        add_cells(by_kind, [(CellKey(key.dealer, key.month, key.currency, key.kind, None),
                             sums)])
    for key, sums in by_kind.items():
        totals.setdefault(key.currency, {})[key.kind] = {
            "a": str(sums.amount), "q": str(sums.quantity), "n": sums.count}
    return {"t": totals, "p": json.dumps(products, separators=(",", ":"))}


async def stalled_fold(db: Database, now: dt.datetime) -> bool:
    """A fold was begun and its folder is gone (its lease ran out): finish it now, even if
    nothing new waits."""
    ledger = await state(db)
    lease = ledger.get("foldLease")
    return bool(ledger.get("folding")) and (lease is None or lease < now)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # before every time the service writes


async def cleanup(db: Database, now: dt.datetime) -> int:
    """Delete deltas of folds finished more than an hour ago (never those of a fold that
    stopped half-way: they are what will finish it)."""
    folded = int((await state(db)).get("folded", 0))
    # nor those of a batch still pending or being rechecked: its recovery counts its rows
    # against them, and would count them again without them
    # (a range on each sparse index's own field: the embedded server scans for `$exists`)
    unfinished = [doc["_id"] for field in (f"{PENDING}.since", "recheck.until")
                  async for doc in db.transaction_batches.find(
                      {field: {"$gte": EPOCH}}, {"_id": 1})]
    query: dict[str, Any] = {"foldedAt": {"$lt": now - RETENTION}, "fold": {"$lte": folded}}
    if unfinished:
        query["batch"] = {"$nin": unfinished}
    done = await db.sales_deltas.delete_many(query)
    return int(done.deleted_count)
