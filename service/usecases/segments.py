"""Segment use cases."""
from __future__ import annotations

from domain.segments import Segment, SegmentRule, validate_segment
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit
from service.repositories import dealers as dealer_repo
from service.repositories import segments as segment_repo
from service.usecases import accrual_jobs, membership


async def upsert_segment(deps: Deps, actor: Principal, *, code: str, name: str,
                         priority: int, description: str | None = None,
                         rule: SegmentRule | None = None,
                         dealer_codes: list[str] | None = None) -> Segment:
    known = await dealer_repo.existing_codes(deps.db, (c.strip() for c in dealer_codes or ()))
    taken = await segment_repo.priorities_taken(deps.db)
    segment = validate_segment(code=code, name=name, description=description,
                               priority=priority, rule=rule, dealer_codes=dealer_codes,
                               known_dealer_codes=known, priorities_taken=taken)
    before, after = await segment_repo.upsert(deps.db, segment, now=deps.now())
    found, moved = await membership.refresh_segment(deps, segment)
    await accrual_jobs.mark_dealers_everywhere(deps, moved)
    await audit.append(deps.db, actor=actor, action="upsertSegment", entity_type="Segment",
                       entity_id=segment.code, before=before,
                       after={**after, "memberCount": len(found)}, now=deps.now())
    return segment


async def refresh_segments(deps: Deps, actor: Principal) -> int:
    count, moved = await membership.refresh_all(deps)
    await accrual_jobs.mark_dealers_everywhere(deps, moved)
    await audit.append(deps.db, actor=actor, action="refreshSegments", entity_type="Segment",
                       entity_id="*", before=None, after={"segments": count}, now=deps.now())
    return count
