"""The audit log query (staff only)."""
from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.context import Info
from resolvers.guard import allow, argument_error
from schema.audit import AuditEventConnection
from service.errors import InvalidArgument
from service.pagination import check_first, decode_cursor
from service.repositories import audit as records


async def audit_events(
        info: Info,
        entity_type: Annotated[str | None, strawberry.argument(
            description="Only events about this kind of entity, e.g. Dealer.")] = None,
        entity_id: Annotated[str | None, strawberry.argument(
            description="Only events about this entity (its code).")] = None,
        first: Annotated[int | None, strawberry.argument(
            description="Page size, at most 100 (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the last event of the previous page.")] = None,
) -> AuditEventConnection:
    allow(info)
    try:
        page = await records.page(info.context.deps.db, entity_type=entity_type,
                                  entity_id=entity_id, first=check_first(first),
                                  after=decode_cursor(records.CURSOR_KIND, after))
    except InvalidArgument as error:
        raise argument_error(error) from None
    return AuditEventConnection.of(page)
