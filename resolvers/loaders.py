"""Per-request DataLoaders: nested fields cost one query per level, not one per row."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from domain.dealers import Dealer
from domain.scorecards import Scorecard, ScorecardTemplate
from domain.segments import Segment
from domain.violations import Violation
from service.deps import Deps
from service.pagination import Page, PageRequest
from service.repositories import accruals as accrual_repo
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import scorecards as scorecard_repo
from service.repositories import segments as segment_repo
from service.repositories import targets as target_repo
from service.repositories import violations as violation_repo
from service.repositories.accruals import StoredAccrual
from service.repositories.programs import StoredProgram
from service.repositories.rebate_accounts import Account
from service.repositories.targets import Target


def _empty() -> Page[Any]:
    """The page of a list with nothing in it (for the caller)."""
    return Page(items=[], cursors=[], has_next=False, has_previous=False, total=0)


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


SegmentPageKey = tuple[str, PageRequest]  # segment code, the page asked


class DealersBySegmentLoader(DataLoader[SegmentPageKey, Page[Dealer]]):
    """`Segment.dealers(...)` for many segments: one query per distinct page request."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[SegmentPageKey]) -> Sequence[Page[Dealer]]:
            by_request: dict[PageRequest, list[str]] = defaultdict(list)
            for code, request in keys:
                by_request[request].append(code)
            pages: dict[SegmentPageKey, Page[Dealer]] = {}
            for request, codes in by_request.items():
                found = await dealer_repo.pages_by_segment(deps.db, codes, request, scope=scope)
                for code in codes:
                    pages[(code, request)] = found.get(code) or _empty()
            return [pages[key] for key in keys]
        super().__init__(load_fn=load)


class ProgramByCodeLoader(DataLoader[str, StoredProgram | None]):
    """The current version of each program."""

    def __init__(self, deps: Deps) -> None:
        async def load(codes: list[str]) -> Sequence[StoredProgram | None]:
            found = await program_repo.get_many(deps.db, codes)
            return [found.get(code) for code in codes]
        super().__init__(load_fn=load)


class ProgramByVersionLoader(DataLoader[tuple[str, int], StoredProgram | None]):
    def __init__(self, deps: Deps) -> None:
        async def load(keys: list[tuple[str, int]]) -> Sequence[StoredProgram | None]:
            found = await program_repo.get_versions(deps.db, keys)
            return [found.get(key) for key in keys]
        super().__init__(load_fn=load)


AccrualPageKey = tuple[str, str | None, str | None, PageRequest]
# dealer code, program code, period, the page asked


class AccrualsByDealerLoader(DataLoader[AccrualPageKey, Page[StoredAccrual]]):
    """`Dealer.accruals(...)` for a page of dealers: one aggregation per distinct argument set."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[AccrualPageKey]) -> Sequence[Page[StoredAccrual]]:
            groups: dict[tuple[str | None, str | None, PageRequest], list[str]] = \
                defaultdict(list)
            for dealer, program, period, request in keys:
                groups[(program, period, request)].append(dealer)
            pages: dict[AccrualPageKey, Page[StoredAccrual]] = {}
            for (program, period, request), dealers in groups.items():
                found = await accrual_repo.pages_by_dealer(
                    deps.db, dealers, request, program_code=program, period=period,
                    scope=scope)
                for dealer in dealers:
                    pages[(dealer, program, period, request)] = found.get(dealer) or _empty()
            return [pages[key] for key in keys]
        super().__init__(load_fn=load)


class ScorecardTemplateByCodeLoader(DataLoader[str, ScorecardTemplate | None]):
    def __init__(self, deps: Deps) -> None:
        async def load(codes: list[str]) -> Sequence[ScorecardTemplate | None]:
            found = await scorecard_repo.get_templates(deps.db, codes)
            return [found.get(code) for code in codes]
        super().__init__(load_fn=load)


ScorecardKey = tuple[str, str | None]  # dealer code, period (None: every period)


class ScorecardsByDealerLoader(DataLoader[ScorecardKey, list[Scorecard]]):
    """`Dealer.scorecards(period)` for a page of dealers: one query. Scoped: a DEALER caller
    gets only its own scorecards, whichever dealer it asks about."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[ScorecardKey]) -> Sequence[list[Scorecard]]:
            periods = {period for _, period in keys}
            found = await scorecard_repo.by_dealers(
                deps.db, (dealer for dealer, _ in keys),
                periods=None if None in periods else [p for p in periods if p is not None],
                scope=scope)
            by_dealer: dict[str, list[Scorecard]] = defaultdict(list)
            for card in found:
                by_dealer[card.dealer_code].append(card)
            return [[c for c in by_dealer[dealer] if period is None or c.period == period]
                    for dealer, period in keys]
        super().__init__(load_fn=load)


class AccrualByIdLoader(DataLoader[str, StoredAccrual | None]):
    """Scoped: a DEALER gets None for another dealer's accrual."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(ids: list[str]) -> Sequence[StoredAccrual | None]:
            found = await accrual_repo.get_many(deps.db, ids, scope=scope)
            return [found.get(i) for i in ids]
        super().__init__(load_fn=load)


class ViolationsByDealerLoader(DataLoader[str, list[Violation]]):
    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(codes: list[str]) -> Sequence[list[Violation]]:
            visible = [c for c in codes if scope is None or c == scope]
            found = await violation_repo.by_dealers(deps.db, visible)
            return [found.get(code, []) for code in codes]
        super().__init__(load_fn=load)


TargetKey = tuple[str, str | None]  # dealer code, program code (None: every program)


class TargetsByDealerLoader(DataLoader[TargetKey, list[Target]]):
    """`Dealer.targets(programCode)` for a page of dealers: one query per program asked.
    Scoped: a DEALER caller gets only its own targets, whichever dealer it asks about."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[TargetKey]) -> Sequence[list[Target]]:
            by_program: dict[str | None, list[str]] = defaultdict(list)
            for dealer, program in keys:
                by_program[program].append(dealer)
            found: dict[TargetKey, list[Target]] = defaultdict(list)
            for program, dealers in by_program.items():
                for target in await target_repo.by_dealers(deps.db, dealers,
                                                           program_code=program, scope=scope):
                    found[(target.dealer_code, program)].append(target)
            return [found.get(key, []) for key in keys]
        super().__init__(load_fn=load)


class RebateAccountsByDealerLoader(DataLoader[str, list[Account]]):
    """`Dealer.rebateAccounts`: expiry applied before the figures are read. Scoped: a DEALER
    caller gets only its own accounts, whichever dealer it asks about."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        from service.usecases import rebate_accounts

        async def load(codes: list[str]) -> Sequence[list[Account]]:
            visible = [c for c in dict.fromkeys(codes) if scope is None or c == scope]
            found = await rebate_accounts.accounts(deps, visible)
            return [found.get(code, []) for code in codes]
        super().__init__(load_fn=load)


class Loaders:
    """Created once per request by the context getter."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        self.segment_by_code = SegmentByCodeLoader(deps)
        self.dealer_by_code = DealerByCodeLoader(deps, scope)
        self.dealers_by_segment = DealersBySegmentLoader(deps, scope)
        self.program_by_code = ProgramByCodeLoader(deps)
        self.program_by_version = ProgramByVersionLoader(deps)
        self.accruals_by_dealer = AccrualsByDealerLoader(deps, scope)
        self.scorecard_template_by_code = ScorecardTemplateByCodeLoader(deps)
        self.scorecards_by_dealer = ScorecardsByDealerLoader(deps, scope)
        self.accrual_by_id = AccrualByIdLoader(deps, scope)
        self.violations_by_dealer = ViolationsByDealerLoader(deps, scope)
        self.targets_by_dealer = TargetsByDealerLoader(deps, scope)
        self.rebate_accounts_by_dealer = RebateAccountsByDealerLoader(deps, scope)
