"""Access checks, and the one way a mutation's expected failures become its `userErrors`."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from domain.errors import RebateError
from resolvers.context import Info
from schema.errors import UserError, argument_error, forbidden, user_errors_of
from service.access import Forbidden, authorize
from service.errors import InvalidArgument

T = TypeVar("T")


def allow(info: Info) -> None:
    """Check the caller's role against the access matrix for this root field."""
    try:
        authorize(info.context.principal, info.field_name)
    except Forbidden as error:
        raise forbidden(str(error)) from None


async def attempt(call: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    """Run a mutation's use case: its result and no userErrors, or None and the userErrors
    of an expected failure. A role refused by the use case itself (SALES editing an ACTIVE
    program) and an argument out of range (too many rows) are top-level errors instead."""
    try:
        return await call(), []
    except Forbidden as error:
        raise forbidden(str(error)) from None
    except InvalidArgument as error:
        raise argument_error(error) from None
    except RebateError as error:
        return None, user_errors_of(error)
