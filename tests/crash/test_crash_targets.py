"""setTargets killed half-way: the recovery pass (or a retry) completes the batch once."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.engine_helpers import create_program, dealer
from tests.conftest import Api
from tests.crash.conftest import RECOVERY_BOUND, CrashHarness, eventually

pytestmark = pytest.mark.crash

PROGRAM = "TGT"
ROWS = [("G1", "2026-Q1", "1000"), ("G2", "2026-Q1", "2000"), ("G1", "2026-Q2", "1500")]
POINTS = ["targets.after_write", "targets.after_marks"]


def _set(api: Api) -> dict[str, Any]:
    targets = [{"dealerCode": d, "period": p, "amount": a} for d, p, a in ROWS]
    return api.gql("""mutation($input: SetTargetsInput!) { setTargets(input: $input) {
        changed userErrors { field code } } }""",
                   {"input": {"programCode": PROGRAM, "targets": targets}},
                   role="SALES")["setTargets"]


def _state(crash: CrashHarness) -> dict[str, Any]:
    db = crash.db
    return {
        "targets": {(t["dealerCode"], t["period"]): str(t["amount"].to_decimal())
                    for t in db.targets.find({"programCode": PROGRAM})},
        "pending": db.target_batches.count_documents({"pending": {"$exists": True}}),
        "events": db.audit_events.count_documents({"entityType": "Target"}),
        "marked": sorted(j["dealerCode"] for j in db.accrual_jobs.find(
            {"programCode": PROGRAM, "dealerCode": {"$ne": "*"}})),
    }


DONE = {"targets": {(d, p): a for d, p, a in ROWS}, "pending": 0, "events": 3,
        "marked": ["G1", "G2"]}


def _killed(crash: CrashHarness, point: str) -> None:
    api = crash.start(point)
    for code in ("G1", "G2"):
        dealer(api, code)
    assert create_program(api, PROGRAM, accumulation="YEAR_TO_DATE")["userErrors"] == []
    crash.drained()
    crash.crash(point, _set)


@pytest.mark.parametrize("point", POINTS)
def test_a_target_batch_a_dead_process_left_is_completed_without_a_retry(
        crash: CrashHarness, point: str) -> None:
    _killed(crash, point)
    crash.restart()
    eventually(lambda: _state(crash), lambda found: found == DONE, timeout=RECOVERY_BOUND,
               what="the stopped target batch to be completed")


@pytest.mark.parametrize("point", POINTS)
def test_a_retried_set_targets_after_a_crash_changes_nothing_more(
        crash: CrashHarness, point: str) -> None:
    _killed(crash, point)
    api = crash.restart()
    retry = _set(api)
    assert retry["userErrors"] == [] and retry["changed"] == 0, retry
    assert _state(crash) == DONE  # the retry finished the stopped batch itself
    crash.past_recovery()
    assert _state(crash) == DONE  # and the recovery pass did nothing twice
