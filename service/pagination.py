"""Cursor pagination shared by every connection: opaque cursors, pages of at most 100, both ways.

The Relay cursor connection algorithm: `after` and `before` cut the list to the window between
them; `first` then keeps that many from its start (paging forward), `last` that many from its
end (paging backward). Items always come in the list's own order. `first` and `last` together
are refused (the spec discourages it; no client needs it).
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.errors import InvalidArgument

T = TypeVar("T")
MAX_FIRST = 100  # the most a page holds, asked by `first` or by `last`
DEFAULT_FIRST = 20


# How many items the whole list holds: counted already, or counted when asked (a page whose
# client does not ask for totalCount costs no count).
Total = int | Callable[[], Awaitable[int]]


async def count_of(total: Total) -> int:
    return total if isinstance(total, int) else await total()


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: Total


@dataclass(frozen=True)
class PageRequest:
    """A checked page request: `size` items from the start of the window (`first`), or from
    its end when `backward` (`last`). `after`/`before` are the sort keys inside the cursors."""
    size: int = DEFAULT_FIRST
    backward: bool = False
    after: str | None = None
    before: str | None = None


def check_first(first: int | None, argument: str = "first") -> int:
    if first is None:
        return DEFAULT_FIRST
    if first < 0:
        raise InvalidArgument(argument, "must not be negative")
    if first > MAX_FIRST:
        raise InvalidArgument(argument, f"{first} exceeds the limit of {MAX_FIRST} per page")
    return first


def page_request(kind: str, *, first: int | None = None, after: str | None = None,
                 last: int | None = None, before: str | None = None) -> PageRequest:
    """The Relay arguments of a connection of cursors of `kind`, checked. Without `first` or
    `last`, a page is the first 20 of the window — or, given only `before`, the 20 right
    before it (the page a client walking backward wants)."""
    if first is not None and last is not None:
        raise InvalidArgument("last", "cannot be combined with `first`: page forward with "
                                      "`first`/`after` or backward with `last`/`before`")
    backward = last is not None or (first is None and before is not None and after is None)
    return PageRequest(size=check_first(last, "last") if last is not None else check_first(first),
                       backward=backward, after=decode_cursor(kind, after, "after"),
                       before=decode_cursor(kind, before, "before"))


def encode_cursor(kind: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None, argument: str = "after") -> str | None:
    """The sort key inside a cursor of this connection; a foreign or broken cursor is refused,
    naming the argument it came in."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument(argument, f"{cursor[:40]!r} is not a valid cursor") from None
    prefix, _, key = raw.partition(":")
    if prefix != kind or not key:
        raise InvalidArgument(argument, f"{cursor[:40]!r} is not a cursor of this list")
    return key


def page_of(fetched: list[T], keys: list[str], *, kind: str, request: PageRequest, total: Total,
            more_before: bool = False, more_after: bool = False) -> Page[T]:
    """Build a page from up to `size + 1` items of the window, fetched from the end the page
    starts at (the window's start forward, its end backward): the extra one says there is
    more that way. `more_before`/`more_after`: items exist outside the window, at or before
    `after` / at or after `before`."""
    size = request.size
    items, cursors = fetched[:size], [encode_cursor(kind, k) for k in keys[:size]]
    more = len(fetched) > size
    if request.backward:
        items.reverse()
        cursors.reverse()
    return Page(items=items, cursors=cursors,
                has_next=more_after or (more and not request.backward),
                has_previous=more_before or (more and request.backward), total=total)
