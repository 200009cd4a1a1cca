"""Stored documents as plain JSON (audit before/after): Decimals and dates as strings.

Every timestamp comes out in one form, ISO 8601 UTC to the millisecond
(`2026-11-25T14:03:05.123Z`): what MongoDB stores (milliseconds) and what Python holds
(microseconds, with or without a zone) read the same. A calendar date stays `2026-11-25`."""
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
    if isinstance(value, dt.datetime):
        return timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    return value


def timestamp(value: dt.datetime) -> str:
    """ISO 8601 UTC to the millisecond; a naive datetime is taken as UTC (as stored)."""
    utc = value.astimezone(dt.UTC) if value.tzinfo is not None else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
