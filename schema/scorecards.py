"""Scorecard types (返利考核): weighted KPIs, score bands and the multiplier they give."""
from __future__ import annotations

import decimal

import strawberry

from domain import scorecards as domain
from schema.context import Info
from schema.dealers import Dealer, dealer_of
from schema.errors import UserError
from schema.relay import Node, to_global_id

KpiDirection = domain.KpiDirection
strawberry.enum(
    KpiDirection,
    description="HIGHER_IS_BETTER scores actual / target; LOWER_IS_BETTER scores "
                "target / actual (an actual of 0 scores 100). Both are capped at 100.")


@strawberry.type(description="A key performance indicator of a scorecard template.")
class Kpi:
    code: str = strawberry.field(description="KPI code, unique in its template.")
    name: str = strawberry.field(description="Display name.")
    weight: decimal.Decimal = strawberry.field(
        description="Share of the total score; a template's weights sum to exactly 100.")
    target: decimal.Decimal = strawberry.field(description="The actual that scores 100.")
    direction: KpiDirection = strawberry.field(description="Whether more is better.")

    @classmethod
    def from_domain(cls, kpi: domain.Kpi) -> Kpi:
        return cls(code=kpi.code, name=kpi.name, weight=kpi.weight, target=kpi.target,
                   direction=kpi.direction)


@strawberry.type(description="From this total score on, the rebate is scaled by multiplier.")
class ScoreBand:
    min_score: decimal.Decimal = strawberry.field(description="Lowest total in the band, 0–100.")
    multiplier: decimal.Decimal = strawberry.field(
        description="Scales the gross rebate, e.g. \"0.8\" or \"1.1\".")

    @classmethod
    def from_domain(cls, band: domain.ScoreBand) -> ScoreBand:
        return cls(min_score=band.min_score, multiplier=band.multiplier)


@strawberry.type(description="A scorecard template: weighted KPIs and multiplier bands. "
                             "Below every band the multiplier is 0.")
class ScorecardTemplate(Node):
    code: str = strawberry.field(description="Template code (unique); programs name it.")
    name: str = strawberry.field(description="Display name.")
    kpis: list[Kpi] = strawberry.field(description="The KPIs, in the order given.")
    bands: list[ScoreBand] = strawberry.field(description="Bands, ascending minScore.")

    @classmethod
    def from_domain(cls, template: domain.ScorecardTemplate) -> ScorecardTemplate:
        return cls(id=to_global_id("ScorecardTemplate", template.code), code=template.code,
                   name=template.name, kpis=[Kpi.from_domain(k) for k in template.kpis],
                   bands=[ScoreBand.from_domain(b) for b in template.bands])


@strawberry.type(description="One KPI's actual and score on a scorecard.")
class KpiResult:
    kpi: Kpi = strawberry.field(description="The KPI as it was when the scorecard was scored.")
    actual: decimal.Decimal = strawberry.field(description="The recorded actual.")
    score: decimal.Decimal = strawberry.field(
        description="0–100, rounded to 2 places for display (the total uses the exact "
                    "value).")


@strawberry.type(description="A dealer's KPI actuals for one period under one template, "
                             "scored. Its multiplier scales that period's accruals of the "
                             "programs using the template.")
class Scorecard(Node):
    period: str = strawberry.field(description="Period name, e.g. 2026-Q1.")
    results: list[KpiResult] = strawberry.field(description="Every KPI's actual and score.")
    score: decimal.Decimal = strawberry.field(
        description="Σ weight × KPI score / 100, rounded once to 2 places (half up).")
    multiplier: decimal.Decimal = strawberry.field(
        description="Of the band with the highest minScore ≤ score; 0 below every band.")
    dealer_code: strawberry.Private[str]
    template_code: strawberry.Private[str]

    @classmethod
    def from_domain(cls, card: domain.Scorecard) -> Scorecard:
        return cls(id=to_global_id("Scorecard", card.key), period=card.period,
                   results=[KpiResult(kpi=Kpi.from_domain(line.kpi), actual=line.actual,
                                      score=line.score) for line in card.sheet.kpi_scores],
                   score=card.sheet.score, multiplier=card.sheet.multiplier,
                   dealer_code=card.dealer_code, template_code=card.template_code)

    @strawberry.field(description="The dealer scored.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)

    @strawberry.field(description="The template scored against.")
    async def template(self, info: Info) -> ScorecardTemplate:
        found = await info.context.loaders.scorecard_template_by_code.load(self.template_code)
        if found is None:
            raise LookupError(f"scorecard template {self.template_code} is missing")
        return ScorecardTemplate.from_domain(found)


@strawberry.input(description="A KPI of a new template.")
class KpiInput:
    code: str = strawberry.field(description="Unique in the template: letters, digits, . _ -")
    name: str = strawberry.field(description="Display name, 1–200 characters.")
    weight: decimal.Decimal = strawberry.field(
        description="More than 0; the template's weights sum to exactly 100.")
    target: decimal.Decimal = strawberry.field(description="More than 0.")
    direction: KpiDirection = strawberry.field(description="Whether more is better.")

    def to_domain(self) -> domain.Kpi:
        return domain.Kpi(code=self.code, name=self.name, weight=self.weight,
                          target=self.target, direction=self.direction)


@strawberry.input(description="A multiplier band of a new template.")
class ScoreBandInput:
    min_score: decimal.Decimal = strawberry.field(
        description="0–100, distinct among the template's bands.")
    multiplier: decimal.Decimal = strawberry.field(description="0 or more.")

    def to_domain(self) -> domain.ScoreBand:
        return domain.ScoreBand(min_score=self.min_score, multiplier=self.multiplier)


@strawberry.input(description="A new scorecard template.")
class ScorecardTemplateInput:
    code: str = strawberry.field(description="Template code: letters, digits, . _ -")
    name: str = strawberry.field(description="Display name, 1–200 characters.")
    kpis: list[KpiInput] = strawberry.field(description="At least one; weights sum to 100.")
    bands: list[ScoreBandInput] = strawberry.field(description="At least one.")


@strawberry.input(description="The actual of one KPI.")
class KpiActualInput:
    kpi_code: str = strawberry.field(description="A KPI code of the template.")
    actual: decimal.Decimal = strawberry.field(description="0 or more.")


@strawberry.input(description="A dealer's actuals for one period under one template. "
                              "Recording again replaces the scorecard.")
class ScorecardInput:
    dealer_code: str = strawberry.field(description="The dealer scored.")
    template_code: str = strawberry.field(description="The template scored against.")
    period: str = strawberry.field(
        description="A period that has begun: 2026-03, 2026-Q1 or 2026; the same name as "
                    "the accrual periods it scales.")
    values: list[KpiActualInput] = strawberry.field(
        description="Every KPI of the template exactly once.")


@strawberry.type(description="Result of createScorecardTemplate.")
class ScorecardTemplatePayload:
    template: ScorecardTemplate | None = strawberry.field(
        description="The stored template; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing stored.")


@strawberry.type(description="Result of recordScorecard.")
class ScorecardPayload:
    scorecard: Scorecard | None = strawberry.field(
        description="The stored scorecard; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing stored.")
