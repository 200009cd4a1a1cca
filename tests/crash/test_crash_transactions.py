"""recordTransactions killed after each of its writes (issue 8).

A CRM that loses the answer to a batch sends the same batch again (same externalIds); a
batch nobody re-sends must still reach the accruals through the worker. Either way every
stored row counts exactly once and the worker's accruals equal a recomputation from scratch
and the figures worked out here by hand.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from service.failpoints import POINTS
from tests.api.engine_helpers import create_program, dealer, record, row
from tests.crash.checks import Key, assert_worker_matches_recomputation, nets, program_accruals
from tests.crash.conftest import RECOVERY_BOUND, CrashHarness, eventually

pytestmark = pytest.mark.crash

TRANSACTION_POINTS = sorted(p for p in POINTS if p.startswith("transactions."))
PROGRAM = "TXN"
# Quarterly, retroactive: the whole quarter's sales earn 1 %, or 2 % from 10,000 on.
TIERS = [{"threshold": "0", "rate": "1"}, {"threshold": "10000", "rate": "2"}]
DEALERS = ("D1", "D2", "D3", "D4")

FIRST = [
    row("t1-D1-a", "D1", "INVOICE", "2026-07-03", "6000"),
    row("t1-D2-a", "D2", "INVOICE", "2026-07-04", "3000"),
    row("t1-D3-a", "D3", "INVOICE", "2026-08-05", "9000"),
]
SECOND = [  # several dealers, two quarters, a return, a tier crossed and one just reached
    row("t2-D1-a", "D1", "INVOICE", "2026-07-20", "5000"),
    row("t2-D1-b", "D1", "RETURN", "2026-08-02", "500"),
    row("t2-D2-a", "D2", "INVOICE", "2026-05-10", "2500"),
    row("t2-D2-b", "D2", "INVOICE", "2026-09-01", "1000.50"),
    row("t2-D3-a", "D3", "INVOICE", "2026-09-15", "1000"),
    row("t2-D4-a", "D4", "INVOICE", "2026-08-20", "12345.67"),
    row("t2-D4-b", "D4", "INVOICE", "2026-04-02", "800"),
]
AFTER_FIRST = {("D1", "2026-Q3"): Decimal("60.00"),    # 6,000 × 1 %
               ("D2", "2026-Q3"): Decimal("30.00"),    # 3,000 × 1 %
               ("D3", "2026-Q3"): Decimal("90.00")}    # 9,000 × 1 %
AFTER_BOTH = {("D1", "2026-Q3"): Decimal("210.00"),    # 6,000 + 5,000 − 500 = 10,500 × 2 %
              ("D2", "2026-Q2"): Decimal("25.00"),     # 2,500 × 1 %
              ("D2", "2026-Q3"): Decimal("40.01"),     # 4,000.50 × 1 % = 40.005 → 40.01
              ("D3", "2026-Q3"): Decimal("200.00"),    # 10,000 exactly reaches 2 %
              ("D4", "2026-Q2"): Decimal("8.00"),      # 800 × 1 %
              ("D4", "2026-Q3"): Decimal("246.91")}    # 12,345.67 × 2 % = 246.9134


def quarter(day: str) -> str:
    return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"


def expected_nets(rows: list[dict[str, Any]]) -> dict[Key, Decimal]:
    """SPEC §3 by hand: INVOICE − RETURN per dealer and quarter; the highest tier reached
    applies to the whole basis; rounded once, half up."""
    basis: dict[Key, Decimal] = defaultdict(Decimal)
    for r in rows:
        sign = -1 if r["kind"] == "RETURN" else 1
        basis[(r["dealerCode"], quarter(r["date"]))] += sign * Decimal(r["amount"])
    return {key: (amount * (2 if amount >= 10000 else 1) / 100).quantize(
                Decimal("0.01"), ROUND_HALF_UP) for key, amount in basis.items()}


def stored_counts(crash: CrashHarness, rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many times each of these rows' externalIds is stored."""
    ids = [r["externalId"] for r in rows]
    found = crash.db.transactions.aggregate([
        {"$match": {"externalId": {"$in": ids}}},
        {"$group": {"_id": "$externalId", "n": {"$sum": 1}}}])
    return {doc["_id"]: doc["n"] for doc in found}


@pytest.fixture
def recorded(crash: CrashHarness) -> CrashHarness:
    """Dealers, the ACTIVE program and a first batch accrued by a normal service, then
    stopped: the armed service starts from there."""
    assert expected_nets(FIRST) == AFTER_FIRST and expected_nets(FIRST + SECOND) == AFTER_BOTH
    api = crash.start()
    for code in DEALERS:
        dealer(api, code)
    assert create_program(api, PROGRAM, terms=[{"tiers": TIERS}])["userErrors"] == []
    first = record(api, FIRST)
    assert (first["accepted"], first["duplicates"], first["errors"]) == (len(FIRST), 0, [])
    crash.drained()
    assert nets(program_accruals(api, PROGRAM)) == AFTER_FIRST
    crash.stop()
    return crash


@pytest.mark.parametrize("point", TRANSACTION_POINTS)
def test_a_batch_retried_after_a_crash_is_stored_and_accrued_exactly_once(
        recorded: CrashHarness, point: str) -> None:
    crash = recorded
    crash.start(point)
    crash.crash(point, lambda api: record(api, SECOND))
    api = crash.restart()
    retry = record(api, SECOND)  # the CRM re-sends the batch it got no answer for
    assert retry["errors"] == []
    assert retry["accepted"] + retry["duplicates"] == len(SECOND), retry
    everything = FIRST + SECOND
    assert stored_counts(crash, everything) == {r["externalId"]: 1 for r in everything}
    worker = assert_worker_matches_recomputation(crash, PROGRAM, {"2026-Q2", "2026-Q3"})
    assert nets(worker) == AFTER_BOTH


@pytest.mark.parametrize("point", TRANSACTION_POINTS)
def test_rows_a_dead_process_stored_reach_the_accruals_without_a_retry(
        recorded: CrashHarness, point: str) -> None:
    crash = recorded
    crash.start(point)
    crash.crash(point, lambda api: record(api, SECOND))
    left = stored_counts(crash, SECOND)  # what the dead process wrote before dying
    assert set(left.values()) <= {1}, left
    expected = expected_nets(FIRST + [r for r in SECOND if r["externalId"] in left])
    api = crash.restart()
    eventually(lambda: nets(program_accruals(api, PROGRAM)), lambda found: found == expected,
               timeout=RECOVERY_BOUND,
               what=f"the worker to accrue the {len(left)} rows the dead process stored "
                    f"(expected {expected})")
    assert stored_counts(crash, SECOND) == left  # nothing lost, nothing doubled
    periods = {period for _, period in expected}
    worker = assert_worker_matches_recomputation(crash, PROGRAM, periods)
    assert nets(worker) == expected
