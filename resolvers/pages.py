"""One page of a list, the one way: the connection arguments checked against the list's own
cursors, and anything wrong with them (a size out of range, a malformed or foreign cursor) a
BAD_USER_INPUT naming the argument."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from graphql import GraphQLError

from domain.periods import parse_period
from schema.errors import argument_error
from schema.relay import PageArgs
from service.errors import InvalidArgument
from service.pagination import Page, PageRequest, page_request

T = TypeVar("T")


def checked(kind: str, args: PageArgs) -> PageRequest:
    """The page `args` ask of a list whose cursors are of `kind`."""
    try:
        return page_request(kind, first=args.first, after=args.after, last=args.last,
                            before=args.before)
    except InvalidArgument as error:
        raise argument_error(error) from None


async def read_page(kind: str, args: PageArgs,
                    fetch: Callable[[PageRequest], Awaitable[Page[T]]]) -> Page[T]:
    """`fetch` the page `args` ask for. A cursor the repository cannot place, or another
    argument `fetch` checks (a filter's period), is refused the same way."""
    request = checked(kind, args)
    try:
        return await fetch(request)
    except InvalidArgument as error:
        raise argument_error(error) from None


def refusal_or(kind: str, args: PageArgs) -> PageRequest | GraphQLError:
    """For a DataLoader's batch: the request, or the error to answer that key with."""
    try:
        return checked(kind, args)
    except GraphQLError as error:
        return error


def period_argument(period: str | None, argument: str) -> str | None:
    """A period name given as a filter, normalised; malformed → InvalidArgument naming it."""
    if period is None:
        return None
    try:
        return parse_period(period.strip()).name
    except ValueError as error:
        raise InvalidArgument(argument, str(error)) from None
