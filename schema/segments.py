"""Segment types: dealer classes (客户分类) that can carry their own programme terms."""
from __future__ import annotations

import decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import segments as domain
from schema.context import Info
from schema.errors import UserError
from schema.relay import After, Before, First, Last, Node, PageArgs, to_global_id

if TYPE_CHECKING:
    from schema.dealers import DealerConnection


@strawberry.type(description="Membership rule: every condition given must hold.")
class SegmentRule:
    regions: list[str] | None = strawberry.field(description="Dealer region is one of these.")
    channels: list[str] | None = strawberry.field(description="Dealer channel is one of these.")
    min_trailing_sales: decimal.Decimal | None = strawberry.field(
        description="Net sales of the 12 months before today at least this much.")
    min_tenure_years: int | None = strawberry.field(
        description="At least this many whole years since joinedOn.")

    @classmethod
    def from_domain(cls, rule: domain.SegmentRule) -> SegmentRule:
        return cls(regions=list(rule.regions) if rule.regions is not None else None,
                   channels=list(rule.channels) if rule.channels is not None else None,
                   min_trailing_sales=rule.min_trailing_sales,
                   min_tenure_years=rule.min_tenure_years)


@strawberry.type(description="A dealer segment with a priority (smaller number wins).")
class Segment(Node):
    code: str = strawberry.field(description="Segment code (unique).")
    name: str = strawberry.field(description="Display name.")
    description: str | None = strawberry.field(description="What the segment is for.")
    priority: int = strawberry.field(
        description="Order of preference when a dealer is in several segments; smaller wins.")
    rule: SegmentRule | None = strawberry.field(description="Membership rule, if any.")
    max_order_offset_percent: decimal.Decimal | None = strawberry.field(
        description="The most of an order, in percent, that rebate credit may pay for a dealer "
                    "whose highest-priority segment setting it is this one; null: no limit.")
    listed_codes: strawberry.Private[tuple[str, ...]]

    @classmethod
    def from_domain(cls, segment: domain.Segment) -> Segment:
        return cls(id=to_global_id("Segment", segment.code), code=segment.code,
                   name=segment.name, description=segment.description,
                   priority=segment.priority,
                   rule=SegmentRule.from_domain(segment.rule) if segment.rule else None,
                   max_order_offset_percent=segment.max_order_offset_percent,
                   listed_codes=segment.dealer_codes)

    @strawberry.field(description="Dealers listed explicitly (members whatever the rule "
                                   "says). A DEALER caller sees at most its own code.")
    def dealer_codes(self, info: Info) -> list[str]:
        scope = info.context.scope
        return [c for c in self.listed_codes if scope is None or c == scope]

    @strawberry.field(description="Members of the segment, ordered by code.")
    async def dealers(
            self, info: Info, first: First = None, after: After = None, last: Last = None,
            before: Before = None,
    ) -> Annotated[DealerConnection, strawberry.lazy("schema.dealers")]:
        return await info.context.loaders.dealers_by_segment.load(
            (self.code, PageArgs(first, after, last, before)))


@strawberry.input(description="Membership rule; omitted conditions are not checked.")
class SegmentRuleInput:
    regions: list[str] | None = None
    channels: list[str] | None = None
    min_trailing_sales: decimal.Decimal | None = None
    min_tenure_years: int | None = None

    def to_domain(self) -> domain.SegmentRule:
        return domain.SegmentRule(
            regions=tuple(self.regions) if self.regions is not None else None,
            channels=tuple(self.channels) if self.channels is not None else None,
            min_trailing_sales=self.min_trailing_sales, min_tenure_years=self.min_tenure_years)


@strawberry.input(description="A segment to create or update, keyed by code.")
class SegmentInput:
    code: str = strawberry.field(description="Segment code: letters, digits, . _ -")
    name: str = strawberry.field(description="Display name, 1–200 characters.")
    description: str | None = None
    priority: int = strawberry.field(description="Unique among segments; smaller wins.")
    rule: SegmentRuleInput | None = None
    dealer_codes: list[str] | None = strawberry.field(
        default=None, description="Dealers that belong whatever the rule says.")
    max_order_offset_percent: decimal.Decimal | None = strawberry.field(
        default=None, description="More than 0, at most 100: the most of an order, in percent, "
                                  "rebate credit may pay (SPEC §4a). Null: no limit.")


@strawberry.type(description="Result of upsertSegment.")
class SegmentPayload:
    segment: Segment | None = strawberry.field(description="The stored segment; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing stored.")


@strawberry.type(description="Result of refreshSegments.")
class RefreshSegmentsPayload:
    segments: int = strawberry.field(description="How many segments were recomputed.")
