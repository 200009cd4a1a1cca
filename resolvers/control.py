"""Violations, reinstatement, period close, settlement and disputes."""
from __future__ import annotations

from typing import Annotated

import strawberry

from domain.disputes import DisputeStatus
from resolvers import records
from resolvers.context import Info
from resolvers.guard import allow, attempt
from schema.control import (
    ClosePeriodInput,
    ClosePeriodPayload,
    Dispute,
    DisputePayload,
    OpenDisputeInput,
    ReinstateDealerInput,
    ResolveDisputeInput,
    SettleInput,
    Settlement,
    SettlementPayload,
    Violation,
    ViolationInput,
    ViolationPayload,
)
from schema.dealers import Dealer, DealerPayload
from schema.errors import bad_input
from schema.relay import MalformedId, key_of
from service.repositories import dealers as dealer_repo
from service.repositories import disputes as dispute_repo
from service.repositories import settlements as settlement_repo
from service.usecases import closing, disputes, settlement, violations


def _local_id(global_id: str, type_name: str, argument: str) -> str:
    """The key of an ID of `type_name`; "" (names nothing) for an ID of another type."""
    try:
        return key_of(global_id, type_name) or ""
    except MalformedId as error:
        raise bad_input(str(error), argument) from None


async def record_violation(info: Info, input: ViolationInput) -> ViolationPayload:
    allow(info)
    found, errors = await attempt(lambda: violations.record_violation(
        info.context.deps, info.context.principal, dealer_code=input.dealer_code,
        type_=input.type, occurred_on=input.occurred_on, description=input.description,
        kind=input.penalty.kind, percent=input.penalty.percent))
    return ViolationPayload(violation=Violation.from_domain(found) if found else None,
                            user_errors=errors)


async def reinstate_dealer(info: Info, input: ReinstateDealerInput) -> DealerPayload:
    allow(info)
    _, errors = await attempt(lambda: violations.reinstate_dealer(
        info.context.deps, info.context.principal, input.dealer_code, input.note))
    if errors:
        return DealerPayload(dealer=None, user_errors=errors)
    dealer = await dealer_repo.get(info.context.deps.db, input.dealer_code.strip())
    return DealerPayload(dealer=Dealer.from_domain(dealer) if dealer else None, user_errors=[])


async def close_period(info: Info, input: ClosePeriodInput) -> ClosePeriodPayload:
    allow(info)
    found, errors = await attempt(lambda: closing.close_period(
        info.context.deps, info.context.principal, input.program_code, input.period))
    return ClosePeriodPayload(accruals=[records.accrual(a) for a in found or []],
                              user_errors=errors)


async def settle(info: Info, input: SettleInput) -> SettlementPayload:
    allow(info)
    found, errors = await attempt(lambda: settlement.settle(
        info.context.deps, info.context.principal, input.program_code, input.period))
    return SettlementPayload(
        settlement=records.settlement(found, info.context.scope) if found else None,
        user_errors=errors)


async def settlements(info: Info, program_code: str | None = None,
                      period: str | None = None,
                      number: Annotated[str | None, strawberry.argument(
                          description="Only the settlement with this number, e.g. "
                                      "STL-2026-000123.")] = None) -> list[Settlement]:
    allow(info)
    found = await settlement_repo.find(info.context.deps.db, program_code=program_code,
                                       period=period, number=number,
                                       dealer_scope=info.context.scope)
    return [records.settlement(s, info.context.scope) for s in found]


async def open_dispute(info: Info, input: OpenDisputeInput) -> DisputePayload:
    allow(info)
    accrual_id = _local_id(input.accrual_id, "Accrual", "accrualId")
    found, errors = await attempt(lambda: disputes.open_dispute(
        info.context.deps, info.context.principal, accrual_id, input.reason))
    return DisputePayload(dispute=records.dispute(found) if found else None, user_errors=errors)


async def resolve_dispute(info: Info, input: ResolveDisputeInput) -> DisputePayload:
    allow(info)
    dispute_id = _local_id(input.dispute_id, "Dispute", "disputeId")
    found, errors = await attempt(lambda: disputes.resolve_dispute(
        info.context.deps, info.context.principal, dispute_id, accept=input.accept,
        adjustment=input.adjustment_amount, note=input.note))
    return DisputePayload(dispute=records.dispute(found) if found else None, user_errors=errors)


async def dispute_list(info: Info, status: Annotated[DisputeStatus | None, strawberry.argument(
        description="Only disputes in this state.")] = None) -> list[Dispute]:
    allow(info)
    found = await dispute_repo.find(info.context.deps.db,
                                    status=status.value if status else None,
                                    scope=info.context.scope)
    return [records.dispute(d) for d in found]
