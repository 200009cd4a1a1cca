"""Dealer types: the CRM's customers that earn rebates."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from domain import dealers as domain
from schema.context import Info
from schema.errors import UserError
from schema.relay import After, Before, First, Last, Node, PageArgs, PageInfo, to_global_id
from service.pagination import Total, count_of

if TYPE_CHECKING:
    from schema.accruals import AccrualConnection
    from schema.control import Violation
    from schema.rebate_accounts import RebateAccount
    from schema.scorecards import Scorecard
    from schema.segments import Segment
    from schema.targets import Target

DealerStatus = domain.DealerStatus
strawberry.enum(
    DealerStatus,
    description="ACTIVE earns rebates; SUSPENDED is paused by staff; DISQUALIFIED after a "
                "FORFEIT_YEAR violation, until an ADMIN reinstates it.")


# A federation entity: a CRM's supergraph references a dealer by its code (SPEC §8).
@strawberry.federation.type(keys=["code"],
                            description="A dealer (经销商), keyed by the CRM's dealer code.")
class Dealer(Node):
    code: str = strawberry.field(description="The CRM's dealer code (unique).")
    name: str = strawberry.field(description="Display name.")
    region: str | None = strawberry.field(description="Sales region the dealer belongs to.")
    channel: str | None = strawberry.field(description="Sales channel, e.g. RETAIL, KA.")
    joined_on: dt.date | None = strawberry.field(description="Start of the relationship.")
    status: DealerStatus = strawberry.field(description="Whether the dealer earns rebates.")
    attributes: JSON = strawberry.field(description="Free-form attributes from the CRM.")
    segment_codes: strawberry.Private[tuple[str, ...]]

    @classmethod
    def from_domain(cls, dealer: domain.Dealer) -> Dealer:
        return cls(id=to_global_id("Dealer", dealer.code), code=dealer.code, name=dealer.name,
                   region=dealer.region, channel=dealer.channel, joined_on=dealer.joined_on,
                   status=dealer.status, attributes=JSON(dealer.attributes),
                   segment_codes=dealer.segment_codes)

    @classmethod
    async def resolve_reference(cls, info: Info, code: str) -> Dealer | None:
        """`_entities`: a supergraph's reference to a dealer. Null when the caller may not see
        it (for a DEALER, any other dealer), exactly like `node(id:)` and `dealer(code:)`."""
        found = await info.context.loaders.dealer_by_code.load(code)
        return cls.from_domain(found) if found else None

    @strawberry.field(description="Segments the dealer belongs to, highest priority first.")
    async def segments(
            self, info: Info) -> list[Annotated[Segment, strawberry.lazy("schema.segments")]]:
        from schema.segments import Segment
        found = await info.context.loaders.segment_by_code.load_many(list(self.segment_codes))
        ordered = sorted((s for s in found if s is not None), key=lambda s: (s.priority, s.code))
        return [Segment.from_domain(s) for s in ordered]

    @strawberry.field(description="The dealer's accruals, oldest first.")
    async def accruals(
            self, info: Info, program_code: str | None = None, period: str | None = None,
            first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Annotated[AccrualConnection, strawberry.lazy("schema.accruals")]:
        return await info.context.loaders.accruals_by_dealer.load(
            (self.code, program_code, period, PageArgs(first, after, last, before)))

    @strawberry.field(description="The dealer's violations, oldest first.")
    async def violations(self, info: Info) -> list[
            Annotated[Violation, strawberry.lazy("schema.control")]]:
        from schema.control import Violation
        found = await info.context.loaders.violations_by_dealer.load(self.code)
        return [Violation.from_domain(v) for v in found]

    @strawberry.field(description="The dealer's scorecards, oldest period first.")
    async def scorecards(
            self, info: Info, period: Annotated[str | None, strawberry.argument(
                description="Only this period, e.g. 2026-Q1.")] = None,
    ) -> list[Annotated[Scorecard, strawberry.lazy("schema.scorecards")]]:
        from schema.scorecards import Scorecard
        key = (self.code, period.strip() if period is not None else None)
        found = await info.context.loaders.scorecards_by_dealer.load(key)
        return [Scorecard.from_domain(card) for card in found]

    @strawberry.field(description="The dealer's targets (销售任务), by program then period.")
    async def targets(
            self, info: Info, program_code: Annotated[str | None, strawberry.argument(
                description="Only this program's targets.")] = None,
    ) -> list[Annotated[Target, strawberry.lazy("schema.targets")]]:
        return await info.context.loaders.targets_by_dealer.load(
            (self.code, program_code.strip() if program_code is not None else None))

    @strawberry.field(description="The dealer's rebate accounts (返利账户), one per currency; "
                                  "expired credit is swept before the figures are read.")
    async def rebate_accounts(self, info: Info) -> list[
            Annotated[RebateAccount, strawberry.lazy("schema.rebate_accounts")]]:
        return await info.context.loaders.rebate_accounts_by_dealer.load(self.code)


async def dealer_of(info: Info, code: str) -> Dealer:
    """The dealer a nested object names, through the caller's scope: nested objects are read
    through the same scope, so the dealer is one the caller may see."""
    found = await info.context.loaders.dealer_by_code.load(code)
    if found is None:
        raise LookupError(f"dealer {code} is missing")
    return Dealer.from_domain(found)


@strawberry.type(description="A dealer in a page of dealers.")
class DealerEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this one.")
    node: Dealer = strawberry.field(description="The dealer.")


@strawberry.type(description="A page of dealers, ordered by code.")
class DealerConnection:
    edges: list[DealerEdge] = strawberry.field(description="The dealers of this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total: strawberry.Private[Total]

    @strawberry.field(description="Dealers matching, over all pages.")
    async def total_count(self) -> int:
        return await count_of(self.total)


@strawberry.input(description="A dealer to create or update, keyed by code. Omitted optional "
                              "fields are cleared, except status, which is kept.")
class DealerInput:
    code: str = strawberry.field(description="The CRM's dealer code: letters, digits, . _ -")
    name: str = strawberry.field(description="Display name, 1–200 characters.")
    region: str | None = strawberry.field(default=None, description="Sales region.")
    channel: str | None = strawberry.field(default=None, description="Sales channel.")
    joined_on: dt.date | None = strawberry.field(default=None,
                                                 description="Start of the relationship.")
    attributes: JSON | None = strawberry.field(default=None,
                                               description="Free-form JSON object.")
    status: DealerStatus | None = strawberry.field(
        default=None, description="ACTIVE or SUSPENDED; omitted keeps the current status.")


@strawberry.type(description="Result of upsertDealer.")
class DealerPayload:
    dealer: Dealer | None = strawberry.field(description="The stored dealer; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing stored.")
