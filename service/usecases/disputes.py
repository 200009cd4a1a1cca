"""Disputes (申诉): a dealer questions an approved accrual; finance accepts or rejects.

Both steps take two writes — the dispute, then its accrual — so the dispute is written first
with a pending marker and its accrual follows (`complete`); a retry or the recovery pass
finishes whatever a stop left half-done, and an accrual is DISPUTED exactly while its one
OPEN dispute exists.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.codes import TEXT_MAX, clean_name
from domain.errors import NotFound, Problems
from domain.text import Text
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.repositories import audit, ledger, pending
from service.repositories import disputes as dispute_repo
from service.repositories.disputes import Dispute
from service.repositories.ids import new_id
from service.usecases import live


def _not_disputable(problems: Problems, status: str) -> None:
    problems.add(("input", "accrualId"), Text("only an APPROVED accrual not yet settled can be "
                                              "disputed; this one is {status}", status=status),
                 "LOCKED")
    problems.raise_if_any()


async def open_dispute(deps: Deps, actor: Principal, accrual_id: str, reason: str) -> Dispute:
    """Only an APPROVED, unsettled accrual can be disputed; a DEALER only its own."""
    problems = Problems()
    text = clean_name(reason, ("input", "reason"), problems, limit=TEXT_MAX)
    accrual = await accrual_repo.get_doc(deps.db, accrual_id, scope=actor.dealer_scope)
    if accrual is None:
        raise NotFound(("input", "accrualId"), Text("no such accrual"))
    problems.raise_if_any()
    for earlier in await dispute_repo.open_for_accrual(deps.db, str(accrual["_id"])):
        if pending.FIELD in earlier and not await complete(deps, earlier):
            continue  # a call that stopped half-way, finished now: it never took the accrual
        if earlier["openedBy"] == actor.sub and earlier["reason"] == text:
            return dispute_repo.from_doc(earlier)  # this is a retry of that call
    accrual = await accrual_repo.get_doc(deps.db, str(accrual["_id"])) or accrual
    if accrual["status"] != "APPROVED" or accrual.get("settlementId") is not None:
        _not_disputable(problems, accrual["status"])
    now = deps.now()
    dispute_id = new_id()
    event = audit.event(actor=actor, action="openDispute", entity_type="Dispute",
                        entity_id=str(dispute_id), before={"accrualStatus": "APPROVED"},
                        after={"accrualStatus": "DISPUTED", "reason": text,
                               "accrualId": str(accrual["_id"])}, now=now,
                        dealer_code=accrual["dealerCode"], event_id=dispute_id)
    doc = await dispute_repo.insert(deps.db, dispute_id, accrual=accrual, reason=text,
                                    actor=actor.sub, now=now,
                                    pending=pending.marker(now, actor, audit=event))
    failpoints.hit("dispute.after_insert")
    if not await complete(deps, doc):
        _not_disputable(problems, "settled or changed meanwhile")
    return dispute_repo.from_doc(doc)


async def resolve_dispute(deps: Deps, actor: Principal, dispute_id: str, *, accept: bool,
                          adjustment: Decimal | None, note: str | None) -> Dispute:
    problems = Problems()
    if not accept and adjustment is not None:
        problems.add(("input", "adjustmentAmount"), Text("a rejected dispute takes no adjustment"))
    if adjustment is not None and adjustment == 0:
        problems.add(("input", "adjustmentAmount"), Text("leave it out rather than 0"))
    cleaned = clean_name(note, ("input", "note"), problems, limit=TEXT_MAX) \
        if note and note.strip() else None
    current = await dispute_repo.get_doc(deps.db, dispute_id)
    if current is None:
        raise NotFound(("input", "disputeId"), Text("no such dispute"))
    status = "ACCEPTED" if accept else "REJECTED"
    if current["status"] == "OPEN" and pending.FIELD in current \
            and not await complete(deps, current):  # its opening stopped half-way
        raise NotFound(("input", "disputeId"), Text("no such dispute"))
    if current["status"] != "OPEN":
        if current["status"] == status and pending.FIELD in current and not problems:
            await complete(deps, current)  # a retry of a resolution that stopped half-way
            return dispute_repo.from_doc(current)
        problems.add(("input", "disputeId"),
                     Text("the dispute is already {status}", status=current["status"]), "LOCKED")
    problems.raise_if_any()
    now = deps.now()
    event = audit.event(actor=actor, action="resolveDispute", entity_type="Dispute",
                        entity_id=dispute_id, before={"status": "OPEN"},
                        after={"status": status, "adjustmentAmount": adjustment,
                               "note": cleaned}, now=now, dealer_code=current["dealerCode"])
    resolved = await dispute_repo.resolve(
        deps.db, dispute_id, status=status, adjustment=adjustment, note=cleaned,
        actor=actor.sub, now=now, pending=pending.marker(now, actor, audit=event))
    if resolved is None:  # resolved by someone else a moment ago
        problems.add(("input", "disputeId"), Text("the dispute was resolved meanwhile"),
                     "LOCKED")
        problems.raise_if_any()
    assert resolved is not None
    failpoints.hit("dispute.after_resolve")
    await complete(deps, resolved)
    return dispute_repo.from_doc(resolved)


async def complete(deps: Deps, dispute: dict[str, Any]) -> bool:
    """Bring the accrual in line with its dispute, then drop the marker; False when an
    opened dispute could not take its accrual (settled or changed first) and was voided."""
    mark = dispute.get(pending.FIELD)
    if mark is None:
        return True
    if dispute["status"] == "OPEN":
        if not await accrual_repo.take_for_dispute(deps.db, dispute["accrualId"],
                                                   dispute["_id"]):
            await dispute_repo.void(deps.db, dispute["_id"])
            return False
    else:
        adjustment: Decimal | None = dispute.get("adjustmentAmount")
        cause = Text("dispute accepted: {note}",
                     note=dispute.get("resolutionNote") or dispute["reason"])
        if adjustment is not None:
            await ledger.add_adjustment(
                deps.db, dealer_code=dispute["dealerCode"], program_code=dispute["programCode"],
                target_period=dispute["period"], amount=adjustment, cause=cause,
                kind="DISPUTE", source_period=str(dispute["_id"]), sequence=0,
                now=mark["since"])
        await accrual_repo.release_from_dispute(deps.db, dispute["accrualId"], dispute["_id"],
                                                adjustment=adjustment, cause=cause)
    await live.publish(deps, dispute["programCode"], dispute["period"], [dispute["dealerCode"]])
    if mark.get("audit"):
        await audit.write(deps.db, mark["audit"])
    await dispute_repo.clear_pending(deps.db, dispute["_id"])
    return True
