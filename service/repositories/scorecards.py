"""Scorecard templates and scorecards. `scope` (a dealer code or None) limits scorecard reads
for DEALER callers; templates are policy and readable by everyone.

A scorecard stores the KPI definitions it was scored with next to each actual, so what a
dealer was measured against stays explainable even if the business later uses a new template.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from domain.net import ScorecardResult
from domain.periods import parse_period
from domain.scorecards import (
    Kpi,
    KpiDirection,
    KpiScore,
    ScoreBand,
    Scorecard,
    ScorecardTemplate,
    ScoreSheet,
)
from service.db import Database
from service.errors import unique_violation_as_conflict
from service.repositories.ids import DocumentId
from service.repositories.pending import FIELD as PENDING
from service.repositories.pending import clear as clear_marker
from service.repositories.query import one_of


def _kpi_doc(kpi: Kpi) -> dict[str, Any]:
    return {"code": kpi.code, "name": kpi.name, "weight": kpi.weight, "target": kpi.target,
            "direction": kpi.direction.value}


def _kpi(doc: dict[str, Any]) -> Kpi:
    return Kpi(code=doc["code"], name=doc["name"], weight=doc["weight"], target=doc["target"],
               direction=KpiDirection(doc["direction"]))


def template_from_doc(doc: dict[str, Any]) -> ScorecardTemplate:
    return ScorecardTemplate(
        code=doc["code"], name=doc["name"], kpis=tuple(_kpi(k) for k in doc["kpis"]),
        bands=tuple(ScoreBand(min_score=b["minScore"], multiplier=b["multiplier"])
                    for b in doc["bands"]))


def scorecard_from_doc(doc: dict[str, Any]) -> Scorecard:
    lines = tuple(KpiScore(kpi=_kpi(r["kpi"]), actual=r["actual"], score=r["score"])
                  for r in doc["results"])
    return Scorecard(
        dealer_code=doc["dealerCode"], template_code=doc["templateCode"], period=doc["period"],
        sheet=ScoreSheet(kpi_scores=lines,
                         result=ScorecardResult(score=doc["score"],
                                                multiplier=doc["multiplier"])))


def _scoped(query: dict[str, Any], scope: str | None) -> dict[str, Any]:
    return query if scope is None else {"$and": [query, {"dealerCode": scope}]}


# ---- templates -------------------------------------------------------------------------

async def get_template(db: Database, code: str) -> ScorecardTemplate | None:
    doc = await db.scorecard_templates.find_one({"code": code})
    return template_from_doc(doc) if doc else None


async def get_templates(db: Database, codes: Iterable[str]) -> dict[str, ScorecardTemplate]:
    cursor = db.scorecard_templates.find({"code": {"$in": list(dict.fromkeys(codes))}})
    return {doc["code"]: template_from_doc(doc) async for doc in cursor}


async def all_templates(db: Database) -> list[ScorecardTemplate]:
    docs = await db.scorecard_templates.find({}).sort("code", 1).to_list()
    return [template_from_doc(d) for d in docs]


def template_doc(template: ScorecardTemplate, now: dt.datetime) -> dict[str, Any]:
    return {"code": template.code, "name": template.name,
            "kpis": [_kpi_doc(k) for k in template.kpis],
            "bands": [{"minScore": b.min_score, "multiplier": b.multiplier}
                      for b in template.bands],
            "createdAt": now}


async def insert_template(db: Database, template: ScorecardTemplate, *, now: dt.datetime,
                          pending: dict[str, Any]) -> dict[str, Any]:
    """The template with the pending marker of its audit event."""
    doc = {**template_doc(template, now), PENDING: pending}
    with unique_violation_as_conflict({"code": ("input", "code")}):
        await db.scorecard_templates.insert_one(doc)
    return doc


# ---- scorecards ------------------------------------------------------------------------

def _key(dealer_code: str, template_code: str, period: str) -> dict[str, str]:
    return {"dealerCode": dealer_code, "templateCode": template_code, "period": period}


async def get(db: Database, dealer_code: str, template_code: str, period: str, *,
              scope: str | None = None) -> Scorecard | None:
    doc = await db.scorecards.find_one(_scoped(_key(dealer_code, template_code, period), scope))
    return scorecard_from_doc(doc) if doc else None


async def by_dealers(db: Database, dealer_codes: Iterable[str], *,
                     periods: Iterable[str] | None, scope: str | None) -> list[Scorecard]:
    """Scorecards of many dealers (optionally only some periods), oldest period first."""
    query: dict[str, Any] = {"dealerCode": one_of(dealer_codes)}
    if periods is not None:
        query["period"] = {"$in": list(dict.fromkeys(periods))}
    sort = [("dealerCode", 1), ("periodStart", 1), ("period", 1), ("templateCode", 1)]
    docs = await db.scorecards.find(_scoped(query, scope)).sort(sort).to_list()
    return [scorecard_from_doc(d) for d in docs]


async def results_for(db: Database, template_code: str, period_name: str,
                      dealer_codes: Iterable[str]) -> dict[str, ScorecardResult]:
    """Score and multiplier per dealer for one template and period: one query for many dealers.

    Dealers without a scorecard are absent (their accruals are ON_HOLD).
    """
    query = {"templateCode": template_code, "period": period_name,
             "dealerCode": one_of(dealer_codes)}
    fields = {"dealerCode": 1, "score": 1, "multiplier": 1, "_id": 0}
    return {doc["dealerCode"]: ScorecardResult(score=doc["score"], multiplier=doc["multiplier"])
            async for doc in db.scorecards.find(query, fields)}


def _scorecard_fields(card: Scorecard) -> dict[str, Any]:
    return {
        "periodStart": parse_period(card.period).start.isoformat(),
        "results": [{"kpi": _kpi_doc(line.kpi), "actual": line.actual, "score": line.score}
                    for line in card.sheet.kpi_scores],
        "score": card.sheet.score, "multiplier": card.sheet.multiplier,
    }


async def replace(db: Database, card: Scorecard, *, now: dt.datetime,
                  pending: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Store a dealer's scorecard for a template and period, replacing any earlier one,
    with its pending marker (the accruals it moves are marked next).

    Returns the stored document before (None: the first recording) and after.
    """
    key = _key(card.dealer_code, card.template_code, card.period)
    update = {"$set": {**_scorecard_fields(card), "recordedAt": now, PENDING: pending},
              "$setOnInsert": {"createdAt": now}}
    try:
        before = await db.scorecards.find_one_and_update(
            key, update, upsert=True, return_document=ReturnDocument.BEFORE)
    except DuplicateKeyError:
        # Two first recordings raced and the other inserted: ours now simply replaces it.
        before = await db.scorecards.find_one_and_update(
            key, update, return_document=ReturnDocument.BEFORE)
    after = await db.scorecards.find_one(key)
    assert after is not None
    return before, after


async def clear_pending(db: Database, scorecard_id: DocumentId,
                        mark: dict[str, Any]) -> None:
    """Drop this marker (not a newer one a re-recording wrote meanwhile)."""
    await clear_marker(db.scorecards, {"_id": scorecard_id, f"{PENDING}.since": mark["since"]})
