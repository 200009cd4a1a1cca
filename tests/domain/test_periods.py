from __future__ import annotations

from datetime import date

import pytest

from domain.periods import (
    DateRange,
    Period,
    PeriodKind,
    parse_period,
    period_containing,
    period_window,
    periods_before,
    periods_between,
    program_period,
    program_period_at,
    program_periods_from,
    year_to_date_window,
)

MONTH, QUARTER, YEAR = PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR


@pytest.mark.parametrize(
    ("name", "kind", "year", "index", "start", "end"),
    [
        ("2026-03", MONTH, 2026, 3, date(2026, 3, 1), date(2026, 3, 31)),
        ("2026-12", MONTH, 2026, 12, date(2026, 12, 1), date(2026, 12, 31)),
        ("2024-02", MONTH, 2024, 2, date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-02", MONTH, 2026, 2, date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-Q1", QUARTER, 2026, 1, date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-Q2", QUARTER, 2026, 2, date(2026, 4, 1), date(2026, 6, 30)),
        ("2026-Q4", QUARTER, 2026, 4, date(2026, 10, 1), date(2026, 12, 31)),
        ("2026", YEAR, 2026, 1, date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_a_well_formed_period_name_parses_to_its_calendar_dates(
    name: str, kind: PeriodKind, year: int, index: int, start: date, end: date
) -> None:
    period = parse_period(name)
    assert period == Period(kind, year, index)
    assert (period.start, period.end) == (start, end)
    assert period.name == name
    assert str(period) == name


@pytest.mark.parametrize(
    "name",
    [
        "2026-13",
        "2026-00",
        "2026-Q5",
        "2026-Q0",
        "2026-q1",
        "26-01",
        "2026-3",
        " 2026",
        "2026 ",
        "2026-03\n",
        "0000",
        "2026/03",
        "2026-M03",
        "",
        "２０２６",
    ],
)
def test_a_malformed_period_name_is_refused_with_a_message_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match="is not") as raised:
        parse_period(name)
    assert repr(name) in str(raised.value)


def test_a_period_of_another_kind_is_refused_when_a_kind_is_expected() -> None:
    with pytest.raises(ValueError, match="'2026-03' is a month; expected a quarter"):
        parse_period("2026-03", QUARTER)


@pytest.mark.parametrize(
    ("kind", "day", "name"),
    [
        (MONTH, date(2026, 1, 1), "2026-01"),
        (MONTH, date(2026, 12, 31), "2026-12"),
        (QUARTER, date(2026, 3, 31), "2026-Q1"),
        (QUARTER, date(2026, 4, 1), "2026-Q2"),
        (QUARTER, date(2026, 9, 30), "2026-Q3"),
        (QUARTER, date(2026, 11, 15), "2026-Q4"),
        (YEAR, date(2026, 7, 1), "2026"),
    ],
)
def test_the_period_containing_a_date(kind: PeriodKind, day: date, name: str) -> None:
    assert period_containing(kind, day).name == name


@pytest.mark.parametrize(
    ("kind", "valid_from", "valid_to", "names"),
    [
        (
            QUARTER,
            date(2026, 2, 15),
            date(2026, 12, 31),
            ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"],
        ),
        (QUARTER, date(2026, 2, 15), date(2026, 4, 1), ["2026-Q1", "2026-Q2"]),
        (MONTH, date(2026, 1, 15), date(2026, 3, 10), ["2026-01", "2026-02", "2026-03"]),
        (MONTH, date(2025, 12, 1), date(2026, 1, 31), ["2025-12", "2026-01"]),
        (YEAR, date(2025, 7, 1), date(2026, 6, 30), ["2025", "2026"]),
        (MONTH, date(2026, 5, 5), date(2026, 5, 5), ["2026-05"]),
        (MONTH, date(2026, 5, 5), date(2026, 5, 4), []),
    ],
)
def test_a_programs_periods_are_the_calendar_periods_intersecting_its_validity(
    kind: PeriodKind, valid_from: date, valid_to: date, names: list[str]
) -> None:
    assert [p.name for p in periods_between(kind, valid_from, valid_to)] == names


@pytest.mark.parametrize(
    ("name", "following"),
    [("2026-12", "2027-01"), ("2026-Q4", "2027-Q1"), ("2026", "2027"), ("2026-03", "2026-04")],
)
def test_the_next_period_crosses_year_ends_and_previous_undoes_it(
    name: str, following: str
) -> None:
    period = parse_period(name)
    assert period.next().name == following
    assert period.next().previous() == period


def test_a_program_starting_mid_quarter_counts_its_first_quarter_from_its_first_day() -> None:
    q1 = parse_period("2026-Q1")
    assert period_window(q1, date(2026, 2, 15), date(2026, 12, 31)) == DateRange(
        date(2026, 2, 15), date(2026, 3, 31)
    )


def test_a_program_ending_mid_quarter_counts_its_last_quarter_to_its_last_day() -> None:
    q2 = parse_period("2026-Q2")
    assert period_window(q2, date(2026, 1, 1), date(2026, 5, 31)) == DateRange(
        date(2026, 4, 1), date(2026, 5, 31)
    )


def test_a_period_outside_the_validity_has_no_window() -> None:
    assert period_window(parse_period("2025-Q4"), date(2026, 1, 1), date(2026, 12, 31)) is None
    assert year_to_date_window(parse_period("2027"), date(2026, 1, 1), date(2026, 12, 31)) is None


@pytest.mark.parametrize(
    ("name", "valid_from", "valid_to", "start", "end"),
    [
        ("2026-Q2", date(2026, 1, 1), date(2026, 12, 31), date(2026, 1, 1), date(2026, 6, 30)),
        ("2026-Q2", date(2026, 2, 15), date(2026, 12, 31), date(2026, 2, 15), date(2026, 6, 30)),
        ("2026-Q2", date(2026, 2, 15), date(2026, 5, 31), date(2026, 2, 15), date(2026, 5, 31)),
        ("2026-Q1", date(2026, 2, 15), date(2026, 12, 31), date(2026, 2, 15), date(2026, 3, 31)),
    ],
)
def test_year_to_date_runs_from_valid_from_through_the_end_of_the_period_clipped_to_validity(
    name: str, valid_from: date, valid_to: date, start: date, end: date
) -> None:
    window = year_to_date_window(parse_period(name), valid_from, valid_to)
    assert window == DateRange(start, end)


@pytest.mark.parametrize(
    ("name", "valid_from", "earlier"),
    [
        ("2026-Q3", date(2026, 2, 15), ["2026-Q1", "2026-Q2"]),
        ("2026-Q1", date(2026, 2, 15), []),
        ("2026-03", date(2026, 1, 1), ["2026-01", "2026-02"]),
    ],
)
def test_the_periods_before_one_are_those_whose_gross_a_true_up_subtracts(
    name: str, valid_from: date, earlier: list[str]
) -> None:
    assert [p.name for p in periods_before(parse_period(name), valid_from)] == earlier


def test_a_period_named_by_a_caller_must_belong_to_the_program() -> None:
    valid_from, valid_to = date(2026, 1, 1), date(2026, 12, 31)
    assert program_period("2026-Q3", QUARTER, valid_from, valid_to) == Period(QUARTER, 2026, 3)
    with pytest.raises(
        ValueError, match=r"outside the program's validity 2026-01-01\.\.2026-12-31"
    ):
        program_period("2027-Q1", QUARTER, valid_from, valid_to)
    with pytest.raises(ValueError, match="expected a quarter"):
        program_period("2026-03", QUARTER, valid_from, valid_to)


@pytest.mark.parametrize(
    ("day", "at", "from_names"),
    [
        (date(2026, 5, 10), "2026-Q2", ["2026-Q2", "2026-Q3", "2026-Q4"]),
        (date(2026, 1, 1), None, ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]),
        (date(2027, 1, 1), None, []),
    ],
)
def test_a_transaction_date_finds_its_period_and_the_periods_a_true_up_recomputes(
    day: date, at: str | None, from_names: list[str]
) -> None:
    valid_from, valid_to = date(2026, 2, 15), date(2026, 12, 31)
    found = program_period_at(QUARTER, valid_from, valid_to, day)
    assert (found.name if found else None) == at
    assert [p.name for p in program_periods_from(QUARTER, valid_from, valid_to, day)] == from_names


@pytest.mark.parametrize(("kind", "index"), [(MONTH, 13), (QUARTER, 5), (YEAR, 2), (MONTH, 0)])
def test_a_period_cannot_be_built_out_of_range(kind: PeriodKind, index: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        Period(kind, 2026, index)
