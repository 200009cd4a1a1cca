"""Disputes (申诉): a dealer questions an approved accrual; finance accepts or rejects."""
from __future__ import annotations

from decimal import Decimal

from bson import ObjectId
from bson.errors import InvalidId

from domain.codes import TEXT_MAX, clean_name
from domain.errors import NotFound, Problems
from domain.money import format_amount
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, ledger
from service.repositories import disputes as dispute_repo
from service.repositories.disputes import Dispute


async def open_dispute(deps: Deps, actor: Principal, accrual_id: str, reason: str) -> Dispute:
    """Only an APPROVED, unsettled accrual can be disputed; a DEALER only its own."""
    problems = Problems()
    text = clean_name(reason, ("input", "reason"), problems, limit=TEXT_MAX)
    try:
        query: dict[str, object] = {"_id": ObjectId(accrual_id)}
    except (InvalidId, TypeError):
        raise NotFound(("input", "accrualId"), "no such accrual") from None
    if actor.dealer_scope is not None:
        query["dealerCode"] = actor.dealer_scope
    accrual = await deps.db.accruals.find_one(query)
    if accrual is None:
        raise NotFound(("input", "accrualId"), "no such accrual")
    problems.raise_if_any()
    taken = await deps.db.accruals.find_one_and_update(
        {"_id": accrual["_id"], "status": "APPROVED", "settlementId": None},
        {"$set": {"status": "DISPUTED"}})
    if taken is None:
        problems.add(("input", "accrualId"),
                     f"only an APPROVED accrual not yet settled can be disputed; this one is "
                     f"{accrual['status']}", "LOCKED")
        problems.raise_if_any()
    dispute = await dispute_repo.insert(deps.db, accrual=accrual, reason=text,
                                        actor=actor.sub, now=deps.now())
    await audit.append(deps.db, actor=actor, action="openDispute", entity_type="Dispute",
                       entity_id=dispute.id, before={"accrualStatus": "APPROVED"},
                       after={"accrualStatus": "DISPUTED", "reason": text,
                              "accrualId": dispute.accrual_id}, now=deps.now(),
                       dealer_code=dispute.dealer_code)
    return dispute


async def resolve_dispute(deps: Deps, actor: Principal, dispute_id: str, *, accept: bool,
                          adjustment: Decimal | None, note: str | None) -> Dispute:
    problems = Problems()
    if not accept and adjustment is not None:
        problems.add(("input", "adjustmentAmount"), "a rejected dispute takes no adjustment")
    if adjustment is not None and adjustment == 0:
        problems.add(("input", "adjustmentAmount"), "leave it out rather than 0")
    cleaned = clean_name(note, ("input", "note"), problems, limit=TEXT_MAX) \
        if note and note.strip() else None
    current = await dispute_repo.get(deps.db, dispute_id)
    if current is None:
        raise NotFound(("input", "disputeId"), "no such dispute")
    if current.status != "OPEN":
        problems.add(("input", "disputeId"), f"the dispute is already {current.status}",
                     "LOCKED")
    problems.raise_if_any()
    resolved = await dispute_repo.resolve(
        deps.db, dispute_id, status="ACCEPTED" if accept else "REJECTED",
        adjustment=adjustment, note=cleaned, actor=actor.sub, now=deps.now())
    if resolved is None:  # resolved by someone else a moment ago
        problems.add(("input", "disputeId"), "the dispute was resolved meanwhile", "LOCKED")
        problems.raise_if_any()
    assert resolved is not None
    accrual_oid = ObjectId(resolved.accrual_id)
    if adjustment is not None:
        cause = f"dispute accepted: {cleaned or resolved.reason}"
        accrual = await deps.db.accruals.find_one({"_id": accrual_oid})
        assert accrual is not None
        await ledger.add_adjustment(
            deps.db, dealer_code=resolved.dealer_code, program_code=accrual["programCode"],
            target_period=accrual["period"], amount=adjustment, cause=cause, kind="DISPUTE",
            source_period=resolved.id, sequence=0, now=deps.now())
        net = accrual["netAmount"] + adjustment
        await deps.db.accruals.update_one({"_id": accrual_oid}, {
            "$inc": {"adjustmentAmount": adjustment, "netAmount": adjustment},
            "$push": {"calculation": {"$each": [
                {"label": f"Adjustment: {cause}", "formula": format_amount(adjustment),
                 "amount": adjustment},
                {"label": "Net after dispute", "formula":
                    f"{format_amount(accrual['netAmount'])} + {format_amount(adjustment)} = "
                    f"{format_amount(net)}", "amount": net}]}}})
    await deps.db.accruals.update_one({"_id": accrual_oid, "status": "DISPUTED"},
                                      {"$set": {"status": "APPROVED"}})
    await audit.append(deps.db, actor=actor, action="resolveDispute", entity_type="Dispute",
                       entity_id=resolved.id, before={"status": "OPEN"},
                       after={"status": resolved.status, "adjustmentAmount": adjustment,
                              "note": cleaned}, now=deps.now(),
                       dealer_code=resolved.dealer_code)
    return resolved
