"""Stored documents as plain JSON (audit before/after): Decimals and dates as strings."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from bson import ObjectId


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "_id"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    return value
