"""Dealer queries and mutations."""
from __future__ import annotations

from typing import Annotated

import strawberry

from domain.dealers import DealerStatus
from resolvers.context import Info
from resolvers.guard import allow, attempt
from resolvers.pages import read_page
from schema.dealers import Dealer, DealerConnection, DealerEdge, DealerInput, DealerPayload
from schema.relay import After, Before, First, Last, PageArgs, connection
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
    page = await read_page(
        dealer_repo.CURSOR_KIND, PageArgs(first, after, last, before),
        lambda request: dealer_repo.page(
            info.context.deps.db, request,
            segment_code=segment_code.strip() if segment_code else None, status=status,
            scope=info.context.scope))
    return connection(DealerConnection, DealerEdge, page, Dealer.from_domain)


async def upsert_dealer(info: Info, input: DealerInput) -> DealerPayload:
    allow(info)
    stored, errors = await attempt(lambda: upsert_dealer_use_case(
        info.context.deps, info.context.principal, code=input.code, name=input.name,
        region=input.region, channel=input.channel, joined_on=input.joined_on,
        attributes=input.attributes, status=input.status))
    return DealerPayload(dealer=Dealer.from_domain(stored) if stored else None,
                         user_errors=errors)
