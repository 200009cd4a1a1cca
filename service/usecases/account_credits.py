"""What settlements and forfeitures do to rebate accounts (SPEC §4a).

A CREDIT_NOTE settlement line is not cash: its payable is credited to the dealer's rebate
account in the program's currency, one entry per line, expiring `creditValidityDays` after
the settlement date (the day it began, in the business time zone; no validity: never). Each
entry is keyed by its settlement line (`source`), and the ledger writes a source once, so
the settle call, its retry and the recovery pass may all get here and the account is
credited once.

A FORFEIT_YEAR forfeiture of a settled CREDIT_NOTE line takes that credit back: a RECLAIM
entry of the line's payable, keyed by the line, so re-applying the forfeiture (a retry, a
recomputation, a second violation) reclaims nothing twice. The balance may go negative: the
dealer then cannot reserve until later credits cover it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from domain.programs import PayoutForm
from domain.violations import PenaltyKind, Violation
from service import failpoints
from service.deps import Deps
from service.repositories import programs as program_repo
from service.repositories import rebate_accounts as account_repo
from service.repositories import settlements as settlement_repo
from service.repositories.accruals import StoredAccrual
from service.repositories.programs import StoredProgram


def credit_source(settlement_id: object, accrual_id: str) -> str:
    return f"settlement:{settlement_id}:{accrual_id}"


def reclaim_source(settlement_id: object, accrual_id: str) -> str:
    return f"reclaim:settlement:{settlement_id}:{accrual_id}"


def _credited(line: dict[str, Any]) -> bool:
    """A line the settlement credited: CREDIT_NOTE with something to pay (a negative net is
    money the dealer owes, handled as such on the payout document, never a debit here)."""
    return bool(line["form"] == PayoutForm.CREDIT_NOTE.value and line["payable"] > 0)


def settlement_date(deps: Deps, doc: dict[str, Any]) -> dt.date:
    created: dt.datetime = doc["createdAt"]
    return created.astimezone(ZoneInfo(deps.settings.timezone)).date()


async def _validity_days(deps: Deps, doc: dict[str, Any]) -> int | None:
    """As the settlement began with it; an intent from before rebate accounts: as now."""
    if settlement_repo.intends_credit_validity(doc):
        payout = settlement_repo.intended_payout(doc)
        assert payout is not None
        return payout.credit_validity_days
    program = await program_repo.get(deps.db, doc["programCode"])
    assert program is not None  # programs are never deleted
    return program.rules.credit_validity_days


def _line_cause(doc: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    return {"settlementId": str(doc["_id"]), "settlementNumber": doc.get("number"),
            "programCode": doc["programCode"], "period": doc["period"],
            "accrualId": line["accrualId"], "dealerCode": line["dealerCode"]}


async def credit_settlement(deps: Deps, doc: dict[str, Any]) -> int:
    """Credit the CREDIT_NOTE lines of a settlement whose lines are written; how many
    entries this call wrote (0 when a twin or an earlier attempt wrote them)."""
    lines = [line for line in doc["lines"] if _credited(line)]
    if not lines:
        return 0
    program = await program_repo.get(deps.db, doc["programCode"])
    assert program is not None  # programs are never deleted; currency never changes
    days = await _validity_days(deps, doc)
    expires_on = settlement_date(deps, doc) + dt.timedelta(days=days) if days else None
    written = 0
    for position, line in enumerate(lines):
        if position:
            failpoints.hit("settle.between_credits")
        written += await account_repo.credit(
            deps.db, dealer_code=line["dealerCode"], currency=program.rules.currency,
            amount=line["payable"], expires_on=expires_on,
            source=credit_source(doc["_id"], line["accrualId"]),
            cause=_line_cause(doc, line), now=deps.now())
    return written


def _forfeiting(violations: Sequence[Violation]) -> Violation | None:
    year = [v for v in violations if v.kind is PenaltyKind.FORFEIT_YEAR]
    return min(year, key=lambda v: (v.occurred_on, v.id)) if year else None


async def reclaim_forfeited(deps: Deps, program: StoredProgram, accrual: StoredAccrual,
                            violations: Sequence[Violation] = ()) -> bool:
    """Debit what the settlement of a now-forfeited accrual credited; whether it had credited
    anything (then the reclaim is on the account, whether written now or before). Credits
    come before SETTLED (usecases/settlement.py), so a SETTLED accrual's credit is there."""
    found = await settlement_repo.line_paying(deps.db, accrual.program_code, accrual.period,
                                              accrual.id)
    if found is None or not _credited(found[1]):
        return False
    doc, line = found
    if await account_repo.entry(deps.db, credit_source(doc["_id"], accrual.id)) is None:
        return False  # settled before rebate accounts existed: nothing was credited
    violation = _forfeiting(violations)
    await account_repo.reclaim(
        deps.db, dealer_code=accrual.dealer_code, currency=program.rules.currency,
        amount=line["payable"], source=reclaim_source(doc["_id"], accrual.id),
        cause={**_line_cause(doc, line), "reclaim": PenaltyKind.FORFEIT_YEAR.value,
               "violationId": violation.id if violation else None},
        now=deps.now())
    return True
