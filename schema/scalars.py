"""Wire formats: `Decimal` is a JSON string (never a float), `Date` is YYYY-MM-DD."""
from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

import strawberry
from graphql import StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from domain.money import parse_decimal

DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_decimal_value(value: Any) -> decimal.Decimal:
    if not isinstance(value, str):
        raise ValueError(f"Decimal must be a string such as \"12.50\", got {_short(value)}")
    try:
        return parse_decimal(value)
    except ValueError as error:
        raise ValueError(f"invalid Decimal: {error}") from None


def parse_date_value(value: Any) -> dt.date:
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
        raise ValueError(f"Date must be a string YYYY-MM-DD, got {_short(value)}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{_short(value)} is not a calendar date") from None


def parse_datetime_value(value: Any) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"DateTime must be ISO 8601 with an offset, got {_short(value)}")
    return moment


def _string_literal(parse: Any) -> Any:
    def parse_literal(node: ValueNode, _variables: Any = None) -> Any:
        if not isinstance(node, StringValueNode):
            raise ValueError(f"expected a string literal, got {node.kind.replace('_', ' ')}")
        return parse(node.value)
    return parse_literal


def _serialize_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


DecimalScalar: ScalarDefinition = strawberry.scalar(
    name="Decimal",
    description='A decimal number as a JSON string, e.g. "1234.50"; never a float.',
    serialize=lambda value: format(value, "f"),
    parse_value=parse_decimal_value,
    parse_literal=_string_literal(parse_decimal_value))

DateScalar: ScalarDefinition = strawberry.scalar(
    name="Date", description='An ISO 8601 calendar date, e.g. "2026-03-31".',
    serialize=lambda value: value.isoformat(),
    parse_value=parse_date_value, parse_literal=_string_literal(parse_date_value))

DateTimeScalar: ScalarDefinition = strawberry.scalar(
    name="DateTime", description="An ISO 8601 date-time with offset (UTC on output).",
    serialize=_serialize_datetime,
    parse_value=parse_datetime_value, parse_literal=_string_literal(parse_datetime_value))

SCALAR_MAP: dict[object, ScalarDefinition] = {
    decimal.Decimal: DecimalScalar,
    dt.date: DateScalar,
    dt.datetime: DateTimeScalar,
}
