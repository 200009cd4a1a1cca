"""The recovery pass: finishes what a stopped process left half-done.

Every multi-write operation stores its main document first with a pending marker
(repositories/pending.py) and clears it last. A marker older than the grace period means
the process doing the operation stopped (killed, crashed, deployed over, cut off from the
database); this pass runs the operation's own `complete` step, which is idempotent, so it
does not matter whether the original call, a retry or another worker also gets there.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from service.deps import Deps
from service.repositories import pending
from service.repositories import transactions as txn_repo
from service.repositories.pending import Holder
from service.usecases import (
    closing,
    disputes,
    membership,
    programs,
    rebate_accounts,
    scorecards,
    segments,
    settlement,
    targets,
    transactions,
    violations,
)

log = logging.getLogger(__name__)

Completer = Callable[[Deps, dict[str, Any]], Awaitable[object]]


def _audited(holder: Holder) -> Completer:
    async def complete(deps: Deps, doc: dict[str, Any]) -> None:
        await pending.complete_audited(deps.db, holder, doc)
    return complete


def _completers() -> list[tuple[str, Holder, Completer]]:
    return [("transaction batch", Holder.TRANSACTION_BATCH, transactions.finish_batch),
            ("target batch", Holder.TARGET_BATCH, targets.complete),
            ("program", Holder.PROGRAM, programs.complete),
            ("segment", Holder.SEGMENT, segments.complete_segment),
            ("dealer", Holder.DEALER, membership.complete_dealer),
            ("settlement", Holder.SETTLEMENT, settlement.complete),
            ("period close", Holder.PERIOD_LOCK, closing.complete_close),
            ("dispute", Holder.DISPUTE, disputes.complete),
            ("scorecard", Holder.SCORECARD, scorecards.complete),
            ("violation", Holder.VIOLATION, violations.complete),
            ("rebate account entry", Holder.REBATE_ENTRY, rebate_accounts.complete),
            ("alert change", Holder.ALERT, _audited(Holder.ALERT)),
            ("scorecard template", Holder.SCORECARD_TEMPLATE, _audited(Holder.SCORECARD_TEMPLATE))]


async def recover(deps: Deps, *, older_than: dt.datetime | None = None) -> int:
    """Complete every operation pending since before `older_than` (default: the grace
    period ago); returns how many."""
    cutoff = older_than or deps.now() - dt.timedelta(
        seconds=deps.settings.recovery_grace_seconds)
    done = 0
    for batch in await txn_repo.batches_to_recheck(deps.db, deps.now()):
        await transactions.recheck_batch(deps, batch)
    for what, holder, complete in _completers():
        for doc in await pending.stale(deps.db, holder, older_than=cutoff):
            log.warning("recovery: finishing %s %s", what, doc["_id"])
            await complete(deps, doc)
            done += 1
    return done


async def repair_claims(deps: Deps) -> int:
    repaired = await settlement.repair_claims(deps)
    if repaired:
        log.warning("recovery: %d settlement claims without their document repaired", repaired)
    return repaired
