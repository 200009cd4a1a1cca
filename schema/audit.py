"""Audit events: who did what, when, with the entity before and after."""
from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from schema.relay import Node, PageInfo
from service.pagination import Total, count_of


@strawberry.type(description="An immutable record of one mutation.")
class AuditEvent(Node):
    at: dt.datetime = strawberry.field(description="When it happened.")
    actor: str = strawberry.field(description="The token's `sub`.")
    role: str = strawberry.field(description="The caller's role.")
    action: str = strawberry.field(description="The mutation, e.g. upsertDealer.")
    entity_type: str = strawberry.field(description="Dealer, Segment, Program, ...")
    entity_id: str = strawberry.field(description="The entity's code (or global ID).")
    before: JSON | None = strawberry.field(description="The entity before; null if new.")
    after: JSON | None = strawberry.field(description="The entity after.")


@strawberry.type(description="An audit event in a page.")
class AuditEventEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue.")
    node: AuditEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of audit events, newest first.")
class AuditEventConnection:
    edges: list[AuditEventEdge] = strawberry.field(description="The events of this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total: strawberry.Private[Total]

    @strawberry.field(description="Events matching, over all pages.")
    async def total_count(self) -> int:
        return await count_of(self.total)
