"""`node(id:)`: fetch any object by global ID, with the same visibility as its own query.

Each node type registers one loader here; an unknown type, or an object the caller may not
see, is null — exactly like an ID that does not exist, so nothing is confirmed.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from resolvers import records
from resolvers.alerts import load_alert
from resolvers.context import Info
from resolvers.guard import allow
from resolvers.scorecards import load_scorecard, load_template
from resolvers.segments import load_segment
from schema.control import Violation
from schema.dealers import Dealer
from schema.errors import bad_input
from schema.programs import program_key
from schema.relay import MalformedId, Node, from_global_id
from service.access import STAFF
from service.repositories import audit as audit_repo
from service.repositories import disputes as dispute_repo
from service.repositories import settlements as settlement_repo
from service.repositories import violations as violation_repo


async def _dealer(info: Info, key: str) -> Node | None:
    found = await info.context.loaders.dealer_by_code.load(key)
    return Dealer.from_domain(found) if found else None


async def _program(info: Info, key: str) -> Node | None:
    """The stable id: the current version; a version id (or an id from before ids were
    stable): that version. Either way only if the caller may see it."""
    code, version = program_key(key)
    loaders = info.context.loaders
    program = await (loaders.program_by_code.load(code) if version is None
                     else loaders.program_by_version.load((code, version)))
    return await loaders.program_if_visible(program)


async def _accrual(info: Info, key: str) -> Node | None:
    return await info.context.loaders.accrual_by_id.load(key)


async def _violation(info: Info, key: str) -> Node | None:
    found = await violation_repo.get(info.context.deps.db, key, scope=info.context.scope)
    return Violation.from_domain(found) if found else None


async def _dispute(info: Info, key: str) -> Node | None:
    found = await dispute_repo.get(info.context.deps.db, key, scope=info.context.scope)
    return records.dispute(found) if found else None


async def _settlement(info: Info, key: str) -> Node | None:
    found = await settlement_repo.get(info.context.deps.db, key)
    scope = info.context.scope
    if found is None or (scope is not None and
                         all(line.dealer_code != scope for line in found.lines)):
        return None
    return records.settlement(found, scope)


async def _audit_event(info: Info, key: str) -> Node | None:
    if info.context.principal.role not in STAFF:
        return None
    event = await audit_repo.get(info.context.deps.db, key)
    return records.audit_event(event) if event else None


LOADERS: dict[str, Callable[[Info, str], Awaitable[Node | None]]] = {
    "Dealer": _dealer,
    "Segment": load_segment,
    "Program": _program,
    "Accrual": _accrual,
    "ScorecardTemplate": load_template,
    "Scorecard": load_scorecard,
    "Alert": load_alert,
    "Violation": _violation,
    "Dispute": _dispute,
    "Settlement": _settlement,
    "AuditEvent": _audit_event,
}


async def node(info: Info, id: Annotated[strawberry.ID, strawberry.argument(
        description="A global ID from any object's `id`.")]) -> Node | None:
    allow(info)
    try:
        type_name, key = from_global_id(id)
    except MalformedId as error:
        raise bad_input(str(error), "id") from None
    loader = LOADERS.get(type_name)
    return await loader(info, key) if loader else None
