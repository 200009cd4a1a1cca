"""Alert queries and review mutations (staff only: alerts are suspicions about a dealer)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from domain.alerts import Alert as AlertRecord
from domain.errors import NotFound
from domain.text import Text
from resolvers.context import Info
from resolvers.guard import allow, attempt
from resolvers.pages import read_page
from schema.alerts import (
    AcknowledgeAlertInput,
    Alert,
    AlertConnection,
    AlertEdge,
    AlertPayload,
    AlertStatus,
    DismissAlertInput,
)
from schema.relay import After, Before, First, Last, MalformedId, PageArgs, connection, key_of
from service.access import STAFF
from service.repositories import alerts as alert_repo
from service.usecases import alerts as use_cases


async def alerts(
        info: Info,
        status: Annotated[AlertStatus | None, strawberry.argument(
            description="Only alerts with this status, e.g. OPEN for the review queue.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
) -> AlertConnection:
    allow(info)
    page = await read_page(alert_repo.CURSOR_KIND, PageArgs(first, after, last, before),
                           lambda request: alert_repo.page(info.context.deps.db, request,
                                                           status=status))
    return connection(AlertConnection, AlertEdge, page, Alert.from_domain)


def alert_key(global_id: str) -> str:
    """The alert's key inside a global ID; anything else is an alert that does not exist."""
    try:
        key = key_of(global_id, "Alert")
    except MalformedId:
        key = None
    if key is None:
        raise NotFound(("input", "alertId"), Text("no such alert"))
    return key


async def _review(info: Info, call: Callable[[], Awaitable[AlertRecord]]) -> AlertPayload:
    allow(info)
    alert, errors = await attempt(call)
    return AlertPayload(alert=Alert.from_domain(alert) if alert else None, user_errors=errors)


async def acknowledge_alert(info: Info, input: AcknowledgeAlertInput) -> AlertPayload:
    return await _review(info, lambda: use_cases.acknowledge_alert(
        info.context.deps, info.context.principal, alert_key(input.alert_id), input.note))


async def dismiss_alert(info: Info, input: DismissAlertInput) -> AlertPayload:
    return await _review(info, lambda: use_cases.dismiss_alert(
        info.context.deps, info.context.principal, alert_key(input.alert_id), input.note))


async def load_alert(info: Info, key: str) -> Alert | None:
    """For node(id:): staff see any alert; a DEALER gets null, as for an id that does not exist."""
    if info.context.principal.role not in STAFF:
        return None
    found = await alert_repo.get(info.context.deps.db, key)
    return Alert.from_domain(found) if found else None
