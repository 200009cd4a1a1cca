"""Per-request DataLoaders: nested fields cost one query per level, not one per row.

Every loader is scoped by the caller: a DEALER gets None (or nothing) for another dealer's
data. The loaders schema types read (schema/context.py) answer with what the field shows:
domain objects where the type maps them itself, GraphQL objects where the data is a
repository record (resolvers/records.py maps those).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from domain.dealers import Dealer
from domain.programs import ProgramStatus, Terms, choose_terms
from domain.scorecards import Scorecard, ScorecardTemplate
from domain.segments import Segment
from domain.violations import Violation
from resolvers import records
from resolvers.pages import period_argument, refusal_or
from schema.accruals import Accrual, AccrualConnection, AccrualEdge
from schema.context import (
    AccrualPageKey,
    EntryPageKey,
    ProgramKey,
    ScorecardKey,
    SegmentPageKey,
    TargetKey,
)
from schema.dealers import Dealer as DealerType
from schema.dealers import DealerConnection, DealerEdge
from schema.errors import argument_error
from schema.programs import Program
from schema.rebate_accounts import (
    RebateAccount,
    RebateAccountEntryConnection,
    RebateAccountEntryEdge,
)
from schema.relay import connection
from schema.targets import Target
from service.deps import Deps
from service.errors import InvalidArgument
from service.pagination import Page, PageRequest
from service.repositories import accruals as accrual_repo
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import rebate_accounts as account_repo
from service.repositories import scorecards as scorecard_repo
from service.repositories import segments as segment_repo
from service.repositories import targets as target_repo
from service.repositories import violations as violation_repo
from service.repositories.programs import StoredProgram
from service.usecases import rebate_accounts


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


class DealersBySegmentLoader(DataLoader[SegmentPageKey, DealerConnection]):
    """`Segment.dealers(...)` for many segments: one query per distinct page request."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[SegmentPageKey]) -> Sequence[DealerConnection | GraphQLError]:
            answers: dict[SegmentPageKey, DealerConnection | GraphQLError] = {}
            by_request: dict[PageRequest, list[SegmentPageKey]] = defaultdict(list)
            for key in keys:
                request = refusal_or(dealer_repo.CURSOR_KIND, key[1])
                if isinstance(request, GraphQLError):
                    answers[key] = request
                else:
                    by_request[request].append(key)
            for request, asked in by_request.items():
                try:
                    found = await dealer_repo.pages_by_segment(
                        deps.db, [code for code, _ in asked], request, scope=scope)
                except InvalidArgument as error:  # a cursor it cannot place
                    answers.update((key, argument_error(error)) for key in asked)
                    continue
                for code, args in asked:
                    answers[(code, args)] = connection(
                        DealerConnection, DealerEdge, found.get(code) or _empty(),
                        DealerType.from_domain)
            return [answers[key] for key in keys]
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


class ProgramViewByKeyLoader(DataLoader[ProgramKey, Program | None]):
    """The program a nested object names (a version, or the current one), as the caller
    may see it: a DEALER sees only the terms it gets, none of a program not for it."""

    def __init__(self, loaders: Loaders) -> None:
        async def load(keys: list[ProgramKey]) -> Sequence[Program | None]:
            current = [code for code, version in keys if version is None]
            versions = [(code, version) for code, version in keys if version is not None]
            found: dict[ProgramKey, StoredProgram | None] = {}
            for code, program in zip(current, await loaders.program_by_code.load_many(current),
                                     strict=True):
                found[(code, None)] = program
            for key, program in zip(
                    versions, await loaders.program_by_version.load_many(versions), strict=True):
                found[key] = program
            return [await loaders.program_view(program) if program else None
                    for program in (found[key] for key in keys)]
        super().__init__(load_fn=load)


class AccrualsByDealerLoader(DataLoader[AccrualPageKey, AccrualConnection]):
    """`Dealer.accruals(...)` for a page of dealers: one aggregation per distinct argument set."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(keys: list[AccrualPageKey]) -> Sequence[AccrualConnection | GraphQLError]:
            answers: dict[AccrualPageKey, AccrualConnection | GraphQLError] = {}
            groups: dict[tuple[str | None, str | None, PageRequest], list[AccrualPageKey]] = \
                defaultdict(list)
            for key in keys:
                _, program, period, args = key
                request = refusal_or(accrual_repo.CURSOR_KIND, args)
                try:
                    period = period_argument(period, "period")
                except InvalidArgument as error:
                    request = argument_error(error)
                if isinstance(request, GraphQLError):
                    answers[key] = request
                else:
                    groups[(program, period, request)].append(key)
            for (program, period, request), asked in groups.items():
                dealers = [dealer for dealer, *_ in asked]
                try:
                    found = await accrual_repo.pages_by_dealer(
                        deps.db, dealers, request, program_code=program, period=period,
                        scope=scope)
                except InvalidArgument as error:  # a cursor it cannot place
                    answers.update((key, argument_error(error)) for key in asked)
                    continue
                for key in asked:
                    answers[key] = connection(AccrualConnection, AccrualEdge,
                                              found.get(key[0]) or _empty(), records.accrual)
            return [answers[key] for key in keys]
        super().__init__(load_fn=load)


class ScorecardTemplateByCodeLoader(DataLoader[str, ScorecardTemplate | None]):
    def __init__(self, deps: Deps) -> None:
        async def load(codes: list[str]) -> Sequence[ScorecardTemplate | None]:
            found = await scorecard_repo.get_templates(deps.db, codes)
            return [found.get(code) for code in codes]
        super().__init__(load_fn=load)


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


class AccrualByIdLoader(DataLoader[str, Accrual | None]):
    """Scoped: a DEALER gets None for another dealer's accrual."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(ids: list[str]) -> Sequence[Accrual | None]:
            found = await accrual_repo.get_many(deps.db, ids, scope=scope)
            return [records.accrual(stored) if (stored := found.get(i)) else None
                    for i in ids]
        super().__init__(load_fn=load)


class ViolationsByDealerLoader(DataLoader[str, list[Violation]]):
    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(codes: list[str]) -> Sequence[list[Violation]]:
            visible = [c for c in codes if scope is None or c == scope]
            found = await violation_repo.by_dealers(deps.db, visible)
            return [found.get(code, []) for code in codes]
        super().__init__(load_fn=load)


class TargetsByDealerLoader(DataLoader[TargetKey, list[Target]]):
    """`Dealer.targets(programCode)` for a page of dealers: one query per program asked.
    Scoped: a DEALER caller gets only its own targets, whichever dealer it asks about, and
    only of the programs it may see (not of drafts, nor of programs with no terms for it)."""

    def __init__(self, deps: Deps, loaders: Loaders) -> None:
        scope = loaders.scope

        async def load(keys: list[TargetKey]) -> Sequence[list[Target]]:
            by_program: dict[str | None, list[str]] = defaultdict(list)
            for dealer, program in keys:
                by_program[program].append(dealer)
            found: dict[TargetKey, list[target_repo.Target]] = defaultdict(list)
            for program, dealers in by_program.items():
                for target in await target_repo.by_dealers(deps.db, dealers,
                                                           program_code=program, scope=scope):
                    found[(target.dealer_code, program)].append(target)
            hidden: set[str] = set()
            if scope is not None:
                codes = sorted({t.program_code for ts in found.values() for t in ts})
                programs = await loaders.program_by_code.load_many(codes)
                hidden = {code for code, stored in zip(codes, programs, strict=True)
                          if await loaders.program_if_visible(stored) is None}
            return [[records.target(t) for t in found.get(key, [])
                     if t.program_code not in hidden] for key in keys]
        super().__init__(load_fn=load)


class RebateAccountsByDealerLoader(DataLoader[str, list[RebateAccount]]):
    """`Dealer.rebateAccounts`: expiry applied before the figures are read. Scoped: a DEALER
    caller gets only its own accounts, whichever dealer it asks about."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        async def load(codes: list[str]) -> Sequence[list[RebateAccount]]:
            visible = [c for c in dict.fromkeys(codes) if scope is None or c == scope]
            found = await rebate_accounts.accounts(deps, visible)
            today = deps.today()
            return [[records.rebate_account(account, today) for account in found.get(code, [])]
                    for code in codes]
        super().__init__(load_fn=load)


class EntriesByAccountLoader(DataLoader[EntryPageKey, RebateAccountEntryConnection]):
    """`RebateAccount.entries(...)`: a page of one account's entries (the accounts themselves
    were read through the caller's scope)."""

    def __init__(self, deps: Deps) -> None:
        async def load(keys: list[EntryPageKey],
                       ) -> Sequence[RebateAccountEntryConnection | GraphQLError]:
            answers: list[RebateAccountEntryConnection | GraphQLError] = []
            for dealer, currency, args in keys:
                request = refusal_or(account_repo.CURSOR_KIND, args)
                if isinstance(request, GraphQLError):
                    answers.append(request)
                    continue
                try:
                    page = await account_repo.entries_page(deps.db, dealer, currency, request)
                except InvalidArgument as error:
                    answers.append(argument_error(error))
                    continue
                answers.append(connection(RebateAccountEntryConnection, RebateAccountEntryEdge,
                                          page, records.account_entry))
            return answers
        super().__init__(load_fn=load)


class Loaders:
    """Created once per request by the context getter (resolvers/context.py)."""

    def __init__(self, deps: Deps, scope: str | None) -> None:
        self.scope = scope
        self.segment_by_code = SegmentByCodeLoader(deps)
        self.dealer_by_code = DealerByCodeLoader(deps, scope)
        self.dealers_by_segment = DealersBySegmentLoader(deps, scope)
        self.program_by_code = ProgramByCodeLoader(deps)
        self.program_by_version = ProgramByVersionLoader(deps)
        self.program_view_by_key = ProgramViewByKeyLoader(self)
        self.accruals_by_dealer = AccrualsByDealerLoader(deps, scope)
        self.scorecard_template_by_code = ScorecardTemplateByCodeLoader(deps)
        self.scorecards_by_dealer = ScorecardsByDealerLoader(deps, scope)
        self.accrual_by_id = AccrualByIdLoader(deps, scope)
        self.violations_by_dealer = ViolationsByDealerLoader(deps, scope)
        self.targets_by_dealer = TargetsByDealerLoader(deps, self)
        self.rebate_accounts_by_dealer = RebateAccountsByDealerLoader(deps, scope)
        self.entries_by_account = EntriesByAccountLoader(deps)

    # ---- what a DEALER may see of a program: only the terms it gets ----------------------

    async def dealer_terms(self, program: StoredProgram) -> Terms | None:
        """For a DEALER: the terms it gets from this program (None: the program is not for
        it)."""
        assert self.scope is not None
        dealer = await self.dealer_by_code.load(self.scope)
        if dealer is None or program.status is ProgramStatus.DRAFT:
            return None
        segments = await self.segment_by_code.load_many(list(dealer.segment_codes))
        return choose_terms(program.rules.terms,
                            [(s.code, s.priority) for s in segments if s is not None])

    async def program_view(self, program: StoredProgram) -> Program:
        """The program as the caller may see it; a DEALER sees only the terms it gets."""
        if self.scope is None:
            return Program.from_domain(program.rules, program.status)
        return Program.from_domain(program.rules, program.status,
                                   only_terms=await self.dealer_terms(program))

    async def program_if_visible(self, program: StoredProgram | None) -> Program | None:
        """The program, unless it does not exist or (for a DEALER) is not for the caller."""
        if program is None:
            return None
        if self.scope is not None and await self.dealer_terms(program) is None:
            return None
        return await self.program_view(program)
