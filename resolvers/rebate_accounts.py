"""Rebate account mutations: thin, each one use case (service/usecases/rebate_accounts.py)."""
from __future__ import annotations

from collections.abc import Awaitable

from domain.errors import RebateError
from resolvers.context import Info
from resolvers.guard import allow
from schema.errors import user_errors_of
from schema.rebate_accounts import (
    RebateAccount,
    RebateOrderInput,
    RebateUse,
    RebateUsePayload,
    RefundRebateInput,
    ReserveRebateInput,
)
from service.usecases import rebate_accounts as use_cases


async def _payload(info: Info, call: Awaitable[use_cases.Outcome]) -> RebateUsePayload:
    try:
        outcome = await call
    except RebateError as error:
        return RebateUsePayload(use=None, account=None, user_errors=user_errors_of(error))
    return RebateUsePayload(
        use=RebateUse.from_domain(outcome.use),
        account=RebateAccount.from_domain(outcome.account, info.context.deps.today()),
        user_errors=[])


async def reserve_rebate(info: Info, input: ReserveRebateInput) -> RebateUsePayload:
    allow(info)
    return await _payload(info, use_cases.reserve(
        info.context.deps, info.context.principal, dealer_code=input.dealer_code,
        order_id=input.order_id, order_amount=input.order_amount, amount=input.amount,
        currency=input.currency))


async def capture_rebate(info: Info, input: RebateOrderInput) -> RebateUsePayload:
    allow(info)
    return await _payload(info, use_cases.capture(info.context.deps, info.context.principal,
                                                  order_id=input.order_id))


async def release_rebate(info: Info, input: RebateOrderInput) -> RebateUsePayload:
    allow(info)
    return await _payload(info, use_cases.release(info.context.deps, info.context.principal,
                                                  order_id=input.order_id))


async def refund_rebate(info: Info, input: RefundRebateInput) -> RebateUsePayload:
    allow(info)
    return await _payload(info, use_cases.refund(info.context.deps, info.context.principal,
                                                 order_id=input.order_id, amount=input.amount,
                                                 refund_id=input.refund_id))
