"""Cursor pagination shared by every connection: opaque cursors, `first` ≤ 100."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.errors import InvalidArgument

T = TypeVar("T")
MAX_FIRST = 100
DEFAULT_FIRST = 20


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: int


def check_first(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if first < 0:
        raise InvalidArgument("first", "must not be negative")
    if first > MAX_FIRST:
        raise InvalidArgument("first", f"{first} exceeds the limit of {MAX_FIRST} per page")
    return first


def encode_cursor(kind: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> str | None:
    """The sort key inside a cursor of this connection; a foreign or broken cursor is refused."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("after", f"{cursor[:40]!r} is not a valid cursor") from None
    prefix, _, key = raw.partition(":")
    if prefix != kind or not key:
        raise InvalidArgument("after", f"{cursor[:40]!r} is not a cursor of this list")
    return key


def page_of(items: list[T], keys: list[str], *, kind: str, first: int, total: int,
            after: str | None) -> Page[T]:
    """Build a page from up to `first + 1` fetched items (the extra one tells hasNextPage)."""
    return Page(items=items[:first], cursors=[encode_cursor(kind, k) for k in keys[:first]],
                has_next=len(items) > first, has_previous=after is not None, total=total)
