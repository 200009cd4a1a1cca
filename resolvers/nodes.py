"""`node(id:)`: fetch any object by global ID, with the same visibility as its own query."""
from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.context import Info
from resolvers.guard import allow, bad_input
from resolvers.programs import program_if_visible
from resolvers.segments import load_segment
from schema.accruals import Accrual
from schema.audit import AuditEvent
from schema.dealers import Dealer
from schema.relay import MalformedId, Node, from_global_id
from service.access import STAFF
from service.repositories import accruals as accrual_repo
from service.repositories import audit as records


async def node(info: Info, id: Annotated[strawberry.ID, strawberry.argument(
        description="A global ID from any object's `id`.")]) -> Node | None:
    allow(info)
    try:
        type_name, key = from_global_id(id)
    except MalformedId as error:
        raise bad_input(str(error), "id") from None
    if type_name == "Dealer":
        found = await info.context.loaders.dealer_by_code.load(key)
        return Dealer.from_domain(found) if found else None
    if type_name == "Segment":
        return await load_segment(info, key)
    if type_name == "Program":
        code, _, version = key.rpartition(":")
        program = await info.context.loaders.program_by_version.load(
            (code, int(version)) if version.isdigit() else ("", 0))
        return await program_if_visible(info, program)
    if type_name == "Accrual":
        accrual = await accrual_repo.get(info.context.deps.db, key, scope=info.context.scope)
        return Accrual.from_stored(accrual) if accrual else None
    if type_name == "AuditEvent" and info.context.principal.role in STAFF:
        event = await records.get(info.context.deps.db, key)
        return AuditEvent.from_record(event) if event else None
    return None
