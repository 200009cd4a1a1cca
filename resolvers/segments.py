"""Segment queries and mutations. A DEALER sees only the segments it belongs to."""
from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.context import Info
from resolvers.guard import allow, attempt
from schema.segments import RefreshSegmentsPayload, Segment, SegmentInput, SegmentPayload
from service.repositories import segments as segment_repo
from service.usecases import segments as use_cases


async def visible_segment_codes(info: Info) -> set[str] | None:
    """None for staff (all visible); the caller's own segments for a DEALER."""
    if info.context.scope is None:
        return None
    own = await info.context.loaders.dealer_by_code.load(info.context.scope)
    return set(own.segment_codes) if own else set()


async def load_segment(info: Info, code: str) -> Segment | None:
    visible = await visible_segment_codes(info)
    if visible is not None and code not in visible:
        return None
    found = await info.context.loaders.segment_by_code.load(code)
    return Segment.from_domain(found) if found else None


async def segment(info: Info, code: Annotated[str, strawberry.argument(
        description="Segment code.")]) -> Segment | None:
    allow(info)
    return await load_segment(info, code.strip())


async def segments(info: Info) -> list[Segment]:
    allow(info)
    visible = await visible_segment_codes(info)
    found = await segment_repo.all_segments(info.context.deps.db, only=visible)
    return [Segment.from_domain(s) for s in found]


async def upsert_segment(info: Info, input: SegmentInput) -> SegmentPayload:
    allow(info)
    stored, errors = await attempt(lambda: use_cases.upsert_segment(
        info.context.deps, info.context.principal, code=input.code, name=input.name,
        priority=input.priority, description=input.description,
        rule=input.rule.to_domain() if input.rule else None,
        dealer_codes=input.dealer_codes,
        max_order_offset_percent=input.max_order_offset_percent))
    return SegmentPayload(segment=Segment.from_domain(stored) if stored else None,
                          user_errors=errors)


async def refresh_segments(info: Info) -> RefreshSegmentsPayload:
    """Recompute every membership: tenure and trailing sales move with the calendar."""
    allow(info)
    count = await use_cases.refresh_segments(info.context.deps, info.context.principal)
    return RefreshSegmentsPayload(segments=count)
