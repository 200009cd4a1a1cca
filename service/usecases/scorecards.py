"""Scorecard use cases: define a template, record a dealer's actuals for a period.

Recording (or re-recording) a scorecard marks the accruals that use its template for that
period, so ON_HOLD accruals are released with the multiplier within seconds.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from domain.codes import normalise_text
from domain.errors import Conflict, Problems, ValidationFailed, message_of
from domain.periods import parse_period
from domain.scorecards import (
    Kpi,
    ScoreBand,
    Scorecard,
    ScorecardTemplate,
    score,
    validate_actuals,
    validate_template,
)
from domain.text import Text
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, pending
from service.repositories import dealers as dealer_repo
from service.repositories import scorecards as scorecard_repo
from service.repositories.ids import new_id
from service.usecases import accrual_jobs


async def create_scorecard_template(deps: Deps, actor: Principal, *, code: str, name: str,
                                    kpis: Sequence[Kpi],
                                    bands: Sequence[ScoreBand]) -> ScorecardTemplate:
    template = validate_template(code=code, name=name, kpis=kpis, bands=bands)
    if await scorecard_repo.get_template(deps.db, template.code) is not None:
        raise Conflict(("input", "code"),
                       Text("scorecard template {code} already exists",
                            code=repr(template.code)))
    now = deps.now()
    event = audit.event(actor=actor, action="createScorecardTemplate",
                        entity_type="ScorecardTemplate", entity_id=template.code, before=None,
                        after=scorecard_repo.template_doc(template, now), now=now)
    doc = await scorecard_repo.insert_template(deps.db, template, now=now,
                                               pending=pending.marker(now, actor, audit=event))
    await pending.complete_audited(deps.db, pending.Holder.SCORECARD_TEMPLATE, doc)
    return template


async def _checked(deps: Deps, dealer_code: str, template_code: str, period: str,
                   values: Sequence[tuple[str, Decimal]]) -> Scorecard:
    """Every problem of a recordScorecard input at once: dealer, template, period, values."""
    problems = Problems()
    if await dealer_repo.get(deps.db, dealer_code) is None:
        problems.add(("input", "dealerCode"),
                     Text("no dealer with code {code}", code=repr(dealer_code)), "NOT_FOUND")
    template = await scorecard_repo.get_template(deps.db, template_code)
    if template is None:
        problems.add(("input", "templateCode"),
                     Text("no scorecard template with code {code}", code=repr(template_code)),
                     "NOT_FOUND")
    try:
        parsed = parse_period(period)
    except ValueError as error:
        problems.add(("input", "period"), message_of(error))
    else:
        if parsed.start > deps.today():
            problems.add(("input", "period"),
                         Text("{period} has not begun yet (today is {today})", period=period,
                              today=deps.today()))
    actuals: dict[str, Decimal] = {}
    if template is not None:
        try:
            actuals = validate_actuals(template, values)
        except ValidationFailed as error:
            problems.items.extend(error.problems)
    problems.raise_if_any()
    assert template is not None
    return Scorecard(dealer_code=dealer_code, template_code=template_code, period=period,
                     sheet=score(template, actuals))


async def record_scorecard(deps: Deps, actor: Principal, dealer_code: str, template_code: str,
                           period: str, values: Sequence[tuple[str, Decimal]]) -> Scorecard:
    """Score and store a dealer's actuals; re-recording replaces the scorecard (audited)."""
    dealer_code = normalise_text(dealer_code)
    template_code = normalise_text(template_code)
    period = period.strip()
    card = await _checked(deps, dealer_code, template_code, period, values)
    now = deps.now()
    mark = pending.marker(now, actor, auditId=new_id())
    before, after = await scorecard_repo.replace(deps.db, card, now=now, pending=mark)
    failpoints.hit("scorecard.after_store")
    await audit.append(deps.db, actor=actor, action="recordScorecard", entity_type="Scorecard",
                       entity_id=card.key, before=pending.without_marker(before),
                       after=pending.without_marker(after), now=now, dealer_code=dealer_code,
                       event_id=mark["auditId"])
    await complete(deps, after)
    return card



async def complete(deps: Deps, doc: dict[str, Any]) -> None:
    """What follows storing a scorecard: its audit event (if the call stopped before it),
    the marks that recompute the accruals using it, then the marker dropped."""
    mark = doc.get(pending.FIELD)
    if mark is None:
        return
    await audit.append(deps.db, actor=pending.actor_of(mark), action="recordScorecard",
                       entity_type="Scorecard",
                       entity_id=f"{doc['dealerCode']}:{doc['templateCode']}:{doc['period']}",
                       before=None, after=pending.without_marker(doc), now=mark["since"],
                       dealer_code=doc["dealerCode"], event_id=mark["auditId"])
    await accrual_jobs.mark_scorecard(deps, doc["dealerCode"], doc["templateCode"],
                                      doc["period"])
    await scorecard_repo.clear_pending(deps.db, doc["_id"], mark)
