"""The worker killed while folding the monthly sales ledger (issue 12).

A fold stamps the waiting deltas with its number (`ledger.after_assign`), `$inc`s the
ledger documents (`ledger.after_apply`), then records itself done. Killed at either point,
the ledger must still read exactly the stored rows — the stamped deltas are read until
the fold is finished — the accruals must equal the figures worked out by hand and a
recomputation from scratch, and a later fold must finish the dead one without counting
anything twice.

When the worker folds is its own policy (deltas piled up, waited a while, an import
over): the tests decide instead, holding the fold lease for a folder that does not exist
while they record, then letting it go (and ageing the deltas, so that a fold is due under
any policy). A dead folder's lease (FOLD_LEASE, not tied to REBATES_WORKER_LEASE_SECONDS)
is aged the same way rather than waited out.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from domain.sales_ledger import Cells, add_cells, cells_of
from service.db import Database
from service.failpoints import POINTS
from service.repositories import sales_ledger, sales_reads
from service.repositories import transactions as txn_repo
from tests.api.engine_helpers import create_program, dealer, record, row
from tests.crash.checks import Key, assert_worker_matches_recomputation, nets, program_accruals
from tests.crash.conftest import RECOVERY_BOUND, CrashHarness, eventually

pytestmark = pytest.mark.crash

LEDGER_POINTS = sorted(p for p in POINTS if p.startswith("ledger."))
ALL, ONE = "LED", "LEDP"  # every product / only NX.100 ('.' in a product code)
# Quarterly, retroactive: the whole quarter's basis earns 1 %, or 2 % from 10,000 on.
TIERS = [{"threshold": "0", "rate": "1"}, {"threshold": "10000", "rate": "2"}]
DEALERS = ("K1", "K2", "K3")
MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]

BATCHES = [  # one delta each: several dealers, months, products, a return, a foreign row
    [row("k1-a", "K1", "INVOICE", "2026-07-03", "6000", productCode="NX.100"),
     row("k1-b", "K2", "INVOICE", "2026-07-31", "3000")],
    [row("k2-a", "K1", "RETURN", "2026-08-01", "500", productCode="NX.100"),
     row("k2-b", "K3", "INVOICE", "2026-09-30", "12000.50", productCode="NX.200")],
    [row("k3-a", "K2", "INVOICE", "2026-08-15", "7000.25", productCode="NX.100"),
     row("k3-b", "K1", "INVOICE", "2026-08-16", "100", currency="USD", productCode="NX.100"),
     row("k3-c", "K1", "INVOICE", "2026-09-02", "4600", productCode="NX.100")],
    [row("k4-a", "K3", "INVOICE", "2026-04-10", "800", productCode="NX.100")],
]
AFTER = [row("k5-a", "K2", "INVOICE", "2026-09-01", "1000", productCode="NX.100")]


def quarter(day: str) -> str:
    return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"


def expected_nets(rows: list[dict[str, Any]], products: set[str] | None) -> dict[Key, Decimal]:
    """By hand: INVOICE − RETURN in CNY per dealer and quarter (of the listed products);
    the tier reached applies to the whole basis; rounded once, half up."""
    basis: dict[Key, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["currency"] != "CNY" or (products and r.get("productCode") not in products):
            continue
        sign = -1 if r["kind"] == "RETURN" else 1
        basis[(r["dealerCode"], quarter(r["date"]))] += sign * Decimal(r["amount"])
    return {key: (amount * (2 if amount >= 10000 else 1) / 100).quantize(
                Decimal("0.01"), ROUND_HALF_UP) for key, amount in basis.items()}


RECORDED = [r for batch in BATCHES for r in batch]
EXPECTED = {ALL: expected_nets(RECORDED, None), ONE: expected_nets(RECORDED, {"NX.100"})}
EXPECTED_AFTER = {ALL: expected_nets(RECORDED + AFTER, None),
                  ONE: expected_nets(RECORDED + AFTER, {"NX.100"})}


def ledger_and_rows(crash: CrashHarness) -> tuple[Cells | None, Cells, Cells]:
    """(what the ledger reads, what its documents alone hold, the cells of the rows)."""
    async def inspect() -> tuple[Cells | None, Cells, Cells]:
        db = Database.connect(crash.mongo_uri, crash.database)
        try:
            found = await sales_reads.read(db, MONTHS, None, with_products=True)
            documents = add_cells({}, [cell async for doc in db.sales_ledger.find()
                                       for cell in sales_ledger.doc_cells(doc, True)])
            rows = cells_of([txn_repo.from_doc(doc) async for doc in db.transactions.find()])
            return (None if found is None else add_cells({}, found)), documents, rows
        finally:
            await db.close()
    return asyncio.run(inspect())


def assert_ledger_reads_the_rows(crash: CrashHarness) -> Cells:
    found, _, rows = ledger_and_rows(crash)
    assert found == rows, "the ledger does not read exactly the stored rows"
    return rows


def age(crash: CrashHarness, collection: str, field: str, query: dict[str, Any]) -> None:
    """Make it look as if a while has passed (the service runs on the real clock)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    crash.db[collection].update_many(query, {"$set": {field: past}})


def assert_accruals(crash: CrashHarness, expected: dict[str, dict[Key, Decimal]]) -> None:
    for program, figures in expected.items():
        periods = {period for _, period in figures}
        worker = assert_worker_matches_recomputation(crash, program, periods)
        assert nets(worker) == figures, program


def hold_folding(crash: CrashHarness) -> None:
    """No fold until `let_fold`: the lease held by a folder that does not exist."""
    eventually(lambda: crash.db.ledger_state.find_one({"_id": sales_ledger.STATE}),
               lambda state: state is not None, timeout=RECOVERY_BOUND,
               what="the worker to create the ledger state")
    held = crash.db.ledger_state.update_one(
        {"_id": sales_ledger.STATE},
        {"$set": {"foldLease": dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
                  "foldOwner": "nobody"}})
    assert held.modified_count == 1


@pytest.mark.parametrize("point", LEDGER_POINTS)
def test_a_fold_killed_half_way_leaves_the_ledger_exact_and_is_finished_later(
        crash: CrashHarness, point: str) -> None:
    api = crash.start(point)
    hold_folding(crash)
    for code in DEALERS:
        dealer(api, code)
    for code, products in ((ALL, None), (ONE, ["NX.100"])):
        created = create_program(api, code, terms=[{"tiers": TIERS}], productCodes=products)
        assert created["userErrors"] == []
    for batch in BATCHES:
        answer = record(api, batch)
        assert (answer["accepted"], answer["errors"]) == (len(batch), [])
    crash.drained()
    assert {p: nets(program_accruals(api, p)) for p in EXPECTED} == EXPECTED
    assert crash.db.sales_deltas.count_documents({}) == len(BATCHES)
    assert crash.db.sales_ledger.count_documents({}) == 0, "nothing was folded yet"

    # the lease free and the deltas waited a while: the worker's next round folds, and dies
    age(crash, "sales_deltas", "createdAt", {})
    age(crash, "ledger_state", "foldLease", {"_id": sales_ledger.STATE})
    crash.await_death(point)
    state = crash.db.ledger_state.find_one({"_id": sales_ledger.STATE})
    assert state is not None and state["folding"]["n"] == 1 and state.get("folded", 0) == 0
    assert len(state["folding"]["ids"]) == len(BATCHES)
    assert crash.db.sales_deltas.count_documents({"fold": 1}) == len(BATCHES)
    applied = crash.db.sales_ledger.count_documents({"fold": 1})
    assert applied == (0 if point == "ledger.after_assign" else 7), applied

    api = crash.restart()
    crash.past_recovery()
    rows = assert_ledger_reads_the_rows(crash)  # the stamped deltas still count, once
    assert {p: nets(program_accruals(api, p)) for p in EXPECTED} == EXPECTED
    assert_accruals(crash, EXPECTED)  # recomputed from scratch, through the ledger

    # a sale after the restart: its dealer is recomputed from ledger + stamped + new delta
    answer = record(api, AFTER)
    assert (answer["accepted"], answer["errors"]) == (1, [])
    eventually(lambda: {p: nets(program_accruals(api, p)) for p in EXPECTED},
               lambda found: found == EXPECTED_AFTER, timeout=RECOVERY_BOUND,
               what="the worker to accrue the sale recorded after the restart")
    rows_after = assert_ledger_reads_the_rows(crash)
    assert len(rows_after) == len(rows) + 1

    # the dead folder's lease runs out and the new delta waits a while: the restarted
    # worker finishes the dead fold (each document takes it once), then folds the rest
    age(crash, "ledger_state", "foldLease", {"_id": sales_ledger.STATE})
    age(crash, "sales_deltas", "createdAt", {"fold": sales_ledger.UNFOLDED})

    def fold_state() -> tuple[Any, ...]:
        state = crash.db.ledger_state.find_one({"_id": sales_ledger.STATE}) or {}
        return ("folding" in state, state.get("folded"),
                crash.db.sales_deltas.count_documents({"fold": sales_ledger.UNFOLDED}))

    eventually(fold_state, lambda found: found == (False, 2, 0), timeout=RECOVERY_BOUND,
               what="the restarted worker to finish the dead fold and fold the new delta",
               every=0.5)
    found, documents, rows = ledger_and_rows(crash)
    assert found == rows == documents, "the ledger documents alone hold every row, once"
    assert_accruals(crash, EXPECTED_AFTER)
