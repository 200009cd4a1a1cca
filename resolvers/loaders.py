"""Per-request DataLoaders: nested fields cost one query per level, not one per row."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from domain.dealers import Dealer
from domain.segments import Segment
from service.deps import Deps
from service.pagination import Page, page_of
from service.repositories import accruals as accrual_repo
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import segments as segment_repo
from service.repositories.accruals import StoredAccrual
from service.repositories.programs import StoredProgram


class SegmentByCodeLoader(DataLoader[str, Segment | None]):
    def __init__(self, deps: Deps) -> None:
        async def load(codes: list[str]) -> Sequence[Segment | None]:
            found = await segment_repo.get_many(deps.db, codes)
            return [found.get(code) for code in codes]
        super().__init__(load_fn=load)


class DealerByCodeLoader(DataLoader[str, Dealer | None]):
    """Scoped: a DEALER caller gets None for every dealer but its own."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(codes: list[str]) -> Sequence[Dealer | None]:
            found = await dealer_repo.get_many(deps.db, codes, scope=scope)
            return [found.get(code) for code in codes]
        super().__init__(load_fn=load)


SegmentPageKey = tuple[str, int, str | None]  # segment code, first, after (dealer code)


class DealersBySegmentLoader(DataLoader[SegmentPageKey, Page[Dealer]]):
    """`Segment.dealers(first, after)` for many segments: one query per distinct page size."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[SegmentPageKey]) -> Sequence[Page[Dealer]]:
            by_args: dict[tuple[int, str | None], list[str]] = defaultdict(list)
            for code, first, after in keys:
                by_args[(first, after)].append(code)
            pages: dict[SegmentPageKey, Page[Dealer]] = {}
            for (first, after), codes in by_args.items():
                found = await dealer_repo.pages_by_segment(
                    deps.db, codes, first=first, after=after, scope=scope)
                for code in codes:
                    items, total = found.get(code, ([], 0))
                    pages[(code, first, after)] = page_of(
                        items, [d.code for d in items], kind=dealer_repo.CURSOR_KIND,
                        first=first, total=total, after=after)
            return [pages[key] for key in keys]
        super().__init__(load_fn=load)


class ProgramByVersionLoader(DataLoader[tuple[str, int], StoredProgram | None]):
    def __init__(self, deps: Deps) -> None:
        async def load(keys: list[tuple[str, int]]) -> Sequence[StoredProgram | None]:
            found = await program_repo.get_versions(deps.db, keys)
            return [found.get(key) for key in keys]
        super().__init__(load_fn=load)


AccrualPageKey = tuple[str, str | None, str | None, int, str | None]
# dealer code, program code, period, first, after (accrual id)


class AccrualsByDealerLoader(DataLoader[AccrualPageKey, Page[StoredAccrual]]):
    """`Dealer.accruals(...)` for a page of dealers: one aggregation per distinct argument set."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[AccrualPageKey]) -> Sequence[Page[StoredAccrual]]:
            groups: dict[tuple[str | None, str | None, int, str | None], list[str]] = \
                defaultdict(list)
            for dealer, program, period, first, after in keys:
                groups[(program, period, first, after)].append(dealer)
            pages: dict[AccrualPageKey, Page[StoredAccrual]] = {}
            for (program, period, first, after), dealers in groups.items():
                found = await accrual_repo.pages_by_dealer(
                    deps.db, dealers, program_code=program, period=period, first=first,
                    after=after, scope=scope)
                for dealer in dealers:
                    items, total = found.get(dealer, ([], 0))
                    pages[(dealer, program, period, first, after)] = page_of(
                        items, [a.id for a in items], kind=accrual_repo.CURSOR_KIND,
                        first=first, total=total, after=after)
            return [pages[key] for key in keys]
        super().__init__(load_fn=load)


class Loaders:
    """Created once per request by the context getter."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        self.segment_by_code = SegmentByCodeLoader(deps)
        self.dealer_by_code = DealerByCodeLoader(deps, scope)
        self.dealers_by_segment = DealersBySegmentLoader(deps, scope)
        self.program_by_version = ProgramByVersionLoader(deps)
        self.accruals_by_dealer = AccrualsByDealerLoader(deps, scope)
