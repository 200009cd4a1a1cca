"""settle: turn a closed period's approved accruals into a payout document, never twice."""
from __future__ import annotations

from bson import ObjectId

from domain.errors import NotFound, Problems
from domain.money import ZERO, percent_of, round_money
from domain.periods import program_period
from domain.programs import PayoutForm
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, ledger
from service.repositories import programs as program_repo
from service.repositories import settlements as settlement_repo
from service.repositories.settlements import Settlement, SettlementLine


async def settle(deps: Deps, actor: Principal, program_code: str,
                 period_name: str) -> Settlement:
    """CASH withholds taxRate % of a positive net; CREDIT_NOTE and GOODS carry it whole.
    A negative net (money reclaimed) is a line the dealer owes, with no tax."""
    code, name = program_code.strip(), period_name.strip()
    program = await program_repo.get(deps.db, code)
    if program is None:
        raise NotFound(("input", "programCode"), f"no program with code {code!r}")
    problems = Problems()
    try:
        period = program_period(name, program.rules.period_kind, program.rules.valid_from,
                                program.rules.valid_to)
    except ValueError as error:
        problems.add(("input", "period"), str(error))
        problems.raise_if_any()
    if period.name not in await ledger.locks(deps.db, code):
        problems.add(("input", "period"), f"close {period.name} before settling it")
        problems.raise_if_any()
    settlement_id = ObjectId()
    claimed = await settlement_repo.claim_approved(deps.db, code, period.name, settlement_id)
    if not claimed:
        problems.add(("input", "period"), f"nothing to settle for {period.name}: no accrual "
                                          "approved since the last settlement",
                     "NOTHING_TO_SETTLE")
        problems.raise_if_any()
    form = program.rules.payout_form
    lines = []
    for doc in claimed:
        net = doc["netAmount"]
        taxed = form is PayoutForm.CASH and net > 0
        tax = round_money(percent_of(net, program.rules.tax_rate) if taxed else ZERO)
        lines.append(SettlementLine(dealer_code=doc["dealerCode"], accrual_id=str(doc["_id"]),
                                    amount=net, tax_withheld=tax, payable=net - tax,
                                    form=form))
    total = sum((line.payable for line in lines), ZERO)
    settlement = await settlement_repo.insert(
        deps.db, settlement_id, program_code=code, period=period.name, lines=lines,
        total=total, actor=actor.sub, now=deps.now())
    await audit.append(deps.db, actor=actor, action="settle", entity_type="Settlement",
                       entity_id=settlement.id, before=None,
                       after={"programCode": code, "period": period.name,
                              "lines": len(lines), "totalPayable": total}, now=deps.now())
    return settlement
