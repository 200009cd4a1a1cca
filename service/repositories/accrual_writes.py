"""Recomputed accruals written: each under its compare-and-set guard, so a slow, stale
computation never overwrites a newer one and approved money is never touched.

A computation reads what a period's accruals hold (`stored_of_period`), makes its writes
without the database (`plan`: the documents, their figures' digests, tier notices), then
makes them (`write_plan`): an accrual recomputed to the figures it has is not written again,
only its sales stamp moves; many rewrites of one period go as a few keyed-merge statements
(`writes.merge_by_key`), the rest as single guarded updates and inserts.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import InsertOne, UpdateOne

from domain.net import AccrualStatus
from service.db import Database
from service.repositories import outbox, writes
from service.repositories.accruals import RECOMPUTABLE, ComputedAccrual
from service.repositories.query import narrowing
from service.repositories.texts import trace_doc


def _figures_doc(item: ComputedAccrual, now: dt.datetime) -> dict[str, Any]:
    f = item.figures
    doc: dict[str, Any] = {
        "programVersion": item.program_version, "periodStart": item.period.start.isoformat(),
        "periodEnd": item.period.end.isoformat(), "basis": f.basis,
        "cumulativeBasis": f.cumulative_basis, "rate": f.rate, "grossAmount": f.gross_amount,
        "scoreMultiplier": f.score_multiplier, "deductionPercent": f.deduction_percent,
        "deductionAmount": f.deduction_amount, "capReduction": f.cap_reduction,
        "adjustmentAmount": f.adjustment_amount, "netAmount": f.net_amount,
        "status": f.status.value,
        "calculation": trace_doc(f.calculation), "currency": f.currency,
        "computedAt": now, "inputsVersion": item.inputs_version,
        "target": f.target, "achievementPercent": f.achievement_percent,
        "carriedForward": f.carried_forward, "carriedIn": f.carried_in,
    }
    doc["figuresDigest"] = _digest(doc)
    return doc


# A rewritten accrual's trace is computed afresh: the steps added to it since (`notes`: a
# forfeiture, a dispute's adjustment) go with the figures they explained.
REWRITE: dict[str, Any] = {"$unset": {"notes": ""}}


def _digest(figures: dict[str, Any]) -> str:
    """The figures' identity (not when or from which sales version they were computed): an
    accrual recomputed to the same figures is not written again."""
    kept = {k: v for k, v in figures.items() if k not in ("computedAt", "inputsVersion")}
    text = json.dumps(kept, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Saved:
    written: int  # accruals inserted or changed
    refused: int  # writes their guard refused: approved, or computed from newer sales meanwhile


async def save_computed(db: Database, items: Sequence[ComputedAccrual], *,
                        now: dt.datetime, tier_notices: bool = True) -> int:
    """Write recomputed accruals; returns how many were written (see save_counted)."""
    return (await save_counted(db, items, now=now, tier_notices=tier_notices)).written


async def stored_of_period(db: Database, program_code: str, period: str,
                           dealer_codes: Iterable[str] | None = None
                           ) -> dict[str, dict[str, Any]]:
    """What save_counted compares a recomputation with: by dealer (of `dealer_codes`, None:
    all), the period's stored accrual's id, figures digest, sales stamp and rate."""
    query: dict[str, Any] = {"programCode": program_code, "period": period}
    wanted = None if dealer_codes is None else set(dealer_codes)
    if wanted is not None and (narrowed := narrowing(wanted)) is not None:
        query["dealerCode"] = narrowed
    return {doc["dealerCode"]: doc async for doc in db.accruals.find(
        query, {"dealerCode": 1, "figuresDigest": 1, "inputsVersion": 1, "rate": 1})
        if wanted is None or doc["dealerCode"] in wanted}


async def save_counted(db: Database, items: Sequence[ComputedAccrual], *,
                       now: dt.datetime, tier_notices: bool = True,
                       stored: Mapping[str, dict[str, Any]] | None = None) -> Saved:
    """Write recomputed accruals; says how many were written and how many refused.
    `stored`: stored_of_period of these dealers, read by the caller (before it computed).

    A write lands only on an accrual that is still recomputable and was computed from the
    same or older sales data (`inputsVersion`): a slow, stale computation can never
    overwrite a newer one, and the unique key means a dealer never gets two accruals for
    one program period, however many workers run. Existing accruals are found with one
    read and then updated by `_id` with the guard in the filter (a compare-and-set); new
    ones are inserted, and a twin inserted meanwhile wins. `tier_notices`: note a tier
    reached in the accrual's write, for the webhooks (service/usecases/events.py).
    """
    if not items:
        return Saved(0, 0)
    if stored is None:
        first = items[0]
        stored = await stored_of_period(db, first.program_code, first.period.name,
                                        [item.dealer_code for item in items])
    return await write_plan(db, plan(items, stored, now=now, tier_notices=tier_notices))


@dataclass(frozen=True)
class Plan:
    """Recomputed accruals of one program period as the writes that save them (`plan`)."""

    scope: dict[str, str]  # the program period
    changes: dict[str, dict[str, Any]]  # by dealer: what its existing accrual gets
    found_ids: dict[str, Any]  # by dealer: its existing accrual's id
    inserts: list[InsertOne[dict[str, Any]]]  # the new accruals

    @property
    def intended(self) -> int:
        return len(self.changes) + len(self.inserts)


def plan(items: Sequence[ComputedAccrual], stored: Mapping[str, dict[str, Any]], *,
         now: dt.datetime, tier_notices: bool = True) -> Plan:
    """The writes that save these accruals of one program period (save_counted), made
    without the database: a round makes a period's while the period before is written."""
    changes: dict[str, dict[str, Any]] = {}
    found_ids: dict[str, Any] = {}
    inserts: list[InsertOne[dict[str, Any]]] = []
    for item in items:
        figures = _figures_doc(item, now)
        if tier_notices:  # for the webhooks, when there are any
            figures |= outbox.tier_notice(stored.get(item.dealer_code), figures, now)
        if (found := stored.get(item.dealer_code)) is not None:
            found_ids[item.dealer_code] = found["_id"]
            if found.get("figuresDigest") != figures["figuresDigest"]:
                # a rewrite empties the later steps, as REWRITE does
                changes[item.dealer_code] = figures | {"notes": []}
            elif int(found.get("inputsVersion", 0)) < item.inputs_version:
                # the same figures from newer sales data: only the stamp moves (a slower,
                # older computation must still not overwrite them)
                # (and only onto the figures found: not onto others written meanwhile)
                changes[item.dealer_code] = {"inputsVersion": item.inputs_version,
                                             "figuresDigest": figures["figuresDigest"]}
        else:
            inserts.append(InsertOne({"programCode": item.program_code,
                                      "period": item.period.name,
                                      "dealerCode": item.dealer_code, **figures}))
    scope = dict(query_scope(items[0])) if items else {}
    return Plan(scope, changes, found_ids, inserts)


async def write_plan(db: Database, planned: Plan) -> Saved:
    """Make a plan's writes, each under its guard; how many landed, how many were refused."""
    changes = planned.changes
    changed = 0
    if len(changes) >= KEYED_MERGE_MIN and writes.plain_keys(list(changes)) \
            and await db.has_keyed_merge():
        changed = await writes.merge_by_key(db.accruals, planned.scope, "dealerCode", changes,
                                            MERGE_GUARD, marker="inputsVersion")
        changes = {}
    operations: list[UpdateOne | InsertOne[dict[str, Any]]] = [
        UpdateOne({"_id": planned.found_ids[code], "status": {"$in": list(RECOMPUTABLE)},
                   "inputsVersion": {"$lte": change["inputsVersion"]}}
                  | ({} if "calculation" in change else {
                      "figuresDigest": change["figuresDigest"]}),
                  {"$set": change})
        for code, change in changes.items()]
    operations += planned.inserts
    if operations:
        # a duplicate key: a twin inserted meanwhile by another computation — it is left be
        changed += (await writes.bulk_write(db, db.accruals, operations)).changed
    return Saved(changed, planned.intended - changed)


# From this many accruals of one period to update, one statement updates many of them
# (writes.merge_by_key): the final round after a year's import rewrites every accrual.
KEYED_MERGE_MIN = 50
# The per-document filter of save_computed as an expression (writes.merge_by_key).
MERGE_GUARD: dict[str, Any] = {"$and": [
    {"$in": ["$status", list(RECOMPUTABLE)]},
    {"$lte": [{"$ifNull": ["$inputsVersion", 0]}, "$$entry.inputsVersion"]},
    {"$or": [{"$ne": [{"$ifNull": ["$$entry.calculation", None]}, None]},  # a rewrite, or
             {"$eq": ["$figuresDigest", "$$entry.figuresDigest"]}]}]}  # the stamp only


def query_scope(item: ComputedAccrual) -> dict[str, str]:
    return {"programCode": item.program_code, "period": item.period.name}


async def save_locked_release(db: Database, items: Sequence[ComputedAccrual], *,
                              now: dt.datetime) -> None:
    """In a closed period, only an accrual that was never approved (ON_HOLD, or OPEN left by
    a computation racing the close) may still be written — and it is approved as it lands."""
    for item in items:
        await db.accruals.update_one(
            {"programCode": item.program_code, "period": item.period.name,
             "dealerCode": item.dealer_code,
             "status": {"$in": [AccrualStatus.ON_HOLD.value, AccrualStatus.OPEN.value]}},
            REWRITE | {"$set": {**_figures_doc(item, now), "approvedAt": now}})
