"""Relay plumbing, one helper each: global IDs, the connection arguments, and a page as a
connection."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import strawberry

from service.pagination import Page

C = TypeVar("C")
T = TypeVar("T")


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global ID (opaque).")


# ---- global IDs --------------------------------------------------------------------------

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


def key_of(global_id: str, type_name: str) -> str | None:
    """The key inside a global ID of `type_name`; None for an ID of another type (which names
    nothing of this type); MalformedId for one that is not ours at all."""
    kind, key = from_global_id(global_id)
    return key if kind == type_name else None


# ---- pages -------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class PageArgs:
    """The connection arguments as sent, unchecked: the list they page knows its cursors and
    checks them (resolvers/pages.py). Hashable, so a DataLoader can batch by it."""
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items after this page.")
    has_previous_page: bool = strawberry.field(description="Items before this page.")
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first item: pass as `before` for the page before.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item: pass as `after` for the page after.")


def connection(connection_type: Callable[..., C], edge_type: Callable[..., Any],
               page: Page[T], node: Callable[[T], Any] | None = None) -> C:
    """A page as a `…Connection`: its edges (each item as a node, through `node` when the
    items are not GraphQL objects yet) with their cursors, its pageInfo and totalCount."""
    nodes = page.items if node is None else [node(item) for item in page.items]
    return connection_type(
        edges=[edge_type(cursor=cursor, node=item)
               for item, cursor in zip(nodes, page.cursors, strict=True)],
        page_info=PageInfo(has_next_page=page.has_next, has_previous_page=page.has_previous,
                           start_cursor=page.cursors[0] if page.cursors else None,
                           end_cursor=page.cursors[-1] if page.cursors else None),
        total=page.total)
