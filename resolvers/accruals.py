"""Accrual queries, runAccruals and the rebate forecast."""
from __future__ import annotations

import decimal
from collections.abc import Awaitable
from typing import Annotated

import strawberry

from domain.errors import RebateError
from resolvers import records
from resolvers.context import Info
from resolvers.guard import allow, attempt
from resolvers.pages import period_argument, read_page
from schema.accruals import (
    AccrualConnection,
    AccrualEdge,
    AccrualFilter,
    RebateForecast,
    RunAccrualsInput,
    RunAccrualsPayload,
)
from schema.errors import argument_error, bad_input
from schema.relay import After, Before, First, Last, PageArgs, connection
from service.errors import InvalidArgument
from service.pagination import Page, PageRequest
from service.repositories import accruals as accrual_repo
from service.repositories.accruals import StoredAccrual
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

    def fetch(request: PageRequest) -> Awaitable[Page[StoredAccrual]]:
        return accrual_repo.page(
            info.context.deps.db, request, dealer_code=wanted.dealer_code,
            program_code=wanted.program_code,
            period=period_argument(wanted.period, "filter.period"), status=wanted.status,
            scope=info.context.scope)

    page = await read_page(accrual_repo.CURSOR_KIND, PageArgs(first, after, last, before),
                           fetch)
    return connection(AccrualConnection, AccrualEdge, page, records.accrual)


async def run_accruals(info: Info, input: RunAccrualsInput) -> RunAccrualsPayload:
    allow(info)
    found, errors = await attempt(lambda: use_cases.run_accruals(
        info.context.deps, info.context.principal, input.program_code, input.period))
    return RunAccrualsPayload(accruals=[records.accrual(a) for a in found or []],
                              user_errors=errors)


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
    loaders = info.context.loaders
    if info.context.scope is not None and await loaders.program_if_visible(
            await loaders.program_by_code.load(program_code.strip())) is None:
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
    loaders.program_by_code.prime(found.program.code, found.program)  # for `program`
    return records.rebate_forecast(found, dealer_code.strip(), period.strip())


async def accrual_backlog(info: Info) -> int:
    allow(info)
    return await accrual_jobs.pending(info.context.deps)
