from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.accrual import (
    AccrualStatus,
    Adjustment,
    CalculationStep,
    Deduction,
    EarlierGross,
    ScorecardResult,
    accrue,
    net_from_gross,
    period_gross,
    true_up_gross,
)
from domain.periods import PeriodKind, parse_period
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.text import Money, Text
from domain.tiers import RateKind, RebateBasis, Tier, TierMode

D = Decimal
RETRO, INCR = TierMode.RETROACTIVE, TierMode.INCREMENTAL
PERCENT = RateKind.PERCENT
SPEC_TIERS = (Tier(D("0"), D("1")), Tier(D("1000000"), D("2")))

# The SPEC's worked example: quarterly with annual true-up, collected cash, retroactive percent.
COLLECT = ProgramRules(
    code="COLLECT-2026",
    name="Collections 2026",
    basis=RebateBasis.COLLECTED_AMOUNT,
    rate_kind=PERCENT,
    tier_mode=RETRO,
    period_kind=PeriodKind.QUARTER,
    accumulation=Accumulation.YEAR_TO_DATE,
    valid_from=date(2026, 1, 1),
    valid_to=date(2026, 12, 31),
    currency="CNY",
    terms=(Terms(None, SPEC_TIERS),),
    payout_form=PayoutForm.CASH,
)
DEFAULT_TERMS = COLLECT.terms[0]


def formulas(steps: tuple[CalculationStep, ...]) -> str:
    return "\n".join(f"{s.label}: {s.formula}" for s in steps)


def test_the_spec_worked_example_gives_6000_then_16000() -> None:
    q1 = accrue(
        COLLECT,
        DEFAULT_TERMS,
        parse_period("2026-Q1"),
        basis=D("600000"),
        cumulative_basis=D("600000"),
    )
    q2 = accrue(
        COLLECT,
        DEFAULT_TERMS,
        parse_period("2026-Q2"),
        basis=D("500000"),
        cumulative_basis=D("1100000"),
        earlier_gross=[EarlierGross("2026-Q1", q1.gross_amount)],
    )
    assert (q1.gross_amount, q1.rate, q1.net_amount) == (D("6000.00"), D("1"), D("6000.00"))
    assert (q2.gross_amount, q2.rate, q2.net_amount) == (D("16000.00"), D("2"), D("16000.00"))
    assert (q2.basis, q2.cumulative_basis) == (D("500000"), D("1100000"))
    trace = formulas(q2.calculation)
    assert "cash collected from 2026-04-01 to 2026-06-30: CNY 500,000.00" in trace
    assert "cash collected from 2026-01-01 to 2026-06-30: CNY 1,100,000.00" in trace
    assert "Terms: default terms" in trace
    assert "CNY 1,100,000.00 ≥ threshold CNY 1,000,000.00: rate 2%" in trace
    assert "CNY 1,100,000.00 × 2% = CNY 22,000.00" in trace
    assert "Gross of earlier periods: CNY 6,000.00 (2026-Q1)" in trace
    assert "Gross (true-up): CNY 22,000.00 − CNY 6,000.00 = CNY 16,000.00" in trace
    assert q2.calculation[-1] == CalculationStep(
        Text("Net"), Text("{amount}", amount=Money(D("16000.00"), "CNY")), D("16000.00"))


@pytest.mark.parametrize(
    ("mode", "cumulative", "expected_gross"),
    [
        # Q1 1,100,000 collected; Q2 returns bring the year to date down
        (RETRO, ["1100000", "900000"], ["22000.00", "-13000.00"]),  # 9,000 − 22,000
        (INCR, ["1100000", "950000"], ["12000.00", "-2500.00"]),  # 9,500 − 12,000
        (RETRO, ["600000", "1100000", "1100000"], ["6000.00", "16000.00", "0.00"]),
        (RETRO, ["999999.99", "1000000"], ["10000.00", "10000.00"]),  # crossing by a cent
    ],
)
def test_year_to_date_trues_up_each_period_and_claws_back_after_returns(
    mode: TierMode, cumulative: list[str], expected_gross: list[str]
) -> None:
    earlier: list[Decimal] = []
    for a_n, expected in zip(cumulative, expected_gross, strict=True):
        gross = true_up_gross(SPEC_TIERS, D(a_n), earlier, mode, PERCENT)
        assert gross == D(expected)
        earlier.append(gross)


def test_a_clawback_is_reported_as_a_negative_gross_and_net() -> None:
    q2 = accrue(
        COLLECT,
        DEFAULT_TERMS,
        parse_period("2026-Q2"),
        basis=D("-200000"),
        cumulative_basis=D("900000"),
        earlier_gross=[EarlierGross("2026-Q1", D("22000.00"))],
    )
    assert (q2.gross_amount, q2.net_amount, q2.rate) == (D("-13000.00"), D("-13000.00"), D("1"))
    assert "CNY 9,000.00 − CNY 22,000.00 = CNY -13,000.00" in formulas(q2.calculation)


def test_a_per_period_accrual_uses_only_its_period_and_ignores_earlier_gross() -> None:
    quarterly = replace(COLLECT, accumulation=Accumulation.PER_PERIOD)
    q2 = accrue(
        quarterly,
        DEFAULT_TERMS,
        parse_period("2026-Q2"),
        basis=D("500000"),
        cumulative_basis=D("1100000"),
        earlier_gross=[EarlierGross("2026-Q1", D("6000.00"))],
    )
    assert (q2.cumulative_basis, q2.gross_amount, q2.rate) == (D("500000"), D("5000.00"), D("1"))
    assert "Gross rebate: CNY 500,000.00 × 1% = CNY 5,000.00" in formulas(q2.calculation)


def test_an_incremental_accrual_shows_each_slice_and_rounds_once() -> None:
    units = replace(
        COLLECT,
        basis=RebateBasis.QUANTITY,
        rate_kind=RateKind.PER_UNIT,
        tier_mode=INCR,
        accumulation=Accumulation.PER_PERIOD,
        period_kind=PeriodKind.MONTH,
        valid_from=date(2026, 1, 15),
    )
    terms = Terms(None, (Tier(D("0"), D("0.50")), Tier(D("1000"), D("0.75"))))
    jan = accrue(units, terms, parse_period("2026-01"), basis=D("1200.5"))
    assert jan.gross_amount == D("650.38")  # 500 + 150.375, rounded half up once
    trace = formulas(jan.calculation)
    assert "net units (invoiced − returned) from 2026-01-15 to 2026-01-31: 1,200.5 units" in trace
    assert "Slice from 0 units to 1,000 units: 1,000 units × CNY 0.50 = CNY 500.00" in trace
    assert "Slice from 1,000 units: 200.5 units × CNY 0.75 = CNY 150.375" in trace
    assert ("CNY 500.00 + CNY 150.375 = CNY 650.375 → CNY 650.38 (rounded half up to the "
            "cent)") in trace


def test_below_the_first_threshold_the_accrual_says_so_and_earns_nothing() -> None:
    terms = Terms(None, (Tier(D("5000"), D("1")),))
    q1 = accrue(
        replace(COLLECT, accumulation=Accumulation.PER_PERIOD),
        terms,
        parse_period("2026-Q1"),
        basis=D("4999.99"),
    )
    assert (q1.rate, q1.gross_amount, q1.net_amount) == (D("0"), D("0.00"), D("0.00"))
    assert "none: CNY 4,999.99 is below the first threshold CNY 5,000.00" in formulas(
        q1.calculation)


def test_a_year_to_date_accrual_needs_its_cumulative_basis() -> None:
    with pytest.raises(ValueError, match="cumulative basis"):
        accrue(COLLECT, DEFAULT_TERMS, parse_period("2026-Q1"), basis=D("1"))


def test_an_accrual_for_a_period_outside_the_validity_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        accrue(
            COLLECT, DEFAULT_TERMS, parse_period("2027-Q1"), basis=D("1"), cumulative_basis=D("1")
        )


def test_period_gross_is_the_rounded_rebate_of_the_period() -> None:
    assert period_gross(SPEC_TIERS, D("1234567.89"), RETRO, PERCENT) == D("24691.36")


SCORED = ScorecardResult(D("85.00"), D("0.9"))


@pytest.mark.parametrize(
    ("gross", "options", "multiplier", "deduction", "net", "status"),
    [
        # 1. scorecard
        ("16000.00", {}, "1", "0", "16000.00", AccrualStatus.OPEN),
        (
            "16000.00",
            {"scorecard_template_code": "SC", "scorecard": SCORED},
            "0.9",
            "0",
            "14400.00",
            AccrualStatus.OPEN,
        ),
        (
            "16000.00",
            {"scorecard_template_code": "SC"},
            "1",
            "0",
            "16000.00",
            AccrualStatus.ON_HOLD,
        ),
        (
            "100.01",
            {"scorecard_template_code": "SC", "scorecard": ScorecardResult(D("50"), D("0.5"))},
            "0.5",
            "0",
            "50.01",
            AccrualStatus.OPEN,
        ),  # 50.005 rounds half up
        # 2. deductions add up, capped at 100 %
        (
            "10000.00",
            {"deductions": [Deduction("A", D("10")), Deduction("B", D("5"))]},
            "1",
            "1500.00",
            "8500.00",
            AccrualStatus.OPEN,
        ),
        (
            "10000.00",
            {"deductions": [Deduction("A", D("60")), Deduction("B", D("70"))]},
            "1",
            "10000.00",
            "0.00",
            AccrualStatus.OPEN,
        ),
        (
            "16000.00",
            {
                "scorecard_template_code": "SC",
                "scorecard": SCORED,
                "deductions": [Deduction("A", D("12.5"))],
            },
            "0.9",
            "1800.00",
            "12600.00",
            AccrualStatus.OPEN,
        ),
        (
            "100.01",
            {
                "scorecard_template_code": "SC",
                "scorecard": ScorecardResult(D("50"), D("0.5")),
                "deductions": [Deduction("A", D("10"))],
            },
            "0.5",
            "5.00",
            "45.01",
            AccrualStatus.OPEN,
        ),  # 10 % of 50.01 = 5.001
        (
            "-1000.00",
            {"deductions": [Deduction("A", D("10"))]},
            "1",
            "0",
            "-1000.00",
            AccrualStatus.OPEN,
        ),  # a penalty never shrinks a clawback
        # 3. cap
        (
            "10000.00",
            {"cap": D("25000"), "cap_used": D("20000")},
            "1",
            "0",
            "5000.00",
            AccrualStatus.OPEN,
        ),
        (
            "10000.00",
            {"cap": D("25000"), "cap_used": D("30000")},
            "1",
            "0",
            "0.00",
            AccrualStatus.OPEN,
        ),
        (
            "10000.00",
            {"cap": D("25000"), "cap_used": D("15000")},
            "1",
            "0",
            "10000.00",
            AccrualStatus.OPEN,
        ),
        ("-500.00", {"cap": D("0")}, "1", "0", "-500.00", AccrualStatus.OPEN),
        # 4. forfeiture
        (
            "10000.00",
            {"forfeitures": ["Counterfeit goods"]},
            "1",
            "0",
            "0.00",
            AccrualStatus.FORFEITED,
        ),
        (
            "10000.00",
            {"forfeitures": ["Counterfeit goods"], "scorecard_template_code": "SC"},
            "1",
            "0",
            "0.00",
            AccrualStatus.FORFEITED,
        ),
        (
            "10000.00",
            {
                "forfeitures": ["Year forfeited"],
                "adjustments": [Adjustment(D("-3000"), "reclaim settled 2026-Q1")],
            },
            "1",
            "0",
            "-3000.00",
            AccrualStatus.FORFEITED,
        ),
        # 5. adjustments
        (
            "10000.00",
            {"adjustments": [Adjustment(D("500"), "dispute"), Adjustment(D("-200"), "late")]},
            "1",
            "0",
            "10300.00",
            AccrualStatus.OPEN,
        ),
        # all five, in order: 20,000 × 0.8 = 16,000; − 25 % = 12,000; cap 10,000; + 100
        (
            "20000.00",
            {
                "scorecard_template_code": "SC",
                "scorecard": ScorecardResult(D("70"), D("0.8")),
                "deductions": [Deduction("A", D("25"))],
                "cap": D("10000"),
                "adjustments": [Adjustment(D("100"), "dispute")],
            },
            "0.8",
            "4000.00",
            "10100.00",
            AccrualStatus.OPEN,
        ),
    ],
)
def test_gross_to_net_applies_scorecard_deductions_cap_forfeiture_and_adjustments_in_order(
    gross: str,
    options: dict[str, Any],
    multiplier: str,
    deduction: str,
    net: str,
    status: AccrualStatus,
) -> None:
    figures = net_from_gross(D(gross), period_name="2026-Q2", currency="CNY", **options)
    assert figures.score_multiplier == D(multiplier)
    assert figures.deduction_amount == D(deduction)
    assert figures.net_amount == D(net)
    assert figures.status is status
    assert figures.calculation[-1].amount == figures.net_amount


def test_the_trace_names_each_violation_the_cap_the_forfeiture_and_each_adjustment() -> None:
    figures = net_from_gross(
        D("16000.00"),
        period_name="2026-Q2",
        currency="CNY",
        scorecard_template_code="SC",
        scorecard=SCORED,
        deductions=[
            Deduction("Price disruption on 2026-05-03", D("10")),
            Deduction("Cross-region sales on 2026-06-01", D("5")),
        ],
        cap=D("20000"),
        cap_used=D("8000"),
        adjustments=[Adjustment(D("-100"), "dispute D-1 accepted")],
    )
    assert formulas(figures.calculation).splitlines() == [
        "Scorecard: score 85.00 gives multiplier 0.9: CNY 16,000.00 × 0.9 = CNY 14,400.00",
        "Deduction: Price disruption on 2026-05-03: 10%",
        "Deduction: Cross-region sales on 2026-06-01: 5%",
        "Deductions: 10% + 5% = 15%; 15% of CNY 14,400.00 = CNY 2,160.00",
        "After deductions: CNY 14,400.00 − CNY 2,160.00 = CNY 12,240.00",
        "Cap: cap CNY 20,000.00 − CNY 8,000.00 already accrued in other periods = "
        "CNY 12,000.00 left; CNY 12,240.00 cut to CNY 12,000.00",
        "Adjustment: dispute D-1 accepted: −CNY 100.00",
        "Net: CNY 12,000.00 − CNY 100.00 = CNY 11,900.00",
    ]
    assert figures.cap_reduction == D("240.00")
    assert figures.deduction_percent == D("15")


def test_deductions_over_100_percent_are_capped_and_say_so() -> None:
    figures = net_from_gross(
        D("1000.00"),
        period_name="2026-Q1",
        currency="CNY",
        deductions=[Deduction("Price disruption", D("80")), Deduction("Counterfeit", D("40"))],
    )
    assert figures.deduction_percent == D("100")
    assert "80% + 40% = 120%, capped at 100%; 100% of CNY 1,000.00 = CNY 1,000.00" in formulas(
        figures.calculation
    )


def test_a_missing_scorecard_puts_the_accrual_on_hold_and_explains_why() -> None:
    figures = net_from_gross(D("500.00"), period_name="2026-Q3", currency="CNY",
                             scorecard_template_code="SC-2026")
    trace = formulas(figures.calculation)
    assert "no SC-2026 scorecard recorded for 2026-Q3" in trace
    assert str(figures.calculation[-1].label) == "Net (on hold until the scorecard is recorded)"


def test_a_forfeiture_names_its_violation_in_the_trace() -> None:
    figures = net_from_gross(
        D("500.00"), period_name="2026-Q3", currency="CNY",
        forfeitures=["Counterfeit goods on 2026-08-01 (V-9)"],
    )
    assert "Forfeited: Counterfeit goods on 2026-08-01 (V-9): CNY 500.00 → CNY 0.00" in formulas(
        figures.calculation
    )
