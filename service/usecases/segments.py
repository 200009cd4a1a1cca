"""Segment use cases."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.segments import Segment, SegmentRule, validate_segment
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, pending
from service.repositories import dealers as dealer_repo
from service.repositories import segments as segment_repo
from service.repositories.ids import new_id
from service.usecases import membership


async def upsert_segment(deps: Deps, actor: Principal, *, code: str, name: str,
                         priority: int, description: str | None = None,
                         rule: SegmentRule | None = None,
                         dealer_codes: list[str] | None = None,
                         max_order_offset_percent: Decimal | None = None) -> Segment:
    known = await dealer_repo.existing_codes(deps.db, (c.strip() for c in dealer_codes or ()))
    taken = await segment_repo.priorities_taken(deps.db)
    segment = validate_segment(code=code, name=name, description=description,
                               priority=priority, rule=rule, dealer_codes=dealer_codes,
                               known_dealer_codes=known, priorities_taken=taken,
                               max_order_offset_percent=max_order_offset_percent)
    now = deps.now()
    mark = pending.marker(now, actor, auditId=new_id())
    before, after = await segment_repo.upsert(deps.db, segment, now=now, pending=mark)
    found, _ = await membership.refresh_segment(deps, segment)  # marks who moved
    await audit.append(deps.db, actor=actor, action="upsertSegment", entity_type="Segment",
                       entity_id=segment.code, before=pending.without_marker(before),
                       after={**pending.without_marker(after), "memberCount": len(found)},
                       now=now, event_id=mark["auditId"])
    await segment_repo.clear_pending(deps.db, segment.code, mark)
    return segment



async def complete_segment(deps: Deps, doc: dict[str, Any]) -> None:
    """Recovery of a segment written by a call that stopped before its members were
    refreshed: refresh them (which marks every dealer that moves), audit, clear."""
    mark = doc.get(pending.FIELD)
    if mark is None:
        return
    found, _ = await membership.refresh_segment(deps, segment_repo.from_doc(doc))
    await audit.append(deps.db, actor=pending.actor_of(mark), action="upsertSegment",
                       entity_type="Segment", entity_id=doc["code"], before=None,
                       after={**pending.without_marker(doc), "memberCount": len(found)},
                       now=mark["since"], event_id=mark["auditId"])
    await segment_repo.clear_pending(deps.db, doc["code"], mark)


async def refresh_segments(deps: Deps, actor: Principal) -> int:
    count, _ = await membership.refresh_all(deps)  # marks who moved
    await audit.append(deps.db, actor=actor, action="refreshSegments", entity_type="Segment",
                       entity_id="*", before=None, after={"segments": count}, now=deps.now())
    return count
