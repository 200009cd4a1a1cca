"""Access checks and the mapping of expected failures to GraphQL errors."""
from __future__ import annotations

from graphql import GraphQLError

from domain.periods import parse_period
from resolvers.context import Info
from service.access import Forbidden, authorize
from service.errors import InvalidArgument


def forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def bad_input(message: str, argument: str | None = None) -> GraphQLError:
    extensions: dict[str, object] = {"code": "BAD_USER_INPUT"}
    if argument:
        extensions["argument"] = argument
    return GraphQLError(message, extensions=extensions)


def allow(info: Info) -> None:
    """Check the caller's role against the access matrix for this root field."""
    try:
        authorize(info.context.principal, info.field_name)
    except Forbidden as error:
        raise forbidden(str(error)) from None


def argument_error(error: InvalidArgument) -> GraphQLError:
    return bad_input(str(error), error.argument)


def period_argument(period: str | None, argument: str) -> str | None:
    """A period name given as a filter, normalised; malformed → InvalidArgument naming it."""
    if period is None:
        return None
    try:
        return parse_period(period.strip()).name
    except ValueError as error:
        raise InvalidArgument(argument, str(error)) from None
