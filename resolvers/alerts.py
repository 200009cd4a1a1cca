"""Alert queries and review mutations (staff only: alerts are suspicions about a dealer)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from domain.alerts import Alert as AlertRecord
from domain.errors import NotFound, RebateError
from domain.text import Text
from resolvers.context import Info
from resolvers.guard import allow, argument_error
from schema.alerts import (
    AcknowledgeAlertInput,
    Alert,
    AlertConnection,
    AlertPayload,
    AlertStatus,
    DismissAlertInput,
)
from schema.errors import user_errors_of
from schema.relay import After, Before, First, Last, MalformedId, from_global_id
from service.access import STAFF
from service.errors import InvalidArgument
from service.pagination import page_request
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
    try:
        page = await alert_repo.page(
            info.context.deps.db, page_request(alert_repo.CURSOR_KIND, first=first,
                                               after=after, last=last, before=before),
            status=status)
    except InvalidArgument as error:
        raise argument_error(error) from None
    return AlertConnection.of(page)


def alert_key(global_id: str) -> str:
    """The alert's key inside a global ID; anything else is an alert that does not exist."""
    try:
        type_name, key = from_global_id(global_id)
    except MalformedId:
        raise NotFound(("input", "alertId"), Text("no such alert")) from None
    if type_name != "Alert":
        raise NotFound(("input", "alertId"), Text("no such alert"))
    return key


async def _review(info: Info, call: Callable[[], Awaitable[AlertRecord]]) -> AlertPayload:
    allow(info)
    try:
        alert = await call()
    except RebateError as error:
        return AlertPayload(alert=None, user_errors=user_errors_of(error))
    return AlertPayload(alert=Alert.from_domain(alert), user_errors=[])


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
