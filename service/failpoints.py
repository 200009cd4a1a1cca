"""Failpoints: named points of multi-write operations where a test makes the process die.

Test-only, in the spirit of TiKV's fail-rs: `REBATES_FAILPOINTS` (read once at start-up)
names the points to arm, comma-separated, each optionally `name=N` to die on its N-th hit.
At an armed point the process writes one line to stderr and leaves with `os._exit` — no
cleanup, no `finally`, no flush, as a `kill -9` or a power cut would. Unset (production) a
point costs one dictionary lookup.

Every point is declared in `POINTS`, so the crash tests can walk them all and a point cannot
be added without being killed at by a test.
"""
from __future__ import annotations

import os

EXIT_CODE = 86

POINTS: dict[str, str] = {
    # recordTransactions
    "transactions.after_insert": "batch (pending) and rows stored, nothing marked yet",
    "transactions.after_version": "dealers' sales versions bumped, no recomputation mark",
    "transactions.after_marks": "recomputation marked, segments and alerts not refreshed",
    "transactions.after_follow_ups": "every follow-up done, rows not yet cleared of pending",
    # settle
    "settle.after_number": "settlement number taken, no settlement document written",
    "settle.after_intent": "pending settlement document written, nothing claimed",
    "settle.after_claim": "accruals claimed for the settlement, no lines written",
    "settle.after_lines": "settlement lines written, no rebate account credited",
    "settle.between_credits": "the first CREDIT_NOTE line credited to its dealer's rebate "
                              "account, the other lines not yet",
    "settle.after_credits": "rebate accounts credited (CREDIT_NOTE), accruals not yet SETTLED",
    "settle.after_settled": "accruals SETTLED, settlement not yet marked done",
    # closePeriod
    "close.after_lock": "period locked (pending), accruals not yet approved",
    # disputes
    "dispute.after_insert": "dispute stored (pending), accrual not yet DISPUTED",
    "dispute.after_resolve": "dispute resolved (pending), accrual not yet adjusted",
    # recordScorecard
    "scorecard.after_store": "scorecard stored (pending), accruals not yet marked",
    # recordViolation
    "violation.after_insert": "violation stored (pending), not yet applied",
    # setTargets
    "targets.after_write": "target batch (pending) and targets written, nothing marked",
    "targets.after_marks": "accruals marked for recomputation, no audit events yet",
    # rebate accounts: reserveRebate / captureRebate / releaseRebate / refundRebate
    "rebate.after_entry": "account entry written (pending), use summary and audit not yet",
    "rebate.after_use": "use summary written, audit event not yet, entry still pending",
    # folding the monthly sales ledger (the worker)
    "ledger.after_assign": "waiting deltas stamped with the fold's number, no ledger "
                           "document updated yet",
    "ledger.after_apply": "every ledger document has taken the fold, the fold not yet "
                          "recorded as done",
    # the accrual worker
    "worker.after_compute": "a job's accruals written, the job not yet finished",
    "engine.between_periods": "a round's first period written, the next one computed and "
                              "not yet written (the round's jobs still dirty)",
    # webhooks (service/usecases/events.py, service/webhooks.py)
    "webhooks.before_settlement_events": "settlement's accruals SETTLED and audited, its "
                                         "settlement.created events not yet in the outbox",
    "webhooks.after_publish": "events of notices put in the outbox, the notices not yet "
                              "cleared",
    "webhooks.after_claim": "a delivery claimed (attempt counted, leased), nothing sent",
    "webhooks.after_delivery": "the endpoint accepted a delivery, the outbox not yet told",
}

_armed: dict[str, int] = {}


class UnknownFailpoint(ValueError):
    """REBATES_FAILPOINTS names a point that does not exist."""


def arm(spec: str | None) -> None:
    """Arm the points of a `REBATES_FAILPOINTS` value ("" or None: none)."""
    _armed.clear()
    for item in (spec or "").split(","):
        name, _, count = item.strip().partition("=")
        if not name:
            continue
        if name not in POINTS:
            raise UnknownFailpoint(f"REBATES_FAILPOINTS: unknown failpoint {name!r}")
        _armed[name] = int(count) if count.strip() else 1


def hit(name: str) -> None:
    """Die here if this point is armed (and this is the hit it was armed for)."""
    if not _armed:
        return
    left = _armed.get(name)
    if left is None:
        return
    if left > 1:
        _armed[name] = left - 1
        return
    os.write(2, f"failpoint {name}: exiting\n".encode())
    os._exit(EXIT_CODE)
