"""The audit log query (staff only)."""
from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import records
from resolvers.context import Info
from resolvers.guard import allow
from resolvers.pages import read_page
from schema.audit import AuditEventConnection, AuditEventEdge
from schema.relay import After, Before, First, Last, PageArgs, connection
from service.repositories import audit as audit_repo


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
    page = await read_page(audit_repo.CURSOR_KIND, PageArgs(first, after, last, before),
                           lambda request: audit_repo.page(
                               info.context.deps.db, request, entity_type=entity_type,
                               entity_id=entity_id))
    return connection(AuditEventConnection, AuditEventEdge, page, records.audit_event)
