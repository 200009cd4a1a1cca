"""Accrual types (返利计提): every figure of a dealer × program × period, with its trace."""
from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence

import strawberry

from domain import calculation, net
from domain.forecast import ForecastScope
from domain.text import Text
from schema.context import Info
from schema.dealers import Dealer, dealer_of
from schema.errors import UserError
from schema.programs import Program, program_of
from schema.relay import Node, PageInfo
from service.pagination import Total, count_of

AccrualStatus = net.AccrualStatus
strawberry.enum(ForecastScope, description="PERIOD: a forecast's figures are the period's own; "
                                           "YEAR_TO_DATE: cumulative from validFrom through "
                                           "the period's end (the annual true-up).")
strawberry.enum(AccrualStatus, description="OPEN (follows the data), ON_HOLD (not payable "
                                           "yet), APPROVED, DISPUTED, SETTLED, FORFEITED.")


DomainStep = calculation.CalculationStep  # (inside Accrual, `calculation` is its field)

@strawberry.type(description="One line of an accrual's calculation, in words, in the "
                             "request's Accept-Language (zh-CN or en); amounts with currency.")
class CalculationStep:
    step: strawberry.Private[calculation.CalculationStep]

    @strawberry.field(description="What the line is, e.g. \"Gross rebate\" (返利毛额).")
    def label(self, info: Info) -> str:
        return info.context.say(self.step.label)

    @strawberry.field(description="How the figure comes about, e.g. \"CNY 1,100,000.00 × 2% "
                                  "= CNY 22,000.00\"; an open period's basis reads \"from "
                                  "2026-10-01 to date (as of 2026-11-20)\".")
    def formula(self, info: Info) -> str:
        return info.context.say(self.step.formula)

    @strawberry.field(description="The line's figure (money in the program's currency), if any.")
    def amount(self) -> decimal.Decimal | None:
        return self.step.amount


@strawberry.type(description="A dealer's rebate for one program period.")
class Accrual(Node):
    period: str = strawberry.field(description="e.g. 2026-Q1.")
    basis: decimal.Decimal = strawberry.field(description="This period's basis.")
    cumulative_basis: decimal.Decimal = strawberry.field(
        description="YEAR_TO_DATE: validFrom through period end; else equal to basis.")
    rate: decimal.Decimal = strawberry.field(
        description="Rate of the highest tier reached; 0 below the first tier.")
    gross_amount: decimal.Decimal = strawberry.field(description="Before scorecard and cuts.")
    score_multiplier: decimal.Decimal = strawberry.field(description="From the scorecard.")
    deduction_amount: decimal.Decimal = strawberry.field(description="Cut by violations.")
    adjustment_amount: decimal.Decimal = strawberry.field(
        description="Late data for locked periods, accepted disputes, reclaimed forfeitures.")
    net_amount: decimal.Decimal = strawberry.field(description="What the dealer earns.")
    status: AccrualStatus = strawberry.field(description="Where it is in its lifecycle.")

    @strawberry.field(description="Every step, explained.")
    def calculation(self) -> list[CalculationStep]:
        return [CalculationStep(step=step) for step in self.trace()]

    program_version: int = strawberry.field(description="Program version used.")
    computed_at: dt.datetime = strawberry.field(description="When it was last computed.")
    target: decimal.Decimal | None = strawberry.field(
        description="TARGET_ACHIEVEMENT: the dealer's target for the accrual's window (the "
                    "period's, or under YEAR_TO_DATE the sum of periods 1..n); null for "
                    "BASIS programs and while no target is set (the accrual is ON_HOLD).")
    achievement_percent: decimal.Decimal | None = strawberry.field(
        description="basis / target × 100 (cumulative under YEAR_TO_DATE), 2 places, for "
                    "display: tiers compare exactly. Null when target is.")
    dealer_code: strawberry.Private[str]
    program_code: strawberry.Private[str]
    # the stored trace, parsed only when a client asks for the steps
    trace: strawberry.Private[Callable[[], Sequence[DomainStep]]]

    @strawberry.field(description="The dealer.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)

    @strawberry.field(description="The program, in the version this accrual used.")
    async def program(self, info: Info) -> Program:
        return await program_of(info, self.program_code, self.program_version)


@strawberry.type(description="An accrual in a page.")
class AccrualEdge:
    cursor: str
    node: Accrual


@strawberry.type(description="A page of accruals.")
class AccrualConnection:
    edges: list[AccrualEdge]
    page_info: PageInfo
    total: strawberry.Private[Total]

    @strawberry.field(description="Accruals matching, over all pages.")
    async def total_count(self) -> int:
        return await count_of(self.total)


@strawberry.input(description="Which accruals; every given condition must hold.")
class AccrualFilter:
    dealer_code: str | None = None
    program_code: str | None = None
    period: str | None = None
    status: AccrualStatus | None = None


@strawberry.input(description="Compute every eligible dealer's accrual for a program period.")
class RunAccrualsInput:
    program_code: str
    period: str


@strawberry.type(description="The period's accruals after the run.")
class RunAccrualsPayload:
    accruals: list[Accrual]
    user_errors: list[UserError]


@strawberry.type(description="What a partner portal shows: \"sell X more to reach the next "
                             "tier\". All before scorecard, deductions and cap.")
class RebateForecast:
    period: str
    scope: ForecastScope = strawberry.field(
        description="What the basis and rebate figures cover: the period's own (PERIOD) or "
                    "year to date (YEAR_TO_DATE: from validFrom through the period's end, "
                    "cumulative). For the period's own accrual of a YEAR_TO_DATE program "
                    "read the period* fields.")
    currency: str = strawberry.field(description="The program's currency: every rebate "
                                                 "figure here (and the basis unless QUANTITY).")
    current_basis: decimal.Decimal = strawberry.field(
        description="The basis the accrual uses: cumulative under YEAR_TO_DATE.")
    current_rate: decimal.Decimal = strawberry.field(
        description="Rate of the highest tier the current basis reaches.")
    current_rebate: decimal.Decimal = strawberry.field(
        description="R(current basis): cumulative under YEAR_TO_DATE (the whole year to "
                    "date, not this period's accrual; see periodRebate).")
    projected_basis: decimal.Decimal = strawberry.field(description="current + additional.")
    projected_rebate: decimal.Decimal = strawberry.field(
        description="R(projected basis), cumulative like currentRebate.")
    next_tier_threshold: decimal.Decimal | None = strawberry.field(
        description="Lowest threshold above the current basis; null at the top tier.")
    amount_to_next_tier: decimal.Decimal | None = strawberry.field(
        description="nextTierThreshold − currentBasis; null at the top tier.")
    rebate_at_next_tier: decimal.Decimal | None = strawberry.field(
        description="R(nextTierThreshold), cumulative like currentRebate; null at the top.")
    earlier_periods_rebate: decimal.Decimal = strawberry.field(
        description="YEAR_TO_DATE: the gross the dealer's accruals of this program's earlier "
                    "periods already hold (what the true-up subtracts); 0 under PERIOD.")
    period_rebate: decimal.Decimal = strawberry.field(
        description="This period's own gross at the current basis: currentRebate − "
                    "earlierPeriodsRebate (the true-up; negative is a clawback).")
    projected_period_rebate: decimal.Decimal = strawberry.field(
        description="This period's own gross with the additional basis: projectedRebate − "
                    "earlierPeriodsRebate.")
    period_rebate_at_next_tier: decimal.Decimal | None = strawberry.field(
        description="This period's own gross at the next tier: rebateAtNextTier − "
                    "earlierPeriodsRebate; null at the top tier.")
    target: decimal.Decimal | None = strawberry.field(
        description="TARGET_ACHIEVEMENT: the target the current basis is measured against "
                    "(cumulative under YEAR_TO_DATE); null for BASIS programs or when not set.")
    achievement_percent: decimal.Decimal | None = strawberry.field(
        description="currentBasis / target × 100, 2 places; null when target is.")
    amount_to_target: decimal.Decimal | None = strawberry.field(
        description="What is left to sell to reach 100 % of the target (0 once reached); "
                    "null when target is.")
    dealer_code: strawberry.Private[str]
    program_code: strawberry.Private[str]
    summary: strawberry.Private[Text]

    @strawberry.field(description="The forecast in sentences, in the request's language: "
                                  "what the figures cover, the way to the next tier and what "
                                  "the additional basis would earn, amounts with currency.")
    def explanation(self, info: Info) -> str:
        return info.context.say(self.summary)

    @strawberry.field(description="The dealer.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)

    @strawberry.field(description="The program.")
    async def program(self, info: Info) -> Program:
        return await program_of(info, self.program_code)
