"""Scorecard queries and mutations. Templates are policy and readable by everyone; a DEALER
sees only its own scorecards (the loaders and the repository are scoped)."""
from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.context import Info
from resolvers.guard import allow, attempt
from schema.scorecards import (
    Scorecard,
    ScorecardInput,
    ScorecardPayload,
    ScorecardTemplate,
    ScorecardTemplateInput,
    ScorecardTemplatePayload,
)
from service.repositories import scorecards as scorecard_repo
from service.usecases import scorecards as use_cases


async def load_scorecard(info: Info, key: str) -> Scorecard | None:
    """By business key `dealer:template:period`; None for another dealer's, for a DEALER."""
    parts = key.split(":")
    if len(parts) != 3:
        return None
    dealer_code, template_code, period = parts
    card = await scorecard_repo.get(info.context.deps.db, dealer_code, template_code, period,
                                    scope=info.context.scope)
    return Scorecard.from_domain(card) if card else None


async def load_template(info: Info, code: str) -> ScorecardTemplate | None:
    found = await info.context.loaders.scorecard_template_by_code.load(code)
    return ScorecardTemplate.from_domain(found) if found else None


async def scorecard_template(info: Info, code: Annotated[str, strawberry.argument(
        description="Template code.")]) -> ScorecardTemplate | None:
    allow(info)
    return await load_template(info, code.strip())


async def scorecard_templates(info: Info) -> list[ScorecardTemplate]:
    allow(info)
    found = await scorecard_repo.all_templates(info.context.deps.db)
    return [ScorecardTemplate.from_domain(t) for t in found]


async def create_scorecard_template(info: Info,
                                    input: ScorecardTemplateInput) -> ScorecardTemplatePayload:
    allow(info)
    stored, errors = await attempt(lambda: use_cases.create_scorecard_template(
        info.context.deps, info.context.principal, code=input.code, name=input.name,
        kpis=[k.to_domain() for k in input.kpis], bands=[b.to_domain() for b in input.bands]))
    return ScorecardTemplatePayload(
        template=ScorecardTemplate.from_domain(stored) if stored else None, user_errors=errors)


async def record_scorecard(info: Info, input: ScorecardInput) -> ScorecardPayload:
    allow(info)
    stored, errors = await attempt(lambda: use_cases.record_scorecard(
        info.context.deps, info.context.principal, input.dealer_code, input.template_code,
        input.period, [(v.kpi_code, v.actual) for v in input.values]))
    return ScorecardPayload(scorecard=Scorecard.from_domain(stored) if stored else None,
                            user_errors=errors)
