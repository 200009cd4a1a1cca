"""Targets and achievement tiers, per-transaction tiers, minimum payout (SPEC §3, issue 10)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.accrual import Adjustment, CarriedIn, accrue
from domain.achievement import (
    absolute_tiers,
    achieved_tier,
    achievement_percent,
    reaches,
    window_target,
)
from domain.errors import ValidationFailed
from domain.forecast import ForecastScope, explanation, forecast, period_share, target_progress
from domain.net import AccrualStatus
from domain.periods import DateRange, PeriodKind, parse_period
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms, validate_program
from domain.text import render
from domain.tiers import (
    RateKind,
    RebateBasis,
    Tier,
    TierEvaluation,
    TierMeasure,
    TierMode,
    rebate,
)
from domain.transaction_tiers import CountedTransaction, each_transaction

D = Decimal
BANDS = (Tier(D("110"), D("2")), Tier(D("115"), D("3")), Tier(D("120"), D("4")))
SEASONAL = (Tier(D("90"), D("1")), Tier(D("100"), D("2")))


def program(**overrides: Any) -> ProgramRules:
    values: dict[str, Any] = dict(
        code="TASK-2026", name="Task 2026", basis=RebateBasis.SALES_AMOUNT,
        rate_kind=RateKind.PERCENT, tier_mode=TierMode.RETROACTIVE,
        period_kind=PeriodKind.QUARTER, accumulation=Accumulation.PER_PERIOD,
        valid_from=date(2026, 1, 1), valid_to=date(2026, 12, 31), currency="CNY",
        terms=(Terms(None, BANDS),), payout_form=PayoutForm.CREDIT_NOTE,
        tier_measure=TierMeasure.TARGET_ACHIEVEMENT)
    values.update(overrides)
    return ProgramRules(**values)


def steps_text(figures: Any) -> list[str]:
    return [f"{render(s.label)}: {render(s.formula)}" for s in figures.calculation]


Q1, Q2, Q3, Q4 = (parse_period(f"2026-Q{n}") for n in range(1, 5))


# ---- achievement tiers: the SPEC's worked example -------------------------------------

@pytest.mark.parametrize(("mode", "gross"), [
    (TierMode.RETROACTIVE, "70500.00"),          # 2,350,000 × 3 %
    (TierMode.INCREMENTAL, "3500.00"),           # 2 % × 100,000 + 3 % × 50,000
    (TierMode.ON_EXCESS_OVER_TARGET, "10500.00"),  # 3 % × 350,000
])
def test_the_specs_bands_at_117_5_percent_of_target(mode: TierMode, gross: str) -> None:
    figures = accrue(program(tier_mode=mode), program().terms[0], Q1, basis=D("2350000"),
                     target=window_target(["2026-Q1"], {"2026-Q1": D("2000000")}))
    assert figures.gross_amount == D(gross)
    assert figures.target == D("2000000")
    assert figures.achievement_percent == D("117.50")
    assert figures.rate == D("3")
    assert figures.status is AccrualStatus.OPEN
    assert ("Tier reached: target CNY 2,000,000.00, reached CNY 2,350,000.00 = 117.50% ≥ "
            "115%: rate 3%") in steps_text(figures)


@pytest.mark.parametrize(("basis", "gross", "percent", "rate"), [
    ("449999.99", "0.00", "90.00", "0"),     # 89.999998 %: shown 90.00, but below 90 exactly
    ("450000", "4500.00", "90.00", "1"),     # exactly 90 % reaches the tier
    ("462000", "4620.00", "92.40", "1"),
    ("500000", "10000.00", "100.00", "2"),
])
def test_the_90_percent_rule_compares_exactly_not_the_rounded_percentage(
        basis: str, gross: str, percent: str, rate: str) -> None:
    rules = program(terms=(Terms(None, SEASONAL),))
    figures = accrue(rules, rules.terms[0], Q1, basis=D(basis),
                     target=window_target(["2026-Q1"], {"2026-Q1": D("500000")}))
    assert (figures.gross_amount, figures.achievement_percent, figures.rate) == (
        D(gross), D(percent), D(rate))


def test_the_trace_says_target_reached_percentage_and_rate_in_both_languages() -> None:
    rules = program(terms=(Terms(None, SEASONAL),))
    figures = accrue(rules, rules.terms[0], Q1, basis=D("462000"),
                     target=window_target(["2026-Q1"], {"2026-Q1": D("500000")}))
    text = steps_text(figures)
    assert "Target: target for 2026-Q1: CNY 500,000.00" in text
    assert ("Tier reached: target CNY 500,000.00, reached CNY 462,000.00 = 92.40% ≥ 90%: "
            "rate 1%") in text
    from domain.text import Language, Locale
    zh = [render(s.formula, Locale(Language.ZH_CN)) for s in figures.calculation]
    assert any("92.40%" in line and "任务" in line for line in zh)


def test_no_target_puts_the_accrual_on_hold_naming_the_period() -> None:
    figures = accrue(program(), program().terms[0], Q1, basis=D("2350000"),
                     target=window_target(["2026-Q1"], {}))
    assert figures.status is AccrualStatus.ON_HOLD
    assert figures.gross_amount == D("0")
    assert figures.target is None and figures.achievement_percent is None
    assert "On hold: no target set for 2026-Q1" in steps_text(figures)


def test_year_to_date_target_is_the_sum_of_periods_one_to_n_and_names_what_is_missing() -> None:
    found = window_target(["2026-Q1", "2026-Q2", "2026-Q3"],
                          {"2026-Q1": D("100"), "2026-Q3": D("300")})
    assert found.amount is None and found.missing == ("2026-Q2",)
    complete = window_target(["2026-Q1", "2026-Q2"], {"2026-Q1": D("100"), "2026-Q2": D("250")})
    assert complete.amount == D("350")


def test_year_to_date_against_seasonal_targets_trues_up_each_quarter() -> None:
    rules = program(accumulation=Accumulation.YEAR_TO_DATE, terms=(Terms(None, SEASONAL),))
    targets = {"2026-Q1": D("400000"), "2026-Q2": D("600000"), "2026-Q3": D("500000"),
               "2026-Q4": D("500000")}
    sales = [D("380000"), D("520000"), D("600000"), D("560000")]
    earlier: list[Any] = []
    cumulative = D(0)
    gross = []
    from domain.accrual import EarlierGross
    for period, sold in zip((Q1, Q2, Q3, Q4), sales, strict=True):
        cumulative += sold
        names = [p.name for p in rules.window_periods(period)]
        figures = accrue(rules, rules.terms[0], period, basis=sold, cumulative_basis=cumulative,
                         earlier_gross=earlier, target=window_target(names, targets))
        earlier.append(EarlierGross(period.name, figures.gross_amount))
        gross.append(figures.gross_amount)
    # Q1 95 % → 1 % of 380,000 = 3,800; Q2 900,000/1,000,000 = 90 % → 9,000 − 3,800;
    # Q3 1,500,000/1,500,000 = 100 % → 30,000 − 9,000; Q4 2,060,000/2,000,000 → 41,200 − 30,000
    assert gross == [D("3800.00"), D("5200.00"), D("21000.00"), D("11200.00")]
    assert sum(gross) == D("41200.00")


# ---- validation of every combination ----------------------------------------------------

def problems_of(rules: ProgramRules) -> set[tuple[tuple[str, ...], str]]:
    with pytest.raises(ValidationFailed) as raised:
        validate_program(rules, set(), set())
    return {(p.field, p.code) for p in raised.value.problems}


@pytest.mark.parametrize(("change", "path"), [
    ({"tier_mode": TierMode.ON_EXCESS_OVER_TARGET, "tier_measure": TierMeasure.BASIS},
     ("input", "tierMode")),
    ({"tier_mode": TierMode.ON_EXCESS_OVER_TARGET, "rate_kind": RateKind.FIXED},
     ("input", "rateKind")),
    ({"tier_evaluation": TierEvaluation.EACH_TRANSACTION}, ("input", "tierEvaluation")),
    ({"tier_evaluation": TierEvaluation.EACH_TRANSACTION, "tier_measure": TierMeasure.BASIS,
      "accumulation": Accumulation.YEAR_TO_DATE}, ("input", "tierEvaluation")),
    ({"terms": (Terms(None, (Tier(D("90"), D("1")), Tier(D("1001"), D("2")))),)},
     ("input", "terms", "0", "tiers", "1", "threshold")),
    ({"terms": (Terms(None, (Tier(D("100"), D("1")), Tier(D("90"), D("2")))),)},
     ("input", "terms", "0", "tiers", "1", "threshold")),
    ({"terms": (Terms(None, (Tier(D("-5"), D("1")),)),)},
     ("input", "terms", "0", "tiers", "0", "threshold")),
    ({"minimum_payout": D("0")}, ("input", "minimumPayout")),
    ({"minimum_payout": D("-1")}, ("input", "minimumPayout")),
    ({"minimum_payout": D("10.005")}, ("input", "minimumPayout")),
])
def test_invalid_combinations_are_reported_at_their_field(change: dict[str, Any],
                                                          path: tuple[str, ...]) -> None:
    assert (path, "INVALID") in problems_of(program(**change))


@pytest.mark.parametrize("change", [
    {},
    {"tier_mode": TierMode.ON_EXCESS_OVER_TARGET},
    {"tier_mode": TierMode.ON_EXCESS_OVER_TARGET, "rate_kind": RateKind.PER_UNIT,
     "basis": RebateBasis.QUANTITY},
    {"tier_measure": TierMeasure.BASIS, "tier_evaluation": TierEvaluation.EACH_TRANSACTION,
     "terms": (Terms(None, (Tier(D("100000"), D("2")),)),), "period_kind": PeriodKind.MONTH},
    {"tier_measure": TierMeasure.BASIS, "tier_evaluation": TierEvaluation.EACH_TRANSACTION,
     "rate_kind": RateKind.FIXED, "terms": (Terms(None, (Tier(D("100000"), D("500")),)),)},
    {"minimum_payout": D("1000.50")},
    {"accumulation": Accumulation.YEAR_TO_DATE, "minimum_payout": D("1000")},
    {"terms": (Terms(None, (Tier(D("0"), D("1")), Tier(D("1000"), D("2")))),)},
])
def test_valid_combinations_pass(change: dict[str, Any]) -> None:
    validate_program(program(**change), set(), set())


def test_every_problem_is_reported_at_once() -> None:
    found = problems_of(program(tier_mode=TierMode.ON_EXCESS_OVER_TARGET,
                                tier_measure=TierMeasure.BASIS, rate_kind=RateKind.FIXED,
                                tier_evaluation=TierEvaluation.EACH_TRANSACTION,
                                accumulation=Accumulation.YEAR_TO_DATE,
                                minimum_payout=D("0.001")))
    assert {path for path, _ in found} >= {("input", "tierMode"), ("input", "rateKind"),
                                           ("input", "tierEvaluation"),
                                           ("input", "minimumPayout")}


# ---- per-transaction tiers (现返) ------------------------------------------------------------

def immediate(**overrides: Any) -> ProgramRules:
    values: dict[str, Any] = dict(
        tier_measure=TierMeasure.BASIS, tier_evaluation=TierEvaluation.EACH_TRANSACTION,
        period_kind=PeriodKind.MONTH, terms=(Terms(None, (Tier(D("100000"), D("2")),)),))
    values.update(overrides)
    return program(**values)


def test_each_order_is_its_own_basis_and_a_return_reverses_what_it_would_earn() -> None:
    orders = [CountedTransaction(D(v)) for v in ("120000", "150000", "100000")]
    orders += [CountedTransaction(D("5000"))] * 9
    orders.append(CountedTransaction(D("100000"), reverses=True))
    orders.append(CountedTransaction(D("2000"), reverses=True))
    rules = immediate()
    figures = accrue(rules, rules.terms[0], parse_period("2026-03"),
                     basis=D("370000") + D("45000") - D("102000"), transactions=orders)
    # 2 % × (120,000 + 150,000 + 100,000) = 7,400; the 100,000 return reverses 2,000;
    # small orders and the 2,000 return earn and reverse nothing
    assert figures.gross_amount == D("5400.00")
    assert figures.rate == D("2")
    assert ("Each transaction: 12 transactions: 3 at tier ≥ CNY 100,000.00 (2%): "
            "CNY 7,400.00, 9 below the first tier; 2 returns reversed CNY 2,000.00"
            ) in steps_text(figures)


def test_one_return_is_said_in_the_singular() -> None:
    result = each_transaction((Tier(D("100000"), D("2")),),
                              [CountedTransaction(D("100000")),
                               CountedTransaction(D("100000"), reverses=True)],
                              TierMode.RETROACTIVE, RateKind.PERCENT)
    assert result.earned == 0 and result.sale_count == 1 and result.return_count == 1
    rules = immediate()
    figures = accrue(rules, rules.terms[0], parse_period("2026-03"), basis=D(0),
                     transactions=[CountedTransaction(D("100000")),
                                   CountedTransaction(D("100000"), reverses=True)])
    assert any("1 transaction: 1 at tier" in line and "1 return reversed CNY 2,000.00" in line
               for line in steps_text(figures))


@pytest.mark.parametrize(("values", "expected"), [
    ([], "0"),
    (["99999.99"], "0"),
    (["100000"], "2000"),
    (["100000", "100000"], "4000"),
    (["300000"], "6000"),
])
def test_per_transaction_gross_is_the_sum_of_each_orders_rebate(values: list[str],
                                                                expected: str) -> None:
    result = each_transaction((Tier(D("100000"), D("2")),),
                              [CountedTransaction(D(v)) for v in values],
                              TierMode.RETROACTIVE, RateKind.PERCENT)
    assert result.earned == D(expected)


# ---- minimum payout (step 6) ---------------------------------------------------------------

def small(**overrides: Any) -> ProgramRules:
    values: dict[str, Any] = dict(
        tier_measure=TierMeasure.BASIS, minimum_payout=D("1000"),
        terms=(Terms(None, (Tier(D("0"), D("1")),)),))
    values.update(overrides)
    return program(**values)


def test_a_net_below_the_minimum_is_paid_zero_and_carried_to_the_next_period() -> None:
    rules = small()
    q1 = accrue(rules, rules.terms[0], Q1, basis=D("40000"))
    assert (q1.net_amount, q1.carried_forward) == (D("0.00"), D("400.00"))
    assert q1.status is AccrualStatus.OPEN
    assert ("Minimum payout: below the minimum payout CNY 1,000.00: CNY 400.00 carried "
            "forward to 2026-Q2") in steps_text(q1)
    q2 = accrue(rules, rules.terms[0], Q2, basis=D("70000"),
                carried_in=CarriedIn("2026-Q1", q1.carried_forward))
    # 700 + 400 carried = 1,100 ≥ 1,000: paid
    assert (q2.net_amount, q2.carried_forward, q2.carried_in) == (D("1100.00"), D("0.00"),
                                                                   D("400.00"))
    assert "Adjustment: carried forward from 2026-Q1: +CNY 400.00" in steps_text(q2)


def test_the_last_period_pays_whatever_it_holds() -> None:
    rules = small()
    q4 = accrue(rules, rules.terms[0], Q4, basis=D("10000"),
                carried_in=CarriedIn("2026-Q3", D("300")))
    assert (q4.net_amount, q4.carried_forward) == (D("400.00"), D("0.00"))
    assert any("is the last period: paid in full" in line for line in steps_text(q4))


@pytest.mark.parametrize(("basis", "adjustment", "net", "carried"), [
    ("100000", "0", "1000.00", "0.00"),  # exactly the minimum: paid
    ("0", "0", "0.00", "0.00"),          # nothing to carry
    ("40000", "-900", "-500.00", "0.00"),  # a negative net is never carried
    ("99999", "0", "0.00", "999.99"),
])
def test_only_a_positive_net_below_the_minimum_is_carried(basis: str, adjustment: str,
                                                          net: str, carried: str) -> None:
    rules = small()
    figures = accrue(rules, rules.terms[0], Q1, basis=D(basis),
                     adjustments=[Adjustment(D(adjustment), "late data")])
    assert (figures.net_amount, figures.carried_forward) == (D(net), D(carried))


def test_a_held_accrual_carries_nothing() -> None:
    rules = small()
    from domain.text import Text
    figures = accrue(rules, rules.terms[0], Q1, basis=D("40000"),
                     holds=[Text("the dealer is SUSPENDED: not payable until reactivated")])
    assert figures.status is AccrualStatus.ON_HOLD
    assert (figures.net_amount, figures.carried_forward) == (D("400.00"), D("0.00"))


# ---- the forecast against a target ---------------------------------------------------------

def test_the_forecast_says_how_much_more_reaches_100_percent() -> None:
    target = D("500000")
    tiers = absolute_tiers(SEASONAL, target)
    result = forecast(tiers, TierMode.RETROACTIVE, RateKind.PERCENT, D("462000"), D("0"))
    progress = target_progress(D("462000"), target)
    assert (progress.achievement_percent, progress.amount_to_target) == (D("92.40"), D("38000"))
    assert result.next_tier_threshold == D("500000")
    said = render(explanation(result, period_share(result, ForecastScope.PERIOD), period="2026-Q1",
                              window=DateRange(date(2026, 1, 1), date(2026, 3, 31)),
                              basis_kind=RebateBasis.SALES_AMOUNT, currency="CNY",
                              progress=progress))
    assert ("Target CNY 500,000.00, reached 92.40%: sell CNY 38,000.00 more to reach 100%."
            in said)


def test_without_a_target_the_forecast_says_so() -> None:
    result = forecast((), TierMode.RETROACTIVE, RateKind.PERCENT, D("462000"), D("0"))
    said = render(explanation(result, period_share(result, ForecastScope.PERIOD), period="2026-Q1",
                              window=DateRange(date(2026, 1, 1), date(2026, 3, 31)),
                              basis_kind=RebateBasis.SALES_AMOUNT, currency="CNY",
                              progress=target_progress(D("462000"), None, ["2026-Q1"])))
    assert "No target set for 2026-Q1" in said and "top tier" not in said


def test_exact_comparison_and_display_rounding() -> None:
    assert reaches(D("90"), D("449999.99"), D("500000")) is False
    assert achievement_percent(D("449999.99"), D("500000")) == D("90.00")
    assert achieved_tier(SEASONAL, D("450000"), D("500000")) == SEASONAL[0]
    assert rebate(absolute_tiers(BANDS, D("2000000")), D("2350000"),
                  TierMode.ON_EXCESS_OVER_TARGET, RateKind.PERCENT, D("2000000")) == D("10500")


def test_a_program_knows_its_next_period_and_its_target_window() -> None:
    rules = program(accumulation=Accumulation.YEAR_TO_DATE)
    assert rules.next_period(Q1) == Q2 and rules.next_period(Q4) is None
    assert [p.name for p in rules.window_periods(Q3)] == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert [p.name for p in replace(rules, accumulation=Accumulation.PER_PERIOD)
            .window_periods(Q3)] == ["2026-Q3"]
