"""Analytics and policy simulation (SPEC §7, 市场分析与策略调整): what a changed program
would accrue, which customers and products the rebate money works on, and dealers ranked
by scorecard."""
from __future__ import annotations

import decimal
from collections.abc import Callable

import strawberry

from domain import analytics
from schema.context import Info
from schema.dealers import Dealer, dealer_of
from schema.errors import UserError
from schema.programs import ProgramInput
from schema.relay import After, First, PageArgs, PageInfo
from service.pagination import Total, count_of

EffectivenessGroup = analytics.EffectivenessGroup
strawberry.enum(EffectivenessGroup, description=(
    "How rebateEffectiveness groups dealers: SEGMENT (the segment whose terms the program "
    "gives the dealer; \"(default)\" for the default terms, \"(none)\" for no terms), REGION "
    "(the dealer's region, \"(none)\" without one), PRODUCT (the dealer's net split over its "
    "products by their share of its basis) or DEALER (the dealer's code)."))


@strawberry.type(description="One group of rebateEffectiveness: how much rebate its basis "
                             "earned, and how its basis grew over a year.")
class EffectivenessRow:
    key: str = strawberry.field(description="The group: a segment code, region, product code "
                                            "or dealer code; \"(default)\" or \"(none)\" as "
                                            "EffectivenessGroup says.")
    basis: decimal.Decimal = strawberry.field(
        description="The period's basis as the program counts it (money, or units for "
                    "QUANTITY): the period's own, also under YEAR_TO_DATE.")
    rebate: decimal.Decimal = strawberry.field(
        description="The net of the program's stored accruals of the period.")
    rebate_percent_of_basis: decimal.Decimal | None = strawberry.field(
        description="rebate / basis × 100, 2 places; null when the basis is 0.")
    basis_year_before: decimal.Decimal = strawberry.field(
        description="The basis of the same dates one year earlier, counted by the same "
                    "program rules.")
    growth_percent: decimal.Decimal | None = strawberry.field(
        description="(basis − basisYearBefore) / basisYearBefore × 100, 2 places; null when "
                    "basisYearBefore is 0.")

    @classmethod
    def from_domain(cls, row: analytics.EffectivenessRow) -> EffectivenessRow:
        return cls(key=row.key, basis=row.basis, rebate=row.rebate,
                   rebate_percent_of_basis=row.rebate_percent_of_basis,
                   basis_year_before=row.basis_year_before, growth_percent=row.growth_percent)


@strawberry.type(description="A simulated period's totals for the dealers under one segment's "
                             "terms.")
class SimulationSegment:
    segment_code: str | None = strawberry.field(
        description="The segment whose terms applied; null: the program's default terms.")
    dealers: int = strawberry.field(description="Dealers with a simulated accrual.")
    basis: decimal.Decimal = strawberry.field(description="Σ of their period basis.")
    gross: decimal.Decimal = strawberry.field(description="Σ of their simulated gross.")
    net: decimal.Decimal = strawberry.field(description="Σ of their simulated net.")

    @classmethod
    def from_domain(cls, totals: analytics.SegmentTotals) -> SimulationSegment:
        return cls(segment_code=totals.segment_code, dealers=totals.dealers,
                   basis=totals.basis, gross=totals.gross, net=totals.net)


@strawberry.type(description="One simulated period: the draft's totals and what the stored "
                             "accruals of the same program code hold.")
class SimulationPeriod:
    period: str = strawberry.field(description="e.g. 2026-Q1.")
    dealers: int = strawberry.field(description="Dealers the draft would give an accrual.")
    basis: decimal.Decimal = strawberry.field(description="Σ of their period basis.")
    gross: decimal.Decimal = strawberry.field(description="Σ of their simulated gross.")
    net: decimal.Decimal = strawberry.field(description="Σ of their simulated net.")
    current_net: decimal.Decimal = strawberry.field(
        description="Σ of the net the stored accruals of the program with the draft's code "
                    "hold for the period (0: none).")
    segments: list[SimulationSegment] = strawberry.field(
        description="The same totals per segment whose terms applied (default terms first).")

    @classmethod
    def from_domain(cls, totals: analytics.PeriodTotals) -> SimulationPeriod:
        return cls(period=totals.period, dealers=totals.dealers, basis=totals.basis,
                   gross=totals.gross, net=totals.net, current_net=totals.current_net,
                   segments=[SimulationSegment.from_domain(s) for s in totals.segments])


@strawberry.type(description="One dealer over the simulated periods: the draft's net beside "
                             "the stored one.")
class SimulationDealer:
    net: decimal.Decimal = strawberry.field(description="Σ of the simulated net.")
    current_net: decimal.Decimal = strawberry.field(
        description="Σ of the net its stored accruals of the program hold (0: none).")
    difference: decimal.Decimal = strawberry.field(description="net − currentNet.")
    dealer_code: strawberry.Private[str]

    @classmethod
    def from_domain(cls, found: analytics.DealerDifference) -> SimulationDealer:
        return cls(net=found.net, current_net=found.current_net, difference=found.difference,
                   dealer_code=found.dealer_code)

    @strawberry.field(description="The dealer.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)


@strawberry.type(description="A dealer in a page of a simulation's dealers.")
class SimulationDealerEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this one.")
    node: SimulationDealer = strawberry.field(description="The dealer's figures.")


@strawberry.type(description="A page of a simulation's dealers, by dealer code.")
class SimulationDealerConnection:
    edges: list[SimulationDealerEdge]
    page_info: PageInfo
    total: strawberry.Private[Total]

    @strawberry.field(description="Dealers with a simulated or a stored accrual, over all "
                                  "pages.")
    async def total_count(self) -> int:
        return await count_of(self.total)


@strawberry.type(description="What a draft or changed program would accrue on the stored "
                             "history, computed by the accrual engine and never stored.")
class ProgramSimulation:
    periods: list[SimulationPeriod] = strawberry.field(
        description="The periods asked for, in calendar order.")
    pages: strawberry.Private[Callable[[PageArgs], SimulationDealerConnection]]

    @strawberry.field(description="Every dealer with a simulated or a stored accrual in the "
                                  "periods, by dealer code.")
    def dealers(self, first: First = None, after: After = None) -> SimulationDealerConnection:
        return self.pages(PageArgs(first=first, after=after))


@strawberry.input(description="A program as createProgram takes it (`activate` is ignored) "
                              "and the periods to simulate it over.")
class SimulateProgramInput:
    program: ProgramInput = strawberry.field(
        description="The draft, or an active program's code with changed terms.")
    periods: list[str] = strawberry.field(
        description="Periods of the program that have begun, e.g. [\"2026-Q1\", \"2026-Q2\"]; "
                    "earlier periods a YEAR_TO_DATE true-up, a cap or a minimum payout "
                    "depends on are computed too.")


@strawberry.type(description="Result of simulateProgram. Nothing is stored.")
class SimulationPayload:
    simulation: ProgramSimulation | None = strawberry.field(
        description="The simulation; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems with the input.")


@strawberry.type(description="A dealer's place in a scorecard ranking.")
class RankedDealer:
    rank: int = strawberry.field(description="1 for the highest score; equal scores share a "
                                             "rank (1, 2, 2, 4).")
    score: decimal.Decimal = strawberry.field(description="The scorecard's total score.")
    multiplier: decimal.Decimal = strawberry.field(
        description="The multiplier the score gives the dealer's rebates.")
    dealer_code: strawberry.Private[str]

    @classmethod
    def from_domain(cls, ranked: analytics.Ranked) -> RankedDealer:
        return cls(rank=ranked.rank, score=ranked.entry.score,
                   multiplier=ranked.entry.multiplier, dealer_code=ranked.entry.dealer_code)

    @strawberry.field(description="The dealer.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)
