"""Violations: recorded, then applied at once to every accrual they touch."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from domain.dealers import DealerStatus
from domain.errors import NotFound, Problems
from domain.periods import DateRange
from domain.programs import Accumulation, ProgramStatus, started_periods
from domain.text import Text
from domain.violations import PenaltyKind, Violation, ViolationType, validate_violation
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, pending
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import violations as violation_repo
from service.repositories.ids import new_id
from service.usecases import membership
from service.usecases.engine import recompute


async def record_violation(deps: Deps, actor: Principal, *, dealer_code: str,
                           type_: ViolationType, occurred_on: dt.date, description: str,
                           kind: PenaltyKind, percent: Decimal | None) -> Violation:
    code = dealer_code.strip()
    dealer = await dealer_repo.get(deps.db, code)
    problems = Problems()
    if dealer is None:
        problems.add(("input", "dealerCode"), Text("no dealer with code {code}", code=repr(code)),
                     "NOT_FOUND")
    text = validate_violation(description=description, occurred_on=occurred_on, kind=kind,
                              percent=percent, today=deps.today(), problems=problems)
    now = deps.now()
    violation_id = new_id()
    disqualifies = kind is PenaltyKind.FORFEIT_YEAR
    before_status = getattr(dealer.status if dealer else None, "value", None)
    event = audit.event(
        actor=actor, action="recordViolation", entity_type="Violation",
        entity_id=str(violation_id), before=None,
        after={"dealerCode": code, "type": type_.value, "occurredOn": occurred_on.isoformat(),
               "description": text, "penalty": {"kind": kind.value, "percent": percent},
               "dealerStatus": [before_status,
                                "DISQUALIFIED" if disqualifies else before_status]},
        now=now, dealer_code=code, event_id=violation_id)
    doc = await violation_repo.insert(
        deps.db, violation_id, Violation(id="", dealer_code=code, type=type_,
                                         occurred_on=occurred_on, description=text, kind=kind,
                                         percent=percent),
        actor=actor.sub, now=now, pending=pending.marker(now, actor, audit=event))
    failpoints.hit("violation.after_insert")
    await complete(deps, doc)
    return violation_repo.from_doc(doc)


async def complete(deps: Deps, doc: dict[str, Any]) -> None:
    """What follows storing a violation, each step idempotent, the marker cleared last:
    disqualify (FORFEIT_YEAR), audit, recompute what it touches."""
    violation = violation_repo.from_doc(doc)
    if violation.kind is PenaltyKind.FORFEIT_YEAR:
        await dealer_repo.set_status(deps.db, violation.dealer_code, DealerStatus.DISQUALIFIED)
    mark = doc.get(pending.FIELD) or {}
    if mark.get("audit"):
        await audit.write(deps.db, mark["audit"])
    await apply_violation(deps, violation)
    await violation_repo.clear_pending(deps.db, doc["_id"])


async def apply_violation(deps: Deps, violation: Violation) -> None:
    """Recompute, now, every accrual of the dealer the violation touches: the period it is
    dated in (and, for year-to-date programs and caps, the later ones), or under
    FORFEIT_YEAR every period of the programs whose validity contains its date."""
    today = deps.today()
    for status in (ProgramStatus.ACTIVE, ProgramStatus.RETIRED):
        for program in await program_repo.list_programs(deps.db, status=status):
            rules = program.rules
            if not DateRange(rules.valid_from, rules.valid_to).contains(violation.occurred_on):
                continue
            if violation.kind is PenaltyKind.FORFEIT_YEAR:
                periods = rules.periods()
            else:
                periods = [p for p in started_periods(rules, today)
                           if p.end >= violation.occurred_on]
                if rules.accumulation is Accumulation.PER_PERIOD and not rules.terms_have_cap:
                    periods = [p for p in periods if p.start <= violation.occurred_on]
            periods = [p for p in periods if p.start <= max(today, violation.occurred_on)]
            await recompute(deps, program, [p.name for p in periods],
                            [violation.dealer_code])


async def reinstate_dealer(deps: Deps, actor: Principal, code: str, note: str | None) -> None:
    """An ADMIN lifts a disqualification; what was forfeited stays forfeited."""
    dealer = await dealer_repo.get(deps.db, code.strip())
    if dealer is None:
        raise NotFound(("input", "dealerCode"), Text("no dealer with code {code}", code=repr(code)))
    if dealer.status is not DealerStatus.DISQUALIFIED:
        problems = Problems()
        problems.add(("input", "dealerCode"),
                     Text("dealer {code} is {status}, not DISQUALIFIED", code=dealer.code,
                          status=dealer.status.value))
        problems.raise_if_any()
    now = deps.now()
    event = audit.event(actor=actor, action="reinstateDealer", entity_type="Dealer",
                        entity_id=dealer.code, before={"status": "DISQUALIFIED"},
                        after={"status": "ACTIVE", "note": note}, now=now,
                        dealer_code=dealer.code)
    mark = pending.marker(now, actor, audit=event)
    # status and marker in one write; what follows is the dealer's recovery step itself
    await dealer_repo.set_status(deps.db, dealer.code, DealerStatus.ACTIVE,
                                 only_if=DealerStatus.DISQUALIFIED, pending=mark)
    doc = await dealer_repo.get_doc(deps.db, dealer.code)
    assert doc is not None
    await membership.complete_dealer(deps, doc)
