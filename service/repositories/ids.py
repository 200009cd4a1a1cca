"""Document ids: made, derived and read back here only, so use cases hold ids without
knowing the driver's type (ObjectId) and every repository reads a caller's id one way."""
from __future__ import annotations

import hashlib

from bson import ObjectId
from bson.errors import InvalidId

DocumentId = ObjectId


def new_id() -> DocumentId:
    """A fresh id, made before the write so that the audit event can name it."""
    return ObjectId()


def derived_id(key: str) -> DocumentId:
    """The same id for the same key: an operation retried writes its event once."""
    return ObjectId(hashlib.sha256(key.encode()).digest()[:12])


def parse_id(value: object) -> DocumentId | None:
    """The id a caller's string names; None when it is not an id at all (an unknown one)."""
    try:
        return ObjectId(value)  # type: ignore[arg-type]
    except (InvalidId, TypeError):
        return None
