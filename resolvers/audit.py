"""The audit log query (staff only)."""
from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.context import Info
from resolvers.guard import allow, argument_error
from schema.audit import AuditEventConnection
from schema.relay import After, Before, First, Last
from service.errors import InvalidArgument
from service.pagination import page_request
from service.repositories import audit as records


async def audit_events(
        info: Info,
        entity_type: Annotated[str | None, strawberry.argument(
            description="Only events about this kind of entity, e.g. Dealer.")] = None,
        entity_id: Annotated[str | None, strawberry.argument(
            description="Only events about this entity (its code).")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
) -> AuditEventConnection:
    allow(info)
    try:
        page = await records.page(
            info.context.deps.db, page_request(records.CURSOR_KIND, first=first, after=after,
                                               last=last, before=before),
            entity_type=entity_type, entity_id=entity_id)
    except InvalidArgument as error:
        raise argument_error(error) from None
    return AuditEventConnection.of(page)
