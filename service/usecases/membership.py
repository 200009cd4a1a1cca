"""Segment membership, recomputed when a dealer, a segment or sales change."""
from __future__ import annotations

from decimal import Decimal

from domain.money import ZERO
from domain.segments import Segment, members, memberships
from service.deps import Deps
from service.repositories import dealers as dealer_repo
from service.repositories import segments as segment_repo
from service.repositories.sales import trailing_sales


async def refresh_dealer(deps: Deps, code: str) -> tuple[str, ...]:
    """Recompute one dealer's segments (after the dealer changed)."""
    dealer = await dealer_repo.get(deps.db, code)
    if dealer is None:
        return ()
    segments = await segment_repo.all_segments(deps.db)
    today = deps.today()
    sales = await _sales_if_needed(deps, segments, [code])
    codes = memberships(segments, dealer, as_of=today, trailing_sales=sales.get(code, ZERO))
    await dealer_repo.set_segments(deps.db, code, codes)
    return codes


async def refresh_segment(deps: Deps, segment: Segment) -> set[str]:
    """Recompute one segment's members (after the segment changed)."""
    dealers = [d async for d in dealer_repo.stream_all(deps.db)]
    sales = await _sales_if_needed(deps, [segment], None)
    found = members(segment, dealers, as_of=deps.today(), trailing_sales=sales)
    await dealer_repo.set_segment_members(deps.db, segment.code, found)
    return found


async def refresh_all(deps: Deps) -> int:
    """Recompute every segment (tenure and trailing sales move with the calendar)."""
    segments = await segment_repo.all_segments(deps.db)
    for segment in segments:
        await refresh_segment(deps, segment)
    return len(segments)


async def _sales_if_needed(deps: Deps, segments: list[Segment],
                           dealer_codes: list[str] | None) -> dict[str, Decimal]:
    if not any(s.rule is not None and s.rule.needs_trailing_sales for s in segments):
        return {}
    return dict(await trailing_sales(deps.db, as_of=deps.today(),
                                     currency=deps.settings.base_currency,
                                     dealer_codes=dealer_codes))
