"""Calendar periods (`2026-03`, `2026-Q1`, `2026`) and the date windows a program's basis covers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from domain.errors import InvalidValue
from domain.text import Text


class PeriodKind(StrEnum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"


_COUNT = {PeriodKind.MONTH: 12, PeriodKind.QUARTER: 4, PeriodKind.YEAR: 1}
_MONTHS = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}
_WORD = {PeriodKind.MONTH: Text("month"), PeriodKind.QUARTER: Text("quarter"),
         PeriodKind.YEAR: Text("year")}

# [0-9] rather than \d: \d also matches non-ASCII digits such as "２０２６".
_PATTERNS = (
    (PeriodKind.MONTH, re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")),
    (PeriodKind.QUARTER, re.compile(r"([0-9]{4})-Q([1-4])")),
    (PeriodKind.YEAR, re.compile(r"([0-9]{4})()")),
)


@dataclass(frozen=True)
class DateRange:
    """Inclusive on both ends, like the program's validFrom..validTo."""

    start: date
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    year: int
    index: int  # month 1–12, quarter 1–4, 1 for a year

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999:
            raise InvalidValue(Text("year {year} is out of range 1..9999", year=self.year))
        if not 1 <= self.index <= _COUNT[self.kind]:
            raise InvalidValue(Text("{kind} {index} is out of range", kind=_WORD[self.kind],
                                    index=self.index))

    @property
    def name(self) -> str:
        if self.kind is PeriodKind.MONTH:
            return f"{self.year:04d}-{self.index:02d}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}"

    @property
    def start(self) -> date:
        return date(self.year, (self.index - 1) * _MONTHS[self.kind] + 1, 1)

    @property
    def end(self) -> date:
        last_month = self.index * _MONTHS[self.kind]
        if last_month == 12:
            return date(self.year, 12, 31)
        return date(self.year, last_month + 1, 1) - timedelta(days=1)

    @property
    def dates(self) -> DateRange:
        return DateRange(self.start, self.end)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def next(self) -> Period:
        if self.index < _COUNT[self.kind]:
            return Period(self.kind, self.year, self.index + 1)
        return Period(self.kind, self.year + 1, 1)

    def previous(self) -> Period:
        if self.index > 1:
            return Period(self.kind, self.year, self.index - 1)
        return Period(self.kind, self.year - 1, _COUNT[self.kind])

    def __str__(self) -> str:
        return self.name


def parse_period(name: str, kind: PeriodKind | None = None) -> Period:
    """Parse `2026-03`, `2026-Q1` or `2026`, strictly (no spaces, no 2-digit years).

    With `kind`, a period of another kind is refused too. Raises ValueError naming the value.
    """
    if not isinstance(name, str):
        raise InvalidValue(Text("period must be a string, got {type}",
                                type=type(name).__name__))
    for found_kind, pattern in _PATTERNS:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        if kind is not None and found_kind is not kind:
            raise InvalidValue(Text("{name} is a {found}; expected a {wanted}", name=repr(name),
                                    found=_WORD[found_kind], wanted=_WORD[kind]))
        try:
            return Period(found_kind, int(match.group(1)), int(match.group(2) or 1))
        except InvalidValue as error:
            raise InvalidValue(Text("{name} is not a valid period: {why}", name=repr(name),
                                    why=error.text)) from None
    raise InvalidValue(Text("{name} is not a period (expected 2026-03, 2026-Q1 or 2026)",
                            name=repr(name)))


def period_containing(kind: PeriodKind, day: date) -> Period:
    if kind is PeriodKind.MONTH:
        return Period(kind, day.year, day.month)
    if kind is PeriodKind.QUARTER:
        return Period(kind, day.year, (day.month - 1) // 3 + 1)
    return Period(kind, day.year, 1)


def periods_between(kind: PeriodKind, valid_from: date, valid_to: date) -> list[Period]:
    """The calendar periods that intersect valid_from..valid_to (partial first/last included)."""
    if valid_to < valid_from:
        return []
    periods = [period_containing(kind, valid_from)]
    while periods[-1].end < valid_to:
        periods.append(periods[-1].next())
    return periods


def periods_before(period: Period, valid_from: date) -> list[Period]:
    """The program's periods before `period`: whose gross a year-to-date true-up subtracts."""
    if period.start <= valid_from:
        return []
    return periods_between(period.kind, valid_from, period.start - timedelta(days=1))


def period_window(period: Period, valid_from: date, valid_to: date) -> DateRange | None:
    """The part of `period` inside the validity: a program starting mid-quarter counts from then."""
    start, end = max(period.start, valid_from), min(period.end, valid_to)
    return DateRange(start, end) if start <= end else None


def year_to_date_window(period: Period, valid_from: date, valid_to: date) -> DateRange | None:
    """validFrom through the end of `period`, clipped to the validity (the basis of A_n)."""
    if period_window(period, valid_from, valid_to) is None:
        return None
    return DateRange(valid_from, min(period.end, valid_to))


def program_period(name: str, kind: PeriodKind, valid_from: date, valid_to: date) -> Period:
    """Parse a period named by a caller and check it is one of the program's periods."""
    period = parse_period(name, kind)
    if period_window(period, valid_from, valid_to) is None:
        raise InvalidValue(Text("{name} is outside the program's validity {start}..{end}",
                                name=repr(name), start=valid_from, end=valid_to))
    return period


def program_period_at(
    kind: PeriodKind, valid_from: date, valid_to: date, day: date
) -> Period | None:
    """The program's period whose basis a transaction dated `day` counts in (None: outside)."""
    if not valid_from <= day <= valid_to:
        return None
    return period_containing(kind, day)


def program_periods_from(
    kind: PeriodKind, valid_from: date, valid_to: date, day: date
) -> list[Period]:
    """The program's periods from the one containing `day` to the last.

    Under YEAR_TO_DATE a transaction changes the cumulative basis of its own period and of
    every later one, so all of them need recomputing.
    """
    if day > valid_to:
        return []
    return periods_between(kind, max(day, valid_from), valid_to)
