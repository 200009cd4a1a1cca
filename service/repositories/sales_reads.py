"""Reading the monthly sales ledger (service/repositories/sales_ledger.py): the cells of some
months, exact as of now — ledger documents plus the deltas they have not taken yet.

A round of a whole population reads every cell of the year, and after a bulk import that is
every row of it, still in deltas: hundreds of thousands, decoded and summed each round. The
last such read is therefore kept in the process (`Database.kept`), and the next adds only
the deltas written since: deltas never change once written, and the ledger documents only
change when a fold ends (the state's `folded` and fold mark then change) — so while those
are the same, the kept read plus the new deltas is exactly what a fresh read would find.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.sales_ledger import CellKey, CellSums
from service.db import Database
from service.repositories.query import LONG_LIST
from service.repositories.sales_ledger import (
    FOLD_MARK,
    ID_CHUNK,
    WIDE,
    delta_rows,
    doc_cells,
    months_filter,
    state,
)

Sum = list[Any]  # [amount, quantity, count]: a cell's sums, added to in place
SumKey = tuple[str, str, str, str, str | None]  # dealer, month, currency, kind, product
FEW_DEALERS = 64  # up to this many: one indexed query per dealer for its deltas
# Cells a kept read may hold (about 0.4 KB each): a year of 1,000 dealers' totals is 24,000,
# by 20 products 480,000 — such a read is made afresh each time instead of kept.
KEPT_CELLS = 100_000
KEPT = "sales_reads"


async def read(db: Database, months: Sequence[str], dealer_codes: Sequence[str] | None, *,
               with_products: bool) -> list[tuple[CellKey, CellSums]] | None:
    """Every cell of these months (and dealers; None: all), exact as of now; None while
    the ledger is not backfilled. `with_products=False` reads only the per-kind totals
    (their product is None), which is all a program without a product list needs."""
    ledger = await state(db)
    if not ledger.get("backfilled"):
        return None
    if not months:
        return []
    if dealer_codes is None:
        return await _read_all(db, ledger, months, with_products)
    wanted = set(dealer_codes)
    found = await _read(db, ledger, months, wanted, with_products)
    return found.cells()


@dataclass(frozen=True)
class _Found:
    """A read: the ledger documents' cells, and the deltas' they have not taken, summed."""

    ledger: list[tuple[CellKey, CellSums]]
    deltas: frozenset[str]  # the deltas read
    sums: dict[SumKey, Sum]

    def cells(self) -> list[tuple[CellKey, CellSums]]:
        return self.ledger + [(CellKey(*key), CellSums(*sums))
                              for key, sums in self.sums.items()]


@dataclass(frozen=True)
class _Kept:
    found: _Found
    generation: tuple[int, Any]  # the state's `folded` and fold mark it was read at


async def _read(db: Database, ledger: dict[str, Any], months: Sequence[str],
                wanted: set[str] | None, with_products: bool) -> _Found:
    wanted_months = set(months)
    stages: list[dict[str, Any]]
    if wanted is not None and len(wanted) == 1:
        stages = [{"$match": {"dealerCode": next(iter(wanted)),
                              "month": months_filter(months)}}]
    else:
        stages = [{"$match": {"month": months_filter(months)}}]
        if wanted is not None and len(wanted) <= LONG_LIST:
            stages.append({"$match": {"dealerCode": {"$in": sorted(wanted)}}})
    stages.append({"$project": {"p": 0} if not with_products else {"t": 0}})
    cells: list[tuple[CellKey, CellSums]] = []
    taken: dict[tuple[str, str], int] = {}
    async for doc in await db.sales_ledger.aggregate(stages):
        dealer, month = doc["dealerCode"], doc["month"]
        if month not in wanted_months or (wanted is not None and dealer not in wanted):
            continue
        taken[(dealer, month)] = int(doc.get("fold", 0))
        cells.extend(doc_cells(doc, with_products))
    sums: dict[SumKey, Sum] = {}
    read: set[str] = set()
    async for delta in _deltas_after(db, int(ledger.get("folded", 0)), wanted):
        read.add(delta["_id"])
        _add(sums, delta, wanted_months, wanted, taken, with_products)
    return _Found(cells, frozenset(read), sums)


def _add(sums: dict[SumKey, Sum], delta: dict[str, Any], months: set[str],
         wanted: set[str] | None, taken: dict[tuple[str, str], int],
         with_products: bool) -> None:
    """Add a delta's rows of these months (and dealers) that no ledger document has taken
    (`taken`: the fold each document read has taken): after a bulk import, hundreds of
    thousands of rows, summed per cell (per kind only, without products) before they
    become objects. Their counts are positive (a delta only ever adds rows), so a sum
    counts exactly what its parts count."""
    fold = int(delta["fold"])
    for dealer, month, currency, kind, product, amount, quantity, count in delta_rows(
            delta["cells"]):
        if month not in months or (wanted is not None and dealer not in wanted):
            continue
        if taken.get((dealer, month), 0) >= fold:
            continue  # this ledger document has taken the delta's fold
        key = (dealer, month, currency, kind, product if with_products else None)
        if (found := sums.get(key)) is None:
            sums[key] = [Decimal(amount), Decimal(quantity), int(count)]
        else:
            found[0] += Decimal(amount)
            found[1] += Decimal(quantity)
            found[2] += int(count)


async def _read_all(db: Database, ledger: dict[str, Any], months: Sequence[str],
                    with_products: bool) -> list[tuple[CellKey, CellSums]]:
    """Every dealer's cells: the kept read and the deltas written since, while no fold has
    ended (nor begun: a fold under way has stamped some deltas and rewritten some documents
    already); otherwise a fresh read, kept if no fold began or ended meanwhile."""
    key = (tuple(sorted(set(months))), with_products)
    memo: dict[Any, _Kept] = db.kept.setdefault(KEPT, {})
    generation = _generation(ledger)
    kept = memo.get(key)
    if generation is not None and kept is not None and kept.generation == generation:
        since = (await _since(db, {key: kept.found}, generation[0])).get(key)
        if since is not None:
            _keep(memo, key, since, generation)
            return since.cells()
    found = await _read(db, ledger, months, None, with_products)
    _keep(memo, key, found, generation
          if generation is not None and _generation(await state(db)) == generation else None)
    return found.cells()


async def refresh_kept(db: Database) -> int:
    """Bring the kept reads up to date with the deltas written since (dropping those a fold
    has outdated); returns how many deltas were decoded. The worker does this between an
    import's batches, so that the round after its last decodes only the last ones."""
    memo: dict[Any, _Kept] = db.kept.get(KEPT) or {}
    if not memo:
        return 0
    generation = _generation(await state(db))
    current = {key: kept.found for key, kept in memo.items()
               if generation is not None and kept.generation == generation}
    found = await _since(db, current, generation[0]) if generation is not None else {}
    decoded = 0
    for key in list(memo):
        if (since := found.get(key)) is None:
            memo.pop(key, None)
            continue
        decoded += len(since.deltas - current[key].deltas)
        _keep(memo, key, since, generation)
    return decoded


def _keep(memo: dict[Any, _Kept], key: Any, found: _Found,
          generation: tuple[int, Any] | None) -> None:
    """Keep a read made at `generation` (None: a fold began or ended while it was made)."""
    if generation is None or len(found.ledger) + len(found.sums) > KEPT_CELLS:
        memo.pop(key, None)
    else:
        memo[key] = _Kept(found, generation)


async def _since(db: Database, kept: dict[Any, _Found], folded: int) -> dict[Any, _Found]:
    """Each kept read (by its key: months, with products) plus the deltas written since it;
    left out: a read one of whose deltas is gone. Every ledger document a read took has
    taken folds up to `folded` only, and every delta after it is counted whole (one stamped
    by a fold begun since: the documents read have not taken it). Each new delta is read
    and decoded once, whatever the number of reads it is added to."""
    now = {doc["_id"] async for doc in db.sales_deltas.find({"fold": {"$gt": folded}},
                                                             {"_id": 1})}
    kept = {key: found for key, found in kept.items() if found.deltas <= now}
    sums = {key: {cell: list(total) for cell, total in found.sums.items()}
            for key, found in kept.items()}
    new = sorted(set().union(*(now - found.deltas for found in kept.values())))
    for start in range(0, len(new), ID_CHUNK):
        async for delta in db.sales_deltas.find({"_id": {"$in": new[start:start + ID_CHUNK]}},
                                                {"cells": 1, "fold": 1}):
            for key, found in kept.items():
                if delta["_id"] not in found.deltas:
                    months, with_products = key
                    _add(sums[key], delta, set(months), None, {}, with_products)
    return {key: _Found(found.ledger, frozenset(now), sums[key])
            for key, found in kept.items()}


def _generation(ledger: dict[str, Any]) -> tuple[int, Any] | None:
    """What the ledger documents are as of: None while a fold is under way."""
    if ledger.get("folding"):
        return None
    return int(ledger.get("folded", 0)), ledger.get(FOLD_MARK)


async def _deltas_after(db: Database, folded: int,
                        wanted: set[str] | None) -> AsyncIterator[dict[str, Any]]:
    """Deltas of folds after `folded` (and unfolded ones) that may hold these dealers'
    cells: by the (dealers, fold) index for a few dealers — a live round reads its own
    dealers' deltas, not the whole of a bulk import still waiting to be folded."""
    after = {"$gt": folded}
    if wanted is None or len(wanted) > FEW_DEALERS:
        async for doc in db.sales_deltas.find({"fold": after}, {"cells": 1, "fold": 1}):
            yield doc
        return
    seen: set[str] = set()
    for dealer in [*sorted(wanted), WIDE]:
        async for doc in db.sales_deltas.find({"dealers": dealer, "fold": after},
                                              {"cells": 1, "fold": 1}):
            if doc["_id"] not in seen:
                seen.add(doc["_id"])
                yield doc
