"""Invariants of achievement tiers and the minimum payout, on generated Decimals."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.accrual import CarriedIn, EarlierGross, accrue
from domain.achievement import absolute_tiers, achieved_tier, window_target
from domain.money import round_money
from domain.periods import PeriodKind, parse_period
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.tiers import (
    RateKind,
    RebateBasis,
    Tier,
    TierMeasure,
    TierMode,
    rebate,
    tier_reached,
)

FAST = settings(max_examples=150, deadline=None, database=None)
QUARTERS = [parse_period(f"2026-Q{n}") for n in range(1, 5)]


def decimals(low: str, high: str, places: int = 2) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places,
                       allow_nan=False, allow_infinity=False)


@st.composite
def percentage_tiers(draw: st.DrawFn) -> tuple[Tier, ...]:
    thresholds = draw(st.lists(decimals("0", "200", 1), min_size=1, max_size=4,
                               unique=True).map(sorted))
    return tuple(Tier(t, draw(decimals("0", "10", 2))) for t in thresholds)


def rules(tiers: tuple[Tier, ...], mode: TierMode, kind: RateKind,
          accumulation: Accumulation = Accumulation.PER_PERIOD) -> ProgramRules:
    return ProgramRules(
        code="P", name="P", basis=RebateBasis.SALES_AMOUNT, rate_kind=kind, tier_mode=mode,
        period_kind=PeriodKind.QUARTER, accumulation=accumulation,
        valid_from=date(2026, 1, 1), valid_to=date(2026, 12, 31), currency="CNY",
        terms=(Terms(None, tiers),), payout_form=PayoutForm.CASH,
        tier_measure=TierMeasure.TARGET_ACHIEVEMENT)


modes = st.sampled_from(list(TierMode))
kinds = st.sampled_from([RateKind.PERCENT, RateKind.PER_UNIT])
targets = decimals("1", "3000000")


@FAST
@given(percentage_tiers(), modes, kinds, targets, decimals("-100000", "6000000"))
def test_achievement_tiers_equal_absolute_tiers_at_threshold_times_target(
        tiers: tuple[Tier, ...], mode: TierMode, kind: RateKind, target: Decimal,
        basis: Decimal) -> None:
    amounts = absolute_tiers(tiers, target)
    on_target = accrue(rules(tiers, mode, kind), Terms(None, tiers), QUARTERS[0], basis=basis,
                       target=window_target(["2026-Q1"], {"2026-Q1": target}))
    as_amounts = replace(rules(amounts, mode, kind), tier_measure=TierMeasure.BASIS)
    if mode is TierMode.ON_EXCESS_OVER_TARGET:
        expected = round_money(rebate(amounts, basis, mode, kind, target))
    else:
        expected = accrue(as_amounts, Terms(None, amounts), QUARTERS[0],
                          basis=basis).gross_amount
    assert on_target.gross_amount == expected
    reached = achieved_tier(tiers, basis, target)
    absolute = tier_reached(amounts, basis)
    assert (reached is None) == (absolute is None)
    if reached is not None and absolute is not None:
        assert tiers.index(reached) == amounts.index(absolute)
        assert basis * 100 >= reached.threshold * target


@FAST
@given(percentage_tiers(), modes, kinds, st.lists(targets, min_size=4, max_size=4),
       st.lists(decimals("-400000", "900000"), min_size=4, max_size=4))
def test_year_to_date_over_targets_sums_to_r_of_the_annual_basis_against_the_annual_target(
        tiers: tuple[Tier, ...], mode: TierMode, kind: RateKind, quarter_targets: list[Decimal],
        sales: list[Decimal]) -> None:
    program = rules(tiers, mode, kind, Accumulation.YEAR_TO_DATE)
    by_period = {p.name: t for p, t in zip(QUARTERS, quarter_targets, strict=True)}
    earlier: list[EarlierGross] = []
    cumulative = Decimal(0)
    for period, sold in zip(QUARTERS, sales, strict=True):
        cumulative += sold
        names = [p.name for p in program.window_periods(period)]
        figures = accrue(program, program.terms[0], period, basis=sold,
                         cumulative_basis=cumulative, earlier_gross=earlier,
                         target=window_target(names, by_period))
        earlier.append(EarlierGross(period.name, figures.gross_amount))
    annual = sum(quarter_targets, Decimal(0))
    assert sum(e.amount for e in earlier) == round_money(
        rebate(absolute_tiers(tiers, annual), cumulative, mode, kind, annual))


@FAST
@given(decimals("0.01", "5000"), st.lists(decimals("-50000", "400000"), min_size=4,
                                          max_size=4))
def test_carried_money_is_never_lost_nor_paid_twice(minimum: Decimal,
                                                    sales: list[Decimal]) -> None:
    """Sum of payable over all periods == sum of the nets before the minimum payout."""
    tiers = (Tier(Decimal(0), Decimal(1)),)
    program = replace(rules(tiers, TierMode.RETROACTIVE, RateKind.PERCENT),
                      tier_measure=TierMeasure.BASIS, minimum_payout=minimum)
    without = replace(program, minimum_payout=None)
    paid, before, carried = [], [], None
    for period, sold in zip(QUARTERS, sales, strict=True):
        figures = accrue(program, program.terms[0], period, basis=sold, carried_in=carried)
        own = accrue(without, without.terms[0], period, basis=sold)
        paid.append(figures.net_amount)
        before.append(own.net_amount)
        assert figures.carried_forward == 0 or 0 < figures.carried_forward < minimum
        assert figures.net_amount == 0 or figures.net_amount >= minimum \
            or figures.net_amount < 0 or period == QUARTERS[-1]
        carried = (CarriedIn(period.name, figures.carried_forward)
                   if figures.carried_forward else None)
    assert carried is None  # the last period pays whatever it holds
    assert sum(paid) == sum(before)
