"""Accrual queries, runAccruals and the rebate forecast."""
from __future__ import annotations

import decimal
from typing import Annotated

import strawberry

from domain.errors import RebateError
from resolvers.context import Info
from resolvers.guard import allow, argument_error, bad_input, period_argument
from resolvers.programs import program_if_visible
from schema.accruals import (
    Accrual,
    AccrualConnection,
    AccrualFilter,
    RebateForecast,
    RunAccrualsInput,
    RunAccrualsPayload,
)
from schema.errors import user_errors_of
from schema.relay import After, Before, First, Last
from service.errors import InvalidArgument
from service.pagination import page_request
from service.repositories import accruals as accrual_repo
from service.repositories import programs as program_repo
from service.usecases import accrual_jobs
from service.usecases import accruals as use_cases


async def accruals(
        info: Info,
        filter: AccrualFilter | None = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
) -> AccrualConnection:
    allow(info)
    wanted = filter or AccrualFilter()
    try:
        page = await accrual_repo.page(
            info.context.deps.db, page_request(accrual_repo.CURSOR_KIND, first=first,
                                               after=after, last=last, before=before),
            dealer_code=wanted.dealer_code, program_code=wanted.program_code,
            period=period_argument(wanted.period, "filter.period"), status=wanted.status,
            scope=info.context.scope)
    except InvalidArgument as error:
        raise argument_error(error) from None
    return AccrualConnection.of(page)


async def run_accruals(info: Info, input: RunAccrualsInput) -> RunAccrualsPayload:
    allow(info)
    try:
        found = await use_cases.run_accruals(info.context.deps, info.context.principal,
                                             input.program_code, input.period)
    except RebateError as error:
        return RunAccrualsPayload(accruals=[], user_errors=user_errors_of(error))
    return RunAccrualsPayload(accruals=[Accrual.from_stored(a) for a in found], user_errors=[])


async def rebate_forecast(
        info: Info, dealer_code: str, program_code: str, period: str,
        additional_basis: Annotated[decimal.Decimal, strawberry.argument(
            description="What the dealer might still sell (or collect).")],
) -> RebateForecast | None:
    allow(info)
    try:
        use_cases.check_additional_basis(additional_basis)
    except InvalidArgument as error:
        raise argument_error(error) from None
    if info.context.scope is not None and await program_if_visible(
            info, await program_repo.get(info.context.deps.db, program_code.strip())) is None:
        # A DEALER: a program without terms for it (or a DRAFT) is null whatever the period,
        # exactly like a program that does not exist; a period error would confirm it.
        return None
    try:
        found = await use_cases.rebate_forecast(
            info.context.deps, scope=info.context.scope, dealer_code=dealer_code,
            program_code=program_code, period_name=period, additional_basis=additional_basis)
    except RebateError as error:
        raise bad_input(str(error), "period") from None
    if found is None:
        return None
    return RebateForecast.of(found, dealer_code.strip(), period.strip())


async def accrual_backlog(info: Info) -> int:
    allow(info)
    return await accrual_jobs.pending(info.context.deps)
