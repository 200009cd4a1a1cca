"""Rebate account mutations: thin, each one use case (service/usecases/rebate_accounts.py)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from resolvers import records
from resolvers.context import Info
from resolvers.guard import allow, attempt
from schema.rebate_accounts import (
    RebateOrderInput,
    RebateUsePayload,
    RefundRebateInput,
    ReserveRebateInput,
)
from service.usecases import rebate_accounts as use_cases


async def _payload(info: Info, call: Callable[[], Awaitable[use_cases.Outcome]],
                   ) -> RebateUsePayload:
    allow(info)
    outcome, errors = await attempt(call)
    if outcome is None:
        return RebateUsePayload(use=None, account=None, user_errors=errors)
    return RebateUsePayload(
        use=records.rebate_use(outcome.use),
        account=records.rebate_account(outcome.account, info.context.deps.today()),
        user_errors=[])


async def reserve_rebate(info: Info, input: ReserveRebateInput) -> RebateUsePayload:
    return await _payload(info, lambda: use_cases.reserve(
        info.context.deps, info.context.principal, dealer_code=input.dealer_code,
        order_id=input.order_id, order_amount=input.order_amount, amount=input.amount,
        currency=input.currency))


async def capture_rebate(info: Info, input: RebateOrderInput) -> RebateUsePayload:
    return await _payload(info, lambda: use_cases.capture(
        info.context.deps, info.context.principal, order_id=input.order_id))


async def release_rebate(info: Info, input: RebateOrderInput) -> RebateUsePayload:
    return await _payload(info, lambda: use_cases.release(
        info.context.deps, info.context.principal, order_id=input.order_id))


async def refund_rebate(info: Info, input: RefundRebateInput) -> RebateUsePayload:
    return await _payload(info, lambda: use_cases.refund(
        info.context.deps, info.context.principal, order_id=input.order_id,
        amount=input.amount, refund_id=input.refund_id))
