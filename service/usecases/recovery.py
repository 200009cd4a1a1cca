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

from pymongo.asynchronous.collection import AsyncCollection

from service.deps import Deps
from service.repositories import pending
from service.repositories import transactions as txn_repo
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


def _completers(deps: Deps) -> list[tuple[str, AsyncCollection[dict[str, Any]], Completer]]:
    db = deps.db
    return [("transaction batch", db.transaction_batches, transactions.finish_batch),
            ("target batch", db.target_batches, targets.complete),
            ("program", db.programs, programs.complete),
            ("segment", db.segments, segments.complete_segment),
            ("dealer", db.dealers, membership.complete_dealer),
            ("settlement", db.settlements, settlement.complete),
            ("period close", db.period_locks, closing.complete_close),
            ("dispute", db.disputes, disputes.complete),
            ("scorecard", db.scorecards, scorecards.complete),
            ("violation", db.violations, violations.complete),
            ("rebate account entry", db.rebate_entries, rebate_accounts.complete),
            ("alert change", db.alerts, _audited(db.alerts)),
            ("scorecard template", db.scorecard_templates, _audited(db.scorecard_templates))]


def _audited(collection: AsyncCollection[dict[str, Any]]) -> Completer:
    async def complete(deps: Deps, doc: dict[str, Any]) -> None:
        await pending.complete_audited(deps.db, collection, doc)
    return complete


async def recover(deps: Deps, *, older_than: dt.datetime | None = None) -> int:
    """Complete every operation pending since before `older_than` (default: the grace
    period ago); returns how many."""
    cutoff = older_than or deps.now() - dt.timedelta(
        seconds=deps.settings.recovery_grace_seconds)
    done = 0
    for batch in await txn_repo.batches_to_recheck(deps.db, deps.now()):
        await transactions.recheck_batch(deps, batch)
    for what, collection, complete in _completers(deps):
        for doc in await pending.stale(collection, older_than=cutoff):
            log.warning("recovery: finishing %s %s", what, doc["_id"])
            await complete(deps, doc)
            done += 1
    return done


async def repair_claims(deps: Deps) -> int:
    repaired = await settlement.repair_claims(deps)
    if repaired:
        log.warning("recovery: %d settlement claims without their document repaired", repaired)
    return repaired
