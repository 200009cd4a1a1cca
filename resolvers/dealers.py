"""Dealer queries and mutations."""
from __future__ import annotations

from typing import Annotated

import strawberry

from domain.dealers import DealerStatus
from domain.errors import RebateError
from resolvers.context import Info
from resolvers.guard import allow, argument_error
from schema.dealers import Dealer, DealerConnection, DealerInput, DealerPayload
from schema.errors import user_errors_of
from schema.relay import After, Before, First, Last
from service.errors import InvalidArgument
from service.pagination import page_request
from service.repositories import dealers as dealer_repo
from service.usecases.dealers import upsert_dealer as upsert_dealer_use_case


async def dealer(info: Info, code: Annotated[str, strawberry.argument(
        description="The CRM's dealer code.")]) -> Dealer | None:
    allow(info)
    found = await info.context.loaders.dealer_by_code.load(code.strip())
    return Dealer.from_domain(found) if found else None


async def dealers(
        info: Info,
        first: First = None,
        after: After = None,
        segment_code: Annotated[str | None, strawberry.argument(
            description="Only members of this segment.")] = None,
        status: Annotated[DealerStatus | None, strawberry.argument(
            description="Only dealers with this status.")] = None,
        last: Last = None,
        before: Before = None,
) -> DealerConnection:
    allow(info)
    try:
        page = await dealer_repo.page(
            info.context.deps.db, page_request(dealer_repo.CURSOR_KIND, first=first,
                                               after=after, last=last, before=before),
            segment_code=segment_code.strip() if segment_code else None, status=status,
            scope=info.context.scope)
    except InvalidArgument as error:
        raise argument_error(error) from None
    return DealerConnection.of(page)


async def upsert_dealer(info: Info, input: DealerInput) -> DealerPayload:
    allow(info)
    try:
        stored = await upsert_dealer_use_case(
            info.context.deps, info.context.principal, code=input.code, name=input.name,
            region=input.region, channel=input.channel, joined_on=input.joined_on,
            attributes=input.attributes, status=input.status)
    except RebateError as error:
        return DealerPayload(dealer=None, user_errors=user_errors_of(error))
    return DealerPayload(dealer=Dealer.from_domain(stored), user_errors=[])
