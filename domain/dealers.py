"""Dealers (经销商): the CRM's customers that earn rebates."""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.codes import clean_code, clean_name, clean_optional_label
from domain.errors import FieldPath, Problems
from domain.text import Text

ATTRIBUTES_MAX_BYTES = 16_384
ATTRIBUTES_MAX_DEPTH = 5
EARLIEST_DATE = date(1900, 1, 1)


class DealerStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    DISQUALIFIED = "DISQUALIFIED"


@dataclass(frozen=True)
class Dealer:
    code: str
    name: str
    region: str | None = None
    channel: str | None = None
    joined_on: date | None = None
    status: DealerStatus = DealerStatus.ACTIVE
    attributes: dict[str, Any] = field(default_factory=dict)
    segment_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DealerDraft:
    """A validated `upsertDealer` input. `status` None keeps the stored status."""

    code: str
    name: str
    region: str | None
    channel: str | None
    joined_on: date | None
    attributes: dict[str, Any]
    status: DealerStatus | None = None


def _check_attributes(value: Any, path: FieldPath, problems: Problems, depth: int = 0) -> None:
    if depth > ATTRIBUTES_MAX_DEPTH:
        problems.add(path, Text("nesting deeper than {limit} levels", limit=ATTRIBUTES_MAX_DEPTH))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or key.startswith("$") or "." in key \
                    or "\x00" in key:
                problems.add(path, Text("key {key} is not allowed (empty, '$' first, or '.')",
                                        key=repr(key)))
            else:
                _check_attributes(item, (*path, key), problems, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_attributes(item, (*path, str(index)), problems, depth + 1)
    elif isinstance(value, float):
        problems.add(path, Text("numbers in attributes must be given as strings or integers"))
    elif value is not None and not isinstance(value, str | int | bool):
        problems.add(path, Text("must be JSON"))


def validate_dealer(*, code: str, name: str, region: str | None, channel: str | None,
                    joined_on: date | None, attributes: Any, status: DealerStatus | None,
                    today: date, path: FieldPath = ("input",)) -> DealerDraft:
    """Check every field of a dealer input, reporting all problems at once."""
    problems = Problems()
    clean = DealerDraft(
        code=clean_code(code, (*path, "code"), problems),
        name=clean_name(name, (*path, "name"), problems),
        region=clean_optional_label(region, (*path, "region"), problems),
        channel=clean_optional_label(channel, (*path, "channel"), problems),
        joined_on=joined_on,
        attributes=attributes if isinstance(attributes, dict) else {},
        status=status,
    )
    if joined_on is not None and not EARLIEST_DATE <= joined_on <= today:
        problems.add((*path, "joinedOn"), Text("must be between {earliest} and today ({today})",
                                               earliest=EARLIEST_DATE, today=today))
    if attributes is not None:
        if not isinstance(attributes, dict):
            problems.add((*path, "attributes"), Text("must be a JSON object"))
        elif len(json.dumps(attributes, default=str).encode()) > ATTRIBUTES_MAX_BYTES:
            problems.add((*path, "attributes"), Text("must be at most {limit} bytes",
                                                     limit=ATTRIBUTES_MAX_BYTES))
        else:
            _check_attributes(attributes, (*path, "attributes"), problems)
    if status is DealerStatus.DISQUALIFIED:
        problems.add((*path, "status"),
                     Text("DISQUALIFIED is set only by a FORFEIT_YEAR violation"))
    problems.raise_if_any()
    return clean


def check_status_change(current: DealerStatus, wanted: DealerStatus | None,
                        path: FieldPath = ("input", "status")) -> None:
    """A disqualified dealer comes back only through an audited reinstatement."""
    if current is DealerStatus.DISQUALIFIED and wanted not in (None, DealerStatus.DISQUALIFIED):
        problems = Problems()
        problems.add(path, Text("a DISQUALIFIED dealer is reinstated only by reinstateDealer"),
                     "LOCKED")
        problems.raise_if_any()


def tenure_years(joined_on: date, as_of: date) -> int:
    """Whole years from joinedOn to as_of; a 29 February start completes a year on 1 March."""
    years = as_of.year - joined_on.year
    if (as_of.month, as_of.day) < (joined_on.month, joined_on.day):
        years -= 1
    return max(years, 0)
