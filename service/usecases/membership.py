"""Segment membership, recomputed when a dealer, a segment or sales change.

A dealer whose segments change may get other terms in every active program, so its
accruals are marked for recomputation. The change and a pending marker are written in one
update, the marks follow, and the marker is cleared last: a stop in between leaves the
marker for the recovery pass (`complete_dealer`), so no move goes unrecomputed.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from domain.money import ZERO
from domain.segments import Segment, members, memberships
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import audit, pending
from service.repositories import dealers as dealer_repo
from service.repositories import segments as segment_repo
from service.repositories.sales import trailing_sales
from service.usecases import accrual_jobs

SYSTEM = Principal(sub="membership", role=Role.SERVICE)  # moves nobody asked for directly


async def refresh_dealers(deps: Deps, codes: Sequence[str],
                          segments: list[Segment] | None = None, *,
                          mark: dict[str, Any] | None = None) -> list[str]:
    """Recompute the segments of these dealers; returns the codes whose segments changed
    (their accruals marked). With the caller's own `mark`, clearing it is the caller's."""
    segments = segments if segments is not None else await segment_repo.all_segments(deps.db)
    dealers = await dealer_repo.get_many(deps.db, codes)
    sales = await _sales_if_needed(deps, segments, list(dealers))
    today = deps.today()
    changes = {}
    for code, dealer in dealers.items():
        found = memberships(segments, dealer, as_of=today, trailing_sales=sales.get(code, ZERO))
        if found != dealer.segment_codes:
            changes[code] = found
    moving = mark or _system_mark(deps)
    await dealer_repo.set_segments_of(deps.db, changes, pending=moving)
    await _recompute_moved(deps, set(changes), moving, clear=mark is None)
    return sorted(changes)


def _system_mark(deps: Deps) -> dict[str, Any]:
    return pending.marker(deps.now(), SYSTEM)


async def _recompute_moved(deps: Deps, moved: set[str], mark: dict[str, Any], *,
                           clear: bool = True) -> None:
    if not moved:
        return
    await accrual_jobs.mark_dealers_everywhere(deps, sorted(moved))
    if clear:
        await dealer_repo.clear_pending(deps.db, moved, mark)


async def complete_dealer(deps: Deps, doc: dict[str, Any]) -> None:
    """Recovery of a dealer left with a pending marker (its segments, status or data
    changed and the process stopped before all that follows): recompute its segments, mark
    its accruals everywhere, write the audit event the marker holds, clear the marker."""
    mark = doc.get(pending.FIELD)
    if mark is None:
        return
    await refresh_dealers(deps, [doc["code"]], mark=mark)
    await accrual_jobs.mark_dealers_everywhere(deps, [doc["code"]])
    if mark.get("audit"):
        await audit.write(deps.db, mark["audit"])
    await dealer_repo.clear_pending(deps.db, {doc["code"]}, mark)


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
    mark = _system_mark(deps)
    await dealer_repo.set_segment_members(deps.db, segment.code, found, pending=mark)
    await _recompute_moved(deps, found ^ before, mark)
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
