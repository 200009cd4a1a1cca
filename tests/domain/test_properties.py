"""Invariants of the rebate rules, checked on generated Decimals (never floats)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.accrual import Deduction, ScorecardResult, net_from_gross, period_gross, true_up_gross
from domain.forecast import forecast
from domain.money import round_money
from domain.periods import PeriodKind, parse_period, periods_between
from domain.tiers import RateKind, Tier, TierMode, rebate, slices

# No example database: the domain suite must leave nothing behind in the working tree.
FAST = settings(max_examples=150, deadline=None, database=None)


def decimals(low: str, high: str, places: int = 2) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=Decimal(low),
        max_value=Decimal(high),
        places=places,
        allow_nan=False,
        allow_infinity=False,
    )


@st.composite
def tier_tables(draw: st.DrawFn) -> tuple[Tier, ...]:
    thresholds = draw(
        st.lists(decimals("0", "2000000"), min_size=1, max_size=4, unique=True).map(sorted)
    )
    return tuple(Tier(t, draw(decimals("0", "30", 3))) for t in thresholds)


modes = st.sampled_from([TierMode.RETROACTIVE, TierMode.INCREMENTAL])  # no target here
rate_kinds = st.sampled_from(list(RateKind))
bases = decimals("-500000", "3000000")


@FAST
@given(
    tier_tables(),
    modes,
    rate_kinds,
    st.lists(decimals("-400000", "900000"), min_size=1, max_size=12),
)
def test_year_to_date_gross_over_all_periods_sums_to_the_rounded_annual_rebate(
    tiers: tuple[Tier, ...], mode: TierMode, kind: RateKind, period_bases: list[Decimal]
) -> None:
    earlier: list[Decimal] = []
    cumulative = Decimal("0")
    for period_basis in period_bases:
        cumulative += period_basis
        earlier.append(true_up_gross(tiers, cumulative, earlier, mode, kind))
    assert sum(earlier) == round_money(rebate(tiers, cumulative, mode, kind))


@FAST
@given(tier_tables(), rate_kinds, bases, decimals("0", "1000000"))
def test_an_incremental_rebate_never_falls_as_the_basis_grows(
    tiers: tuple[Tier, ...], kind: RateKind, basis: Decimal, more: Decimal
) -> None:
    mode = TierMode.INCREMENTAL
    assert rebate(tiers, basis, mode, kind) <= rebate(tiers, basis + more, mode, kind)


@FAST
@given(decimals("0", "50", 3), bases, st.sampled_from([RateKind.PERCENT, RateKind.PER_UNIT]))
def test_retroactive_and_incremental_agree_with_a_single_tier_from_zero(
    rate: Decimal, basis: Decimal, kind: RateKind
) -> None:
    single = (Tier(Decimal("0"), rate),)
    assert rebate(single, basis, TierMode.RETROACTIVE, kind) == rebate(
        single, basis, TierMode.INCREMENTAL, kind
    )


@FAST
@given(decimals("0", "1000000"), decimals("0", "50000"), bases)
def test_retroactive_and_incremental_agree_on_a_single_fixed_tier(
    threshold: Decimal, rate: Decimal, basis: Decimal
) -> None:
    single = (Tier(threshold, rate),)
    fixed = RateKind.FIXED
    assert rebate(single, basis, TierMode.RETROACTIVE, fixed) == rebate(
        single, basis, TierMode.INCREMENTAL, fixed
    )


@FAST
@given(tier_tables(), modes, rate_kinds, bases)
def test_gross_is_rounded_once_over_the_exact_sum_of_slices(
    tiers: tuple[Tier, ...], mode: TierMode, kind: RateKind, basis: Decimal
) -> None:
    exact = sum((part.earned for part in slices(tiers, basis, mode, kind)), Decimal("0"))
    assert exact == rebate(tiers, basis, mode, kind)
    assert period_gross(tiers, basis, mode, kind) == round_money(exact)


@FAST
@given(tier_tables(), modes, rate_kinds, bases)
def test_a_forecast_with_nothing_more_projects_the_current_rebate(
    tiers: tuple[Tier, ...], mode: TierMode, kind: RateKind, basis: Decimal
) -> None:
    result = forecast(tiers, mode, kind, basis, Decimal("0"))
    assert result.projected_basis == result.current_basis == basis
    assert result.projected_rebate == result.current_rebate
    assert result.projected_rate == result.current_rate
    if result.next_tier_threshold is not None:
        assert result.amount_to_next_tier is not None and result.amount_to_next_tier > 0


@FAST
@given(
    decimals("-100000", "100000"),
    st.none() | decimals("0", "1.5", 3),
    st.lists(decimals("0", "60", 1), max_size=3),
    decimals("0", "50000"),
    decimals("0", "60000"),
    st.booleans(),
)
def test_net_never_exceeds_what_is_left_under_the_cap(
    gross: Decimal,
    multiplier: Decimal | None,
    percents: list[Decimal],
    cap: Decimal,
    cap_used: Decimal,
    forfeited: bool,
) -> None:
    figures = net_from_gross(
        gross,
        period_name="2026-Q1",
        currency="CNY",
        scorecard_template_code="SC" if multiplier is not None else None,
        scorecard=ScorecardResult(Decimal("80"), multiplier) if multiplier is not None else None,
        deductions=[Deduction(f"violation {i}", p) for i, p in enumerate(percents)],
        cap=cap,
        cap_used=cap_used,
        forfeitures=["forfeit"] if forfeited else [],
    )
    assert figures.net_amount <= max(cap - cap_used, Decimal("0")) <= cap
    assert figures.net_amount == round_money(figures.net_amount)
    assert figures.deduction_amount == round_money(figures.deduction_amount)
    assert figures.calculation[-1].amount == figures.net_amount


@FAST
@given(
    st.sampled_from(list(PeriodKind)),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    st.integers(min_value=0, max_value=800),
)
def test_a_programs_periods_are_contiguous_and_cover_its_validity(
    kind: PeriodKind, valid_from: date, days: int
) -> None:
    valid_to = valid_from + timedelta(days=days)
    periods = periods_between(kind, valid_from, valid_to)
    assert periods[0].contains(valid_from) and periods[-1].contains(valid_to)
    for before, after in pairwise(periods):
        assert after.start == before.end + timedelta(days=1)
    assert all(parse_period(p.name) == p for p in periods)
