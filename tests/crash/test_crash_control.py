"""closePeriod, disputes, scorecards, violations and the worker killed half-way (issue 8).

Each scenario kills the service at one point, restarts it, and checks the outcome a client
relies on: after a retry where a client would retry, and within a bounded time by the
restarted service alone where nobody calls again.
"""
from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.control_helpers import accrual, close, violation
from tests.api.engine_helpers import accruals, create_program, dealer, record, row
from tests.conftest import Api
from tests.crash.checks import (
    assert_worker_matches_recomputation,
    local_id,
    nets,
    program_accruals,
)
from tests.crash.conftest import RECOVERY_BOUND, CrashHarness, eventually

pytestmark = pytest.mark.crash

TEN_PERCENT = [{"tiers": [{"threshold": "0", "rate": "10"}]}]


def program(api: Api, code: str, **overrides: Any) -> None:
    """Quarterly, 10 % of the sales of its own product, CASH."""
    values: dict[str, Any] = {"terms": TEN_PERCENT, "productCodes": [code], **overrides}
    assert create_program(api, code, **values)["userErrors"] == []


def sales(crash: CrashHarness, code: str, *rows: tuple[str, str, str]) -> None:
    """(dealer, day, amount) invoices of the program's product, accrued by the worker."""
    answer = record(crash.api, [row(f"{code}-{d}-{day}-{amount}", d, "INVOICE", day, amount,
                                    productCode=code) for d, day, amount in rows])
    assert (answer["accepted"], answer["errors"]) == (len(rows), [])
    crash.drained()


# -- closePeriod -------------------------------------------------------------------------

CLOSE = "CLOSE"


def _closing(crash: CrashHarness, point: str) -> None:
    api = crash.start(point)
    for code in ("C1", "C2", "C3"):
        dealer(api, code)
    program(api, CLOSE)
    sales(crash, CLOSE, ("C1", "2026-02-10", "3000"), ("C2", "2026-03-05", "1500"),
          ("C3", "2026-05-05", "1000"))
    crash.crash(point, lambda api: close(api, CLOSE, "2026-Q1"))


def _q1_statuses(api: Api) -> dict[str, tuple[str, str]]:
    return {a["dealer"]["code"]: (a["status"], a["netAmount"])
            for a in accruals(api, programCode=CLOSE, period="2026-Q1")}


def _assert_closed_for_good(crash: CrashHarness) -> None:
    api = crash.api
    assert _q1_statuses(api) == {"C1": ("APPROVED", "300.00"), "C2": ("APPROVED", "150.00")}
    assert crash.db.accruals.count_documents(
        {"programCode": CLOSE, "period": "2026-Q1", "status": "OPEN"}) == 0
    again = close(api, CLOSE, "2026-Q1")["userErrors"]
    assert [(e["code"], e["message"]) for e in again] == [("LOCKED",
                                                          "2026-Q1 is already closed")]
    assert accrual(api, CLOSE, "C3", "2026-Q2")["status"] == "OPEN"  # Q2 untouched
    q2 = close(api, CLOSE, "2026-Q2")  # calendar order holds: Q1 counts as closed
    assert q2["userErrors"] == []
    assert [(a["dealer"]["code"], a["status"]) for a in q2["accruals"]] == [("C3", "APPROVED")]


@pytest.mark.parametrize("point", ["close.after_lock"])
def test_close_retried_after_a_crash_approves_the_whole_period(crash: CrashHarness,
                                                               point: str) -> None:
    _closing(crash, point)
    api = crash.restart()
    retry = close(api, CLOSE, "2026-Q1")["userErrors"]
    assert retry in ([], [{"field": ["input", "period"], "message": "2026-Q1 is already closed",
                           "code": "LOCKED"}]), retry
    _assert_closed_for_good(crash)


@pytest.mark.parametrize("point", ["close.after_lock"])
def test_a_period_locked_by_a_dead_process_gets_approved_without_a_retry(
        crash: CrashHarness, point: str) -> None:
    _closing(crash, point)
    api = crash.restart()
    eventually(lambda: _q1_statuses(api),
               lambda found: {status for status, _ in found.values()} == {"APPROVED"},
               timeout=RECOVERY_BOUND, what="the locked period's accruals to be approved")
    _assert_closed_for_good(crash)


# -- disputes ----------------------------------------------------------------------------

DISPUTE = "DISPUTE"
OPEN_DISPUTES = "{ disputes(status: OPEN) { id accrual { id } } }"


def _disputable(crash: CrashHarness, point: str) -> dict[str, Any]:
    """A service armed at `point`; an APPROVED accrual of 100.00 for dealer P1."""
    api = crash.start(point)
    dealer(api, "P1")
    program(api, DISPUTE)
    sales(crash, DISPUTE, ("P1", "2026-01-15", "1000"))
    assert close(api, DISPUTE, "2026-Q1")["userErrors"] == []
    found = accrual(api, DISPUTE, "P1", "2026-Q1")
    assert (found["status"], found["netAmount"]) == ("APPROVED", "100.00")
    return found


def _open(api: Api, accrual_id: str) -> dict[str, Any]:
    return api.gql("""mutation($input: OpenDisputeInput!) { openDispute(input: $input) {
        dispute { id status accrual { id status } } userErrors { field message code } } }""",
                   {"input": {"accrualId": accrual_id, "reason": "an invoice is missing"}},
                   role="DEALER", dealer="P1")["openDispute"]


def _resolve(api: Api, dispute_id: str) -> dict[str, Any]:
    return api.gql("""mutation($input: ResolveDisputeInput!) { resolveDispute(input: $input) {
        dispute { id status adjustmentAmount } userErrors { field message code } } }""",
                   {"input": {"disputeId": dispute_id, "accept": True,
                              "adjustmentAmount": "25.50", "note": "invoice 4711 found"}},
                   role="FINANCE")["resolveDispute"]


def _dispute_state(crash: CrashHarness, accrual_id: str) -> dict[str, Any]:
    """The accrual's status and net, and its OPEN disputes as the API and the DB show them."""
    shown = crash.api.gql(OPEN_DISPUTES)["disputes"]
    found = accrual(crash.api, DISPUTE, "P1", "2026-Q1")
    return {"status": found["status"], "net": found["netAmount"],
            "adjustment": found["adjustmentAmount"],
            "open_api": sum(d["accrual"]["id"] == accrual_id for d in shown),
            "open_db": crash.db.disputes.count_documents(
                {"accrualId": local_id(accrual_id), "status": "OPEN"}),
            "notes": sum("invoice 4711 found" in step["label"]
                         for step in found["calculation"]),
            "booked": crash.db.adjustments.count_documents(
                {"programCode": DISPUTE, "dealerCode": "P1", "kind": "DISPUTE"})}


def _consistent(state: dict[str, Any]) -> bool:
    """DISPUTED exactly while one OPEN dispute exists (as the API and the DB see it)."""
    disputed = state["status"] == "DISPUTED"
    return state["open_api"] == state["open_db"] == (1 if disputed else 0) and \
        state["status"] in {"DISPUTED", "APPROVED"}


def _assert_open_once(crash: CrashHarness, accrual_id: str, *, at_rest: bool = True) -> None:
    """DISPUTED with one OPEN dispute, as clients see it; `at_rest` (nothing left for the
    recovery pass to do), the stored disputes agree."""
    state = _dispute_state(crash, accrual_id)
    assert (state["status"], state["open_api"], state["net"]) == ("DISPUTED", 1, "100.00"), \
        state
    if at_rest:
        assert state["open_db"] == 1, state


def _assert_adjusted_once(crash: CrashHarness, accrual_id: str) -> None:
    state = _dispute_state(crash, accrual_id)
    assert state == {"status": "APPROVED", "net": "125.50", "adjustment": "25.50",
                     "open_api": 0, "open_db": 0, "notes": 1, "booked": 1}, state


@pytest.mark.parametrize("point", ["dispute.after_insert"])
def test_a_dispute_opened_again_after_a_crash_exists_once(crash: CrashHarness,
                                                         point: str) -> None:
    accrual_id = _disputable(crash, point)["id"]
    crash.crash(point, lambda api: _open(api, accrual_id))
    api = crash.restart()
    retry = _open(api, accrual_id)
    assert retry["userErrors"] == [] or \
        [e["code"] for e in retry["userErrors"]] == ["LOCKED"], retry
    _assert_open_once(crash, accrual_id, at_rest=False)
    crash.past_recovery()
    _assert_open_once(crash, accrual_id)
    dispute_id = crash.api.gql(OPEN_DISPUTES)["disputes"][0]["id"]
    assert _resolve(api, dispute_id)["userErrors"] == []  # and it can be resolved as usual
    _assert_adjusted_once(crash, accrual_id)


@pytest.mark.parametrize("point", ["dispute.after_insert"])
def test_a_half_opened_dispute_is_completed_or_dropped_without_a_retry(
        crash: CrashHarness, point: str) -> None:
    accrual_id = _disputable(crash, point)["id"]
    crash.crash(point, lambda api: _open(api, accrual_id))
    api = crash.restart()
    eventually(lambda: _dispute_state(crash, accrual_id), _consistent, timeout=RECOVERY_BOUND,
               what="the accrual to be DISPUTED exactly while one dispute is OPEN")
    crash.past_recovery()
    state = _dispute_state(crash, accrual_id)  # completed, or dropped: consistent either way
    assert _consistent(state), state
    if state["status"] == "APPROVED":  # dropped: the dealer can open it again
        assert _open(api, accrual_id)["userErrors"] == []
    _assert_open_once(crash, accrual_id)
    dispute_id = crash.api.gql(OPEN_DISPUTES)["disputes"][0]["id"]
    assert _resolve(api, dispute_id)["userErrors"] == []
    _assert_adjusted_once(crash, accrual_id)


def _disputed(crash: CrashHarness, point: str) -> tuple[str, str]:
    accrual_id = _disputable(crash, point)["id"]
    opened = _open(crash.api, accrual_id)
    assert opened["userErrors"] == [] and opened["dispute"]["status"] == "OPEN"
    _assert_open_once(crash, accrual_id)
    return accrual_id, opened["dispute"]["id"]


@pytest.mark.parametrize("point", ["dispute.after_resolve"])
def test_a_resolution_retried_after_a_crash_adjusts_the_accrual_once(crash: CrashHarness,
                                                                    point: str) -> None:
    accrual_id, dispute_id = _disputed(crash, point)
    crash.crash(point, lambda api: _resolve(api, dispute_id))
    api = crash.restart()
    retry = _resolve(api, dispute_id)
    assert retry["userErrors"] == [] or \
        [e["code"] for e in retry["userErrors"]] == ["LOCKED"], retry
    _assert_adjusted_once(crash, accrual_id)
    crash.past_recovery()  # the recovery pass after the retry adds nothing again
    _assert_adjusted_once(crash, accrual_id)
    again = _resolve(api, dispute_id)["userErrors"]
    assert [e["code"] for e in again] == ["LOCKED"], again
    _assert_adjusted_once(crash, accrual_id)


@pytest.mark.parametrize("point", ["dispute.after_resolve"])
def test_a_half_resolved_dispute_is_applied_once_without_a_retry(crash: CrashHarness,
                                                                 point: str) -> None:
    accrual_id, dispute_id = _disputed(crash, point)
    crash.crash(point, lambda api: _resolve(api, dispute_id))
    crash.restart()
    state = eventually(lambda: _dispute_state(crash, accrual_id),
                       lambda s: _consistent(s) and s["status"] == "APPROVED",
                       timeout=RECOVERY_BOUND, what="the accepted dispute to be applied")
    assert state["net"] == "125.50", state
    crash.past_recovery()
    _assert_adjusted_once(crash, accrual_id)


# -- scorecards ----------------------------------------------------------------------------

SCORED = "SCORED"
TEMPLATE = {"code": "SC-CRASH", "name": "Crash scorecard",
            "kpis": [{"code": "SALES", "name": "Sales volume", "weight": "100",
                      "target": "1000000", "direction": "HIGHER_IS_BETTER"}],
            "bands": [{"minScore": "50", "multiplier": "0.8"},
                      {"minScore": "90", "multiplier": "1"}]}
RECORD_SCORECARD = """mutation($input: ScorecardInput!) { recordScorecard(input: $input) {
    scorecard { score multiplier } userErrors { field message code } } }"""


@pytest.mark.parametrize("point", ["scorecard.after_store"])
def test_a_stored_scorecard_releases_the_held_accrual_after_a_crash(crash: CrashHarness,
                                                                    point: str) -> None:
    api = crash.start(point)
    dealer(api, "K1")
    created = api.gql("""mutation($input: ScorecardTemplateInput!) {
        createScorecardTemplate(input: $input) { userErrors { field message } } }""",
                      {"input": TEMPLATE})["createScorecardTemplate"]
    assert created["userErrors"] == []
    program(api, SCORED, scorecardTemplateCode="SC-CRASH")
    sales(crash, SCORED, ("K1", "2026-08-10", "10000"))
    held = accrual(api, SCORED, "K1", "2026-Q3")
    assert (held["status"], held["grossAmount"]) == ("ON_HOLD", "1000.00")
    card = {"dealerCode": "K1", "templateCode": "SC-CRASH", "period": "2026-Q3",
            "values": [{"kpiCode": "SALES", "actual": "600000"}]}  # score 60 → × 0.8
    crash.crash(point, lambda api: api.gql(RECORD_SCORECARD, {"input": card}))
    api = crash.restart()  # no retry: the scorecard was stored, the service finishes
    released = eventually(lambda: accrual(api, SCORED, "K1", "2026-Q3"),
                          lambda a: a["status"] == "OPEN", timeout=RECOVERY_BOUND,
                          what="the held accrual to be released by the stored scorecard")
    assert (released["scoreMultiplier"], released["netAmount"]) == ("0.8", "800.00")
    shown = api.gql('{ dealer(code: "K1") { scorecards { period score multiplier } } }')
    assert shown["dealer"]["scorecards"] == [
        {"period": "2026-Q3", "score": "60.00", "multiplier": "0.8"}]
    worker = assert_worker_matches_recomputation(crash, SCORED, {"2026-Q3"})
    assert nets(worker) == {("K1", "2026-Q3"): Decimal("800.00")}


# -- violations ----------------------------------------------------------------------------

PENALISED = "PENALISED"


@pytest.mark.parametrize("point", ["violation.after_insert"])
def test_a_stored_violation_is_deducted_after_a_crash(crash: CrashHarness, point: str) -> None:
    api = crash.start(point)
    dealer(api, "V1")
    program(api, PENALISED)
    sales(crash, PENALISED, ("V1", "2026-07-10", "10000"))
    assert accrual(api, PENALISED, "V1", "2026-Q3")["netAmount"] == "1000.00"
    crash.crash(point, lambda api: violation(api, "V1", "2026-08-01", "DEDUCT_PERCENT", "10"))
    api = crash.restart()  # no retry: the violation was stored, the service applies it
    cut = eventually(lambda: accrual(api, PENALISED, "V1", "2026-Q3"),
                     lambda a: a["netAmount"] != "1000.00", timeout=RECOVERY_BOUND,
                     what="the stored violation's deduction to be applied")
    assert (cut["deductionAmount"], cut["netAmount"]) == ("100.00", "900.00")
    shown = api.gql('{ dealer(code: "V1") { violations { occurredOn penalty { kind percent } }'
                    " } }")["dealer"]["violations"]
    assert shown == [{"occurredOn": "2026-08-01",
                      "penalty": {"kind": "DEDUCT_PERCENT", "percent": "10"}}]
    worker = assert_worker_matches_recomputation(crash, PENALISED, {"2026-Q3"})
    assert nets(worker) == {("V1", "2026-Q3"): Decimal("900.00")}


# -- the accrual worker ----------------------------------------------------------------------

WORKED = "WORKED"


@pytest.mark.parametrize("point", ["worker.after_compute"])
def test_a_job_whose_worker_died_is_finished_after_the_restart(crash: CrashHarness,
                                                               point: str) -> None:
    api = crash.start(point)
    for code in ("W1", "W2"):
        dealer(api, code)
    # Sales first, with no program to mark: the worker has nothing to do until activation.
    answer = record(api, [row("w-1", "W1", "INVOICE", "2026-07-10", "4000", productCode=WORKED),
                          row("w-2", "W2", "INVOICE", "2026-08-10", "2500", productCode=WORKED)])
    assert (answer["accepted"], answer["errors"]) == (2, [])
    # Activation queues the whole program; the worker dies once it has written it, maybe
    # before the answer is sent.
    with contextlib.suppress(httpx.TransportError):
        program(api, WORKED)
    crash.await_death(point)
    dead = {(doc["dealerCode"], doc["period"]): doc["netAmount"].to_decimal()
            for doc in crash.db.accruals.find({"programCode": WORKED})}
    assert dead == {("W1", "2026-Q3"): Decimal("400.00"), ("W2", "2026-Q3"): Decimal("250.00")}
    api = crash.restart()
    assert api.gql(f'{{ program(code: "{WORKED}") {{ status }} }}')["program"] == \
        {"status": "ACTIVE"}
    worker = assert_worker_matches_recomputation(crash, WORKED, {"2026-Q3"})
    assert nets(worker) == {("W1", "2026-Q3"): Decimal("400.00"),
                            ("W2", "2026-Q3"): Decimal("250.00")}
    more = record(api, [row("w-3", "W1", "INVOICE", "2026-09-10", "1000", productCode=WORKED)])
    assert (more["accepted"], more["errors"]) == (1, [])
    eventually(lambda: nets(program_accruals(api, WORKED)),
               lambda found: found.get(("W1", "2026-Q3")) == Decimal("500.00"),
               timeout=RECOVERY_BOUND, what="new sales after the restart to be accrued")
    worker = assert_worker_matches_recomputation(crash, WORKED, {"2026-Q3"})
    assert nets(worker) == {("W1", "2026-Q3"): Decimal("500.00"),
                            ("W2", "2026-Q3"): Decimal("250.00")}


ROUND = "ROUND"


@pytest.mark.parametrize("point", ["engine.between_periods"])
def test_a_round_killed_between_two_periods_is_finished_after_the_restart(
        crash: CrashHarness, point: str) -> None:
    """A round writes its periods one after the other (each while the next is computed):
    killed once its first period is written, the round's job is still dirty, and the
    restarted service writes the rest — each accrual once, the true-ups on the first."""
    api = crash.start(point)
    for code in ("R1", "R2"):
        dealer(api, code)
    answer = record(api, [row("r-1", "R1", "INVOICE", "2026-02-10", "4000", productCode=ROUND),
                          row("r-2", "R2", "INVOICE", "2026-05-10", "2500", productCode=ROUND),
                          row("r-3", "R1", "INVOICE", "2026-08-10", "1000", productCode=ROUND)])
    assert (answer["accepted"], answer["errors"]) == (3, [])
    # Activation queues the whole program: one round over its quarters, year to date.
    with contextlib.suppress(httpx.TransportError):
        program(api, ROUND, accumulation="YEAR_TO_DATE")
    crash.await_death(point)
    dead = {(doc["dealerCode"], doc["period"]): doc["netAmount"].to_decimal()
            for doc in crash.db.accruals.find({"programCode": ROUND})}
    assert dead == {("R1", "2026-Q1"): Decimal("400.00")}, "Q1 written, Q2 not yet"
    assert crash.db.accrual_jobs.count_documents({"programCode": ROUND, "dirty": True}) >= 1
    crash.restart()
    quarters = {f"2026-Q{n}" for n in range(1, 5)}
    worker = assert_worker_matches_recomputation(crash, ROUND, quarters)
    found = nets(worker)
    assert {key: found[key] for key in (("R1", "2026-Q1"), ("R2", "2026-Q2"),
                                        ("R1", "2026-Q3"))} == {
        ("R1", "2026-Q1"): Decimal("400.00"), ("R2", "2026-Q2"): Decimal("250.00"),
        ("R1", "2026-Q3"): Decimal("100.00")}
    assert sum(found.values()) == Decimal("750.00")  # 10 % of 7,500, each accrual once
