"""Relay plumbing: the Node interface, global IDs and PageInfo."""
from __future__ import annotations

import base64
import binascii
from typing import Annotated, TypeVar

import strawberry

from service.pagination import Page

T = TypeVar("T")


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global ID (opaque).")


# The Relay connection arguments, the same on every connection (service/pagination.py).
First = Annotated[int | None, strawberry.argument(
    description="Page forward: the first this many items (after `after`), at most 100 "
                "(default 20).")]
After = Annotated[str | None, strawberry.argument(
    description="A cursor: only items after it (an `endCursor` for the next page).")]
Last = Annotated[int | None, strawberry.argument(
    description="Page backward: the last this many items (before `before`), at most 100; "
                "not together with `first`.")]
Before = Annotated[str | None, strawberry.argument(
    description="A cursor: only items before it (a `startCursor` for the previous page).")]


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items after this page.")
    has_previous_page: bool = strawberry.field(description="Items before this page.")
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first item: pass as `before` for the page before.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item: pass as `after` for the page after.")

    @classmethod
    def of(cls, page: Page[T]) -> PageInfo:
        return cls(has_next_page=page.has_next, has_previous_page=page.has_previous,
                   start_cursor=page.cursors[0] if page.cursors else None,
                   end_cursor=page.cursors[-1] if page.cursors else None)


class MalformedId(ValueError):
    """A global ID that is not one of ours."""


def to_global_id(type_name: str, key: str) -> strawberry.ID:
    raw = f"{type_name}:{key}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def from_global_id(global_id: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MalformedId(f"{global_id[:60]!r} is not a valid ID") from None
    type_name, _, key = raw.partition(":")
    if not type_name or not key:
        raise MalformedId(f"{global_id[:60]!r} is not a valid ID")
    return type_name, key

