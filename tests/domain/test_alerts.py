"""Anomaly rules: when a period is a surge, when a sale is cross-region, how alerts move."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.alerts import (
    AlertStatus,
    PeriodBasis,
    can_move,
    comparable,
    cross_region,
    cross_region_message,
    history_periods,
    is_surge,
    surge_message,
)
from domain.periods import parse_period
from domain.text import Language, Locale
from domain.tiers import RebateBasis

D = Decimal
FAST = settings(max_examples=200, deadline=None, database=None)


@pytest.mark.parametrize(
    ("basis", "previous", "flagged"),
    [
        ("3000", ["1000", "1000", "1000"], False),  # exactly 3× the average: not a surge
        ("3000.01", ["1000", "1000", "1000"], True),  # a cent above it: a surge
        ("4000", ["900", "1000", "1100"], True),
        ("2999", ["1000", "1000", "1000"], False),
        ("3000.01", ["500", "1000", "1500"], True),  # the average, not each period
        ("1000000", ["1000", "1000"], False),  # two periods of history: no verdict
        ("1000000", [], False),
        ("1", ["0", "0", "0"], False),  # no baseline: a new or returning dealer
        ("500", ["-100", "50", "0"], False),  # more returns than sales: no baseline
        ("-5000", ["1000", "1000", "1000"], False),
        ("10", ["0", "0", "3"], True),  # a tiny baseline still counts
        # only the last three periods matter
        ("3500", ["1", "1000", "1000", "1000"], True),
        ("3200", ["100000", "1000", "1000", "1200"], False),
        ("1000.000001", ["0", "0", "1000"], True),
        ("1000", ["0", "0", "1000"], False),
        ("3000.000001", ["1000", "1000", "1000"], True),  # no rounding at the boundary
    ],
)
def test_a_surge_is_more_than_three_times_the_average_of_three_periods(
        basis: str, previous: list[str], flagged: bool) -> None:
    assert is_surge(D(basis), [D(p) for p in previous]) is flagged


def test_the_boundary_holds_for_an_average_that_is_not_a_round_number() -> None:
    previous = [D("1000"), D("1000"), D("1001")]  # average 1000.333…, 3× = 3001 exactly
    assert not is_surge(D("3001"), previous)
    assert is_surge(D("3001.000001"), previous)


figures = st.decimals(min_value=D("-1e9"), max_value=D("1e9"), places=2,
                      allow_nan=False, allow_infinity=False)
factors = st.decimals(min_value=D("0.001"), max_value=D("10000"), places=3,
                      allow_nan=False, allow_infinity=False)


@FAST
@given(basis=figures, previous=st.lists(figures, min_size=0, max_size=6), factor=factors)
def test_scaling_every_figure_by_a_positive_factor_keeps_the_verdict(
        basis: Decimal, previous: list[Decimal], factor: Decimal) -> None:
    scaled = [p * factor for p in previous]
    assert is_surge(basis * factor, scaled) is is_surge(basis, previous)


@FAST
@given(previous=st.lists(figures, min_size=0, max_size=2), basis=figures)
def test_fewer_than_three_periods_never_flag(previous: list[Decimal], basis: Decimal) -> None:
    assert not is_surge(basis, previous)


@FAST
@given(previous=st.lists(figures, min_size=3, max_size=3))
def test_three_times_the_average_is_never_a_surge_and_a_cent_more_is(
        previous: list[Decimal]) -> None:
    limit = sum(previous, D(0))  # = 3 × average
    assert not is_surge(limit, previous)
    assert is_surge(limit + D("0.01"), previous) is (limit > 0)


@pytest.mark.parametrize(
    ("shipped", "home", "flagged"),
    [
        ("SOUTH", "EAST", True),
        ("east", "EAST", False),  # case does not matter
        ("  East ", "EAST", False),  # nor surrounding spaces
        ("华东", "华东", False),
        ("华南", "华东", True),
        (None, "EAST", False),  # where the goods went is unknown
        ("SOUTH", None, False),  # the dealer has no region
        ("", "EAST", False),
        ("   ", "EAST", False),
    ],
)
def test_a_sale_is_cross_region_when_both_regions_are_known_and_differ(
        shipped: str | None, home: str | None, flagged: bool) -> None:
    assert cross_region(shipped, home) is flagged


OPEN, ACK, DISMISSED = AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.DISMISSED


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (OPEN, ACK, True), (OPEN, DISMISSED, True), (ACK, DISMISSED, True),
        (ACK, ACK, False), (DISMISSED, ACK, False), (DISMISSED, DISMISSED, False),
        (ACK, OPEN, False), (DISMISSED, OPEN, False),  # nothing reopens an alert
    ],
)
def test_an_alert_moves_forward_only(current: AlertStatus, target: AlertStatus,
                                     allowed: bool) -> None:
    assert can_move(current, target) is allowed


def test_history_is_the_three_periods_right_before_across_a_year_end() -> None:
    assert [p.name for p in history_periods(parse_period("2027-Q1"))] == \
        ["2026-Q2", "2026-Q3", "2026-Q4"]
    assert [p.name for p in history_periods(parse_period("2026-02"))] == \
        ["2025-11", "2025-12", "2026-01"]


@pytest.mark.parametrize(
    ("period", "valid_from", "joined_on", "fair"),
    [
        ("2026-Q1", date(2026, 1, 1), None, True),
        ("2026-Q1", date(2026, 2, 1), None, False),  # the program's partial first quarter
        ("2025-Q4", date(2026, 1, 1), None, False),  # before the program
        ("2026-Q2", date(2026, 1, 1), date(2026, 4, 1), True),
        ("2026-Q2", date(2026, 1, 1), date(2026, 4, 2), False),  # joined during the quarter
    ],
)
def test_an_earlier_period_is_fair_history_only_if_program_and_dealer_ran_all_of_it(
        period: str, valid_from: date, joined_on: date | None, fair: bool) -> None:
    assert comparable(parse_period(period), valid_from=valid_from,
                      joined_on=joined_on) is fair


def test_messages_speak_a_channel_managers_language() -> None:
    surge = surge_message(
        dealer_code="D1", program_code="P1", period=parse_period("2026-Q4"),
        basis=D("4000"), basis_kind=RebateBasis.SALES_AMOUNT, currency="CNY",
        previous=[PeriodBasis("2026-Q1", D("1000")), PeriodBasis("2026-Q2", D("1000")),
                  PeriodBasis("2026-Q3", D("1000"))])
    assert ("CNY 4,000.00, 4.0× its average of CNY 1,000.00 over the previous three quarters"
            in str(surge))
    assert "2026-Q1: CNY 1,000.00" in str(surge) and "channel" in str(surge)
    chinese = surge.render(Locale(Language.ZH_CN))
    assert "4,000.00 元，是前三个季度平均值 1,000.00 元 的 4.0 倍" in chinese
    assert "2026-Q1：1,000.00 元、2026-Q2：1,000.00 元" in chinese and "压货" in chinese
    units = str(surge_message(
        dealer_code="D1", program_code="P1", period=parse_period("2026-05"),
        basis=D("700"), basis_kind=RebateBasis.QUANTITY, currency="CNY",
        previous=[PeriodBasis("2026-02", D("100"))] * 3))
    assert "net quantity" in units and "700 units" in units and "three months" in units
    moved = cross_region_message(dealer_code="D1", dealer_region="EAST",
                                 regions=["NORTH", "SOUTH"], count=3)
    assert str(moved).startswith("3 sales were reported as delivered to NORTH, SOUTH, outside "
                                 "dealer D1's region EAST") and "窜货" in str(moved)
    assert moved.render(Locale(Language.ZH_CN)).startswith(
        "有 3 笔销售申报发往 NORTH、SOUTH，超出经销商 D1 的所属区域 EAST。")
    assert str(cross_region_message(dealer_code="D1", dealer_region="EAST", regions=["SOUTH"],
                                    count=1)).startswith("1 sale was")
