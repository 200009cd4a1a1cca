"""Segment membership, recomputed when a dealer, a segment or sales change."""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pymongo import UpdateOne

from domain.money import ZERO
from domain.segments import Segment, members, memberships
from service.deps import Deps
from service.repositories import dealers as dealer_repo
from service.repositories import segments as segment_repo
from service.repositories.sales import trailing_sales


async def refresh_dealers(deps: Deps, codes: Sequence[str],
                          segments: list[Segment] | None = None) -> list[str]:
    """Recompute the segments of these dealers; returns the codes whose segments changed."""
    segments = segments if segments is not None else await segment_repo.all_segments(deps.db)
    dealers = await dealer_repo.get_many(deps.db, codes)
    sales = await _sales_if_needed(deps, segments, list(dealers))
    today = deps.today()
    changes = {}
    for code, dealer in dealers.items():
        found = memberships(segments, dealer, as_of=today, trailing_sales=sales.get(code, ZERO))
        if found != dealer.segment_codes:
            changes[code] = found
    if changes:
        await deps.db.dealers.bulk_write(
            [UpdateOne({"code": code}, {"$set": {"segmentCodes": list(found)}})
             for code, found in changes.items()], ordered=False)
    return sorted(changes)


async def refresh_dealers_for_sales(deps: Deps, codes: Sequence[str]) -> list[str]:
    """After new sales: only trailing-sales rules can move, so skip the work without them."""
    segments = await segment_repo.all_segments(deps.db)
    if not any(s.rule is not None and s.rule.needs_trailing_sales for s in segments):
        return []
    return await refresh_dealers(deps, codes, segments)


async def refresh_segment(deps: Deps, segment: Segment) -> tuple[set[str], set[str]]:
    """Recompute one segment's members; returns (members, dealers that joined or left)."""
    dealers = [d async for d in dealer_repo.stream_all(deps.db)]
    sales = await _sales_if_needed(deps, [segment], None)
    found = members(segment, dealers, as_of=deps.today(), trailing_sales=sales)
    before = {d.code for d in dealers if segment.code in d.segment_codes}
    await dealer_repo.set_segment_members(deps.db, segment.code, found)
    return found, found ^ before


async def refresh_all(deps: Deps) -> tuple[int, set[str]]:
    """Recompute every segment (tenure and trailing sales move with the calendar)."""
    segments = await segment_repo.all_segments(deps.db)
    moved: set[str] = set()
    for segment in segments:
        moved |= (await refresh_segment(deps, segment))[1]
    return len(segments), moved


async def _sales_if_needed(deps: Deps, segments: list[Segment],
                           dealer_codes: list[str] | None) -> dict[str, Decimal]:
    if not any(s.rule is not None and s.rule.needs_trailing_sales for s in segments):
        return {}
    return dict(await trailing_sales(deps.db, as_of=deps.today(),
                                     currency=deps.settings.base_currency,
                                     dealer_codes=dealer_codes))
