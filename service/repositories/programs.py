"""Program documents: `programs` holds the current version, `program_versions` every version
an accrual may have used (immutable once the program is ACTIVE)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.periods import PeriodKind
from domain.programs import (
    Accumulation,
    PayoutForm,
    ProgramRules,
    ProgramStatus,
    Terms,
)
from domain.tiers import RateKind, RebateBasis, Tier, TierEvaluation, TierMeasure, TierMode
from service.db import Database
from service.errors import unique_violation_as_conflict
from service.repositories.pending import FIELD as PENDING
from service.repositories.pending import clear as clear_marker


@dataclass(frozen=True)
class StoredProgram:
    rules: ProgramRules
    status: ProgramStatus

    @property
    def code(self) -> str:
        return self.rules.code


def _terms_doc(terms: Terms) -> dict[str, Any]:
    return {"segmentCode": terms.segment_code, "cap": terms.cap,
            "tiers": [{"threshold": t.threshold, "rate": t.rate} for t in terms.tiers]}


def to_doc(rules: ProgramRules, status: ProgramStatus) -> dict[str, Any]:
    return {
        "code": rules.code, "version": rules.version, "status": status.value,
        "name": rules.name, "basis": rules.basis.value, "rateKind": rules.rate_kind.value,
        "tierMode": rules.tier_mode.value, "periodKind": rules.period_kind.value,
        "accumulation": rules.accumulation.value, "validFrom": rules.valid_from.isoformat(),
        "validTo": rules.valid_to.isoformat(), "currency": rules.currency,
        "productCodes": list(rules.product_codes), "terms": [_terms_doc(t) for t in rules.terms],
        "payoutForm": rules.payout_form.value, "taxRate": rules.tax_rate,
        "scorecardTemplateCode": rules.scorecard_template_code,
        "tierMeasure": rules.tier_measure.value, "tierEvaluation": rules.tier_evaluation.value,
        "minimumPayout": rules.minimum_payout,
        "creditValidityDays": rules.credit_validity_days,
    }


def from_doc(doc: dict[str, Any]) -> StoredProgram:
    rules = ProgramRules(
        code=doc["code"], name=doc["name"], basis=RebateBasis(doc["basis"]),
        rate_kind=RateKind(doc["rateKind"]), tier_mode=TierMode(doc["tierMode"]),
        period_kind=PeriodKind(doc["periodKind"]),
        accumulation=Accumulation(doc["accumulation"]),
        valid_from=dt.date.fromisoformat(doc["validFrom"]),
        valid_to=dt.date.fromisoformat(doc["validTo"]), currency=doc["currency"],
        terms=tuple(Terms(segment_code=t.get("segmentCode"), cap=t.get("cap"),
                          tiers=tuple(Tier(Decimal(x["threshold"]), Decimal(x["rate"]))
                                      for x in t["tiers"])) for t in doc["terms"]),
        payout_form=PayoutForm(doc["payoutForm"]),
        product_codes=tuple(doc.get("productCodes") or ()),
        tax_rate=doc.get("taxRate", Decimal(0)),
        scorecard_template_code=doc.get("scorecardTemplateCode"), version=doc["version"],
        # documents from before targets and immediate rebates read as the defaults
        tier_measure=TierMeasure(doc.get("tierMeasure") or TierMeasure.BASIS.value),
        tier_evaluation=TierEvaluation(doc.get("tierEvaluation")
                                       or TierEvaluation.PERIOD_TOTAL.value),
        minimum_payout=doc.get("minimumPayout"),
        credit_validity_days=doc.get("creditValidityDays"))  # absent: credits never expire
    return StoredProgram(rules=rules, status=ProgramStatus(doc["status"]))


async def get(db: Database, code: str) -> StoredProgram | None:
    doc = await db.programs.find_one({"code": code})
    return from_doc(doc) if doc else None


async def get_many(db: Database, codes: Iterable[str]) -> dict[str, StoredProgram]:
    cursor = db.programs.find({"code": {"$in": list(dict.fromkeys(codes))}})
    return {doc["code"]: from_doc(doc) async for doc in cursor}


async def get_versions(db: Database,
                       keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], StoredProgram]:
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    query = {"$or": [{"code": code, "version": version} for code, version in wanted]}
    return {(doc["code"], doc["version"]): from_doc(doc)
            async for doc in db.program_versions.find(query)}


async def list_programs(db: Database, *, status: ProgramStatus | None = None,
                        codes: Iterable[str] | None = None) -> list[StoredProgram]:
    query: dict[str, Any] = {}
    if status is not None:
        query["status"] = status.value
    if codes is not None:
        query["code"] = {"$in": list(codes)}
    return [from_doc(d) async for d in db.programs.find(query).sort("code", 1)]


async def insert(db: Database, rules: ProgramRules, status: ProgramStatus, *,
                 now: dt.datetime, pending: dict[str, Any]) -> dict[str, Any]:
    """The new program with its pending marker; its version record and marks follow."""
    doc = {**to_doc(rules, status), "createdAt": now, "updatedAt": now, PENDING: pending}
    with unique_violation_as_conflict({"code": ("input", "code")}):
        await db.programs.insert_one(dict(doc))
    return doc


async def replace_current(db: Database, before: StoredProgram, rules: ProgramRules,
                          status: ProgramStatus, *, now: dt.datetime,
                          pending: dict[str, Any]) -> dict[str, Any] | None:
    """Write the new current version, only if nobody changed the program meanwhile."""
    doc = {**to_doc(rules, status), "updatedAt": now, PENDING: pending}
    result: dict[str, Any] | None = await db.programs.find_one_and_update(
        {"code": before.code, "version": before.rules.version, "status": before.status.value},
        {"$set": doc}, return_document=True)
    return result


async def record_version(db: Database, doc: dict[str, Any]) -> None:
    """Keep the version a program document holds (idempotent: keyed by code and version)."""
    version = {k: v for k, v in doc.items() if k not in ("_id", PENDING)}
    version["createdAt"] = doc["updatedAt"]  # when this version was made
    await db.program_versions.replace_one({"code": doc["code"], "version": doc["version"]},
                                          version, upsert=True)


async def clear_pending(db: Database, code: str, mark: dict[str, Any]) -> None:
    """Drop this marker (not a newer one another change wrote meanwhile)."""
    await clear_marker(db.programs, {"code": code, f"{PENDING}.since": mark["since"]})
