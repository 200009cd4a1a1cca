"""Service-level errors and the one place driver errors become product errors."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pymongo.errors import DuplicateKeyError

from domain.errors import Conflict, FieldPath, RebateError
from domain.text import Text


class InvalidArgument(RebateError):
    """A query argument is malformed or out of range (→ top-level BAD_USER_INPUT)."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument


@contextlib.contextmanager
def unique_violation_as_conflict(index_fields: dict[str, FieldPath]) -> Iterator[None]:
    """Turn a duplicate-key error on a known unique index into a `Conflict` on its field."""
    try:
        yield
    except DuplicateKeyError as error:
        key_pattern = (error.details or {}).get("keyPattern") or {}
        for key, path in index_fields.items():
            if key in key_pattern:
                value = ((error.details or {}).get("keyValue") or {}).get(key)
                raise Conflict(path, Text("{value} is already taken", value=repr(value))) from None
        raise
